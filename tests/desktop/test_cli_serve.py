"""`task-dashboard serve` at start: on a terminal the signed-in URL beside the plain one,
never the token in a log file or redirected output, and `--open` handing the signed-in URL
to the default browser."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from desktop_app import discovery
from desktop_app.discovery import Instance
from tests.waiting import until
from web.settings import HOME_ENV


class Served:
    """`task-dashboard serve` in a process of its own, its output on a terminal (a pty, as
    when a person runs it) or in a file (as when a service manager does)."""

    def __init__(self, home: Path, *extra: str, tty: bool, env: dict[str, str]) -> None:
        self.home = home
        self.out_path = home.parent / "serve.out"
        command = [sys.executable, "-m", "desktop_app", "serve", "--port", "0", *extra]
        if tty:
            self.terminal, out = pty.openpty()
        else:
            self.terminal, out = None, os.open(self.out_path, os.O_WRONLY | os.O_CREAT, 0o600)
        self.process = subprocess.Popen(
            command, env={**os.environ, HOME_ENV: str(home), **env}, stdout=out
        )
        os.close(out)
        self.output = ""

    def instance(self) -> Instance:
        return until(lambda: discovery.read(self.home / "instance.json"), 15, "instance.json")

    def lines(self, count: int, timeout: float = 15) -> list[str]:
        """The first `count` lines it printed to the terminal."""
        assert self.terminal is not None
        deadline = time.monotonic() + timeout
        while self.output.count("\n") < count:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out waiting for {count} lines; got {self.output!r}"
            if select.select([self.terminal], [], [], left)[0]:
                self.output += os.read(self.terminal, 4096).decode().replace("\r\n", "\n")
        return self.output.split("\n")[:count]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(15) == 0
        if self.terminal is not None:
            os.close(self.terminal)
            self.terminal = None

    def logged(self) -> str:
        """Every file it wrote its log or output to."""
        files = [*(self.home / "logs").glob("*.log*"), self.out_path]
        return "".join(p.read_text() for p in files if p.exists())


Serve = Callable[..., Served]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """serve(*extra_args, tty=True, env={}) starts `task-dashboard serve`."""
    started: list[Served] = []

    def start(*extra: str, tty: bool = True, env: dict[str, str] | None = None) -> Served:
        served = Served(tmp_path / "home", *extra, tty=tty, env=env or {})
        started.append(served)
        return served

    yield start
    for served in started:
        if served.process.poll() is None:
            served.stop()


def test_serve_prints_the_signed_in_url_beside_the_plain_one(serve: Serve) -> None:
    served = serve()
    instance = served.instance()
    token = (served.home / "token").read_text().strip()
    first, dashboard, plain, data = served.lines(4)
    assert first == f"Task Dashboard 0.1.0 serving on {instance.url}"
    assert dashboard.split()[:2] == ["dashboard:", f"{instance.url}/dashboard?token={token}"]
    assert plain.split()[:3] == ["plain", "URL:", f"{instance.url}/dashboard"]
    assert str(served.home / "token") in plain and "task-dashboard info" in plain
    assert data.split() == ["data:", str(served.home)]
    served.stop()
    assert "serving" in served.logged()  # the log file is written, without the token
    assert token not in served.logged()


def test_output_that_is_not_a_terminal_gets_the_plain_url_only(serve: Serve) -> None:
    served = serve(tty=False)
    instance = served.instance()
    token = (served.home / "token").read_text().strip()
    served.stop()
    lines = served.out_path.read_text().splitlines()
    assert lines[1].split()[:2] == ["dashboard:", f"{instance.url}/dashboard"]
    assert "task-dashboard info" in lines[1]
    assert token not in served.logged()


def test_serve_open_hands_the_signed_in_url_to_the_browser(serve: Serve, tmp_path: Path):
    # A stand-in for the user's browser: webbrowser runs $BROWSER with the URL.
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    browser.chmod(0o755)
    served = serve("--open", env={"BROWSER": str(browser)})
    instance = served.instance()
    token = (served.home / "token").read_text().strip()
    assert served.lines(5)[4] == "Opened the dashboard in your default browser."
    assert opened.read_text() == f"{instance.url}/dashboard?token={token}\n"
    served.stop()
    assert token not in served.logged()


def test_serve_without_auth_prints_the_plain_url_only(serve: Serve) -> None:
    served = serve("--no-auth")
    instance = served.instance()
    assert served.lines(3)[1:] == [
        f"  dashboard: {instance.url}/dashboard",
        f"  data:      {served.home}",
    ]
