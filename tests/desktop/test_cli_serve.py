"""`task-dashboard serve` at start: the signed-in URL on the console (never in a log file),
the plain one beside it, and `--open` handing the signed-in one to the default browser."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app import discovery
from tests.waiting import until
from web.settings import HOME_ENV


class Served:
    def __init__(self, home: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        command = [sys.executable, "-m", "desktop_app", "serve", "--port", "0", *extra]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, HOME_ENV: str(home), **(env or {})},
            stdout=subprocess.PIPE,
            text=True,
        )

    def lines(self, count: int) -> list[str]:
        assert self.process.stdout is not None
        return [self.process.stdout.readline().rstrip("\n") for _ in range(count)]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(15) == 0
        assert self.process.stdout is not None
        self.process.stdout.close()

    def logged(self) -> str:
        return "".join(p.read_text() for p in (self.home / "logs").glob("*.log*"))


Serve = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """serve(*extra_args, env=None): `task-dashboard serve` in a process of its own."""
    started: list[Served] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> Served:
        served = Served(tmp_path / "home", *extra, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.stop()


def test_serve_prints_the_signed_in_url_beside_the_plain_one(serve: Serve) -> None:
    served = serve()
    instance = until(lambda: discovery.read(served.home / "instance.json"), 15, "instance.json")
    token = (served.home / "token").read_text().strip()
    first, dashboard, plain, data = served.lines(4)
    assert first == f"Task Dashboard 0.1.0 serving on {instance.url}"
    assert dashboard.split()[:2] == ["dashboard:", f"{instance.url}/dashboard?token={token}"]
    assert plain.split()[:2] == ["plain", "URL:"]
    assert plain.split()[2] == f"{instance.url}/dashboard"
    assert str(served.home / "token") in plain and "task-dashboard info" in plain
    assert data.split() == ["data:", str(served.home)]
    served.stop()
    assert "serving" in served.logged()  # the log file is written, without the token
    assert token not in served.logged()


def test_serve_open_hands_the_signed_in_url_to_the_browser(serve: Serve, tmp_path: Path):
    # A stand-in for the user's browser: webbrowser runs $BROWSER with the URL.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    browser.chmod(0o755)
    served = serve("--open", env={"BROWSER": str(browser)})
    instance = until(lambda: discovery.read(served.home / "instance.json"), 15, "instance.json")
    token = (served.home / "token").read_text().strip()
    assert served.lines(5)[4] == "Opened the dashboard in your default browser."
    assert opened.read_text() == f"{instance.url}/dashboard?token={token}\n"
    served.stop()
    assert token not in served.logged()


def test_serve_without_auth_prints_the_plain_url_only(serve: Serve) -> None:
    served = serve("--no-auth")
    instance = until(lambda: discovery.read(served.home / "instance.json"), 15, "instance.json")
    assert served.lines(3)[1:] == [
        f"  dashboard: {instance.url}/dashboard",
        f"  data:      {served.home}",
    ]
