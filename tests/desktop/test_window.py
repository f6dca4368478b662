"""The real thing: `python -m desktop_app` opens a pywebview window (under Xvfb in CI).

The app runs as a subprocess with the test hooks on (desktop_app/testhooks.py): it
announces when the page has loaded, evaluates JavaScript in the window for us, and closes
the window on request.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app import discovery
from desktop_app.client import InstanceClient
from desktop_app.testhooks import ENV as HOOKS_ENV
from tests.waiting import until
from web.settings import HOME_ENV
from web.store import Store
from web.tasks.model import Task

pytestmark = pytest.mark.window

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
Message = dict[str, Any]


def require_gui(env: dict[str, str]) -> None:
    """Skip where no window can open, but fail in CI: there the backend must be installed."""
    probe = subprocess.run(
        [sys.executable, "-c", "from desktop_app.window import find_gui; print(find_gui())"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "no GUI"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must be able to open a window: {reason}")
        pytest.skip(f"no window possible here: {reason}")


class App:
    """The app as a subprocess, driven through its JSON-lines test hooks."""

    def __init__(
        self, env: dict[str, str], stderr_path: Path, command: list[str] | None = None
    ) -> None:
        self._stderr = stderr_path.open("w")
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "desktop_app"],  # tests/binary: the binary
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self._messages: queue.Queue[Message] = queue.Queue()
        self._ids = itertools.count(1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._messages.put(json.loads(line))

    def expect(self, matches: Callable[[Message], bool], timeout: float, what: str) -> Message:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self._messages.get(timeout=left)
            except queue.Empty:
                break
            if matches(message):
                return message
        raise AssertionError(f"no {what} within {timeout} s (exit code {self.proc.poll()})")

    def call(self, cmd: str, timeout: float = 10, **args: object) -> Any:
        assert self.proc.stdin is not None
        request_id = next(self._ids)
        self.proc.stdin.write(json.dumps({"id": request_id, "cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        answer = self.expect(lambda m: m.get("id") == request_id, timeout, f"answer to {cmd}")
        assert "error" not in answer, answer["error"]
        return answer["result"]

    def close(self) -> None:
        """End our own process if a test left it running, then release its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()
        self._stderr.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app_env(home: Path) -> dict[str, str]:
    env = {**os.environ, HOME_ENV: str(home), HOOKS_ENV: "1"}
    require_gui(env)
    return env


@pytest.fixture
def app(app_env: dict[str, str], tmp_path: Path) -> Iterator[App]:
    started = App(app_env, tmp_path / "app.stderr")
    yield started
    started.close()


def wait_for_paint(app: App) -> None:
    """The DOM can be ahead of the pixels: wait until two frames have been drawn since."""
    app.call(
        "eval",
        js="window.__painted = 0; requestAnimationFrame(() => "
        "requestAnimationFrame(() => { window.__painted = 1; })); 0",
    )
    until(lambda: app.call("eval", js="window.__painted"), 5, "the window to paint")


def only_saved_task(home: Path) -> Task:
    """The one task in the data dir's database, read after the app has exited."""
    store = Store.open(home / "tasks.db")
    try:
        [(_, saved)] = store.load_all()
    finally:
        store.close()
    return saved


def screenshot(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    subprocess.run(["import", "-window", "root", str(path)], check=True, timeout=30)
    return path


def test_the_window_shows_live_tasks_and_closes_cleanly(app: App, home: Path) -> None:
    started = time.monotonic()
    app.expect(lambda m: m.get("event") == "loaded", 20, "page load")
    loaded_after = time.monotonic() - started
    until(lambda: app.call("ws_clients") > 0, 10, "the page to connect to /ws")
    print(f"\nlaunch to page loaded: {loaded_after:.2f} s")

    instance = discovery.read(home / "instance.json")
    assert instance is not None and instance.pid == app.proc.pid
    name = f"window test {uuid.uuid4().hex[:8]}"
    task = InstanceClient(instance.url, instance.token()).add(60, name)

    # The page was loaded before the task existed: it can only show it through /ws.
    # Its row where the page marks rows with data-task-id, else anywhere on the page.
    row = json.dumps(f'[data-task-id="{task["task_id"]}"]')
    text = f"(document.querySelector({row}) || document.body).innerText"
    until(lambda: name in app.call("eval", js=text), 10, "the task to appear in the window")

    wait_for_paint(app)
    if shutil.which("import"):
        assert screenshot("desktop-window.png").stat().st_size > 0

    app.call("close")
    assert app.proc.wait(15) == 0

    assert not (home / "instance.json").exists()
    saved = only_saved_task(home)
    assert (saved.task_id, saved.name, saved.status) == (task["task_id"], name, "interrupted")
    log = (home / "logs" / "task-dashboard.log").read_text()
    assert "closing the window with 1 running task(s)" in log


def test_a_second_launch_opens_a_window_on_the_first_engine(
    app: App, app_env: dict[str, str], home: Path, tmp_path: Path
) -> None:
    app.expect(lambda m: m.get("event") == "loaded", 20, "page load")
    first = discovery.read(home / "instance.json")
    assert first is not None

    second = App(app_env, tmp_path / "second.stderr")
    try:
        loaded = second.expect(lambda m: m.get("event") == "loaded", 20, "second page load")
        assert loaded["url"].startswith(f"{first.url}/dashboard")
        assert discovery.read(home / "instance.json") == first  # still the first engine
        second.call("close")
        assert second.proc.wait(15) == 0
    finally:
        second.close()
    # Closing the second window left the first engine serving.
    assert app.call("ws_clients") >= 1
    app.call("close")
    assert app.proc.wait(15) == 0


def test_sigterm_shuts_the_window_down_cleanly(app: App, home: Path) -> None:
    """A logout or `kill` sends SIGTERM: the same clean shutdown as closing the window."""
    app.expect(lambda m: m.get("event") == "loaded", 20, "page load")
    instance = discovery.read(home / "instance.json")
    assert instance is not None
    task = InstanceClient(instance.url, instance.token()).add(60, "running at SIGTERM")
    app.proc.send_signal(signal.SIGTERM)
    assert app.proc.wait(15) == 0
    assert not (home / "instance.json").exists()
    saved = only_saved_task(home)
    assert (saved.task_id, saved.status) == (task["task_id"], "interrupted")
