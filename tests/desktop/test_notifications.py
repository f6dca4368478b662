"""Native notifications over a real D-Bus: a private session bus started here, and on it a
notification daemon (tests/desktop/notification_server.py) that records each Notify call
and clicks on request, as dunst or GNOME Shell would do for a user.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop_app import discovery
from desktop_app.client import InstanceClient
from desktop_app.hosting import hosted_engine
from desktop_app.notifications import APP_NAME, DesktopNotices
from tests.desktop.test_window import App, require_gui
from tests.waiting import until
from web.settings import HOME_ENV, Settings

DAEMON = Path(__file__).with_name("notification_server.py")
FAILING = {"command": ["false"]}
BUS_ENV = "DBUS_SESSION_BUS_ADDRESS"


class Lines:
    """A child process's stdout, one JSON object per line, read on a thread of its own."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._lines.put(json.loads(line))

    def next(self, timeout: float = 15) -> dict[str, Any]:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing from {self.proc.args} within {timeout} s") from None

    def end(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self._reader.join(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


class Daemon(Lines):
    def next_notification(self) -> dict[str, Any]:
        message = self.next()
        assert "summary" in message, message
        return message

    def click(self, notification_id: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"click": notification_id}) + "\n")
        self.proc.stdin.flush()
        assert self.next() == {"clicked": notification_id}

    def click_until(self, notification_id: int, seen: Callable[[], bool]) -> None:
        """Click until the app shows it heard (`seen`). desktop-notifier maps a click to its
        notice only once its send() has returned, a moment after the daemon showed it: a
        click in that moment is dropped. No person clicks that fast; a test does."""
        deadline = time.monotonic() + 15
        while True:
            self.click(notification_id)
            try:
                until(seen, 2, "the click to be heard")
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise


@pytest.fixture
def session_bus(tmp_path: Path) -> Iterator[str]:
    """The address of a private D-Bus session bus, for this test alone."""
    if shutil.which("dbus-daemon") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dbus-daemon is missing: run scripts/system-deps")
        pytest.skip("dbus-daemon is missing (apt-get install dbus)")
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()  # printed once it listens
        assert address.startswith("unix:"), address
        yield address
    finally:
        bus.terminate()
        bus.wait(10)
        if bus.stdout is not None:
            bus.stdout.close()


@pytest.fixture
def daemon(session_bus: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A notification daemon on the private bus, which this process now uses."""
    monkeypatch.setenv(BUS_ENV, session_bus)
    proc = subprocess.Popen(
        [sys.executable, str(DAEMON)],
        env={**os.environ, BUS_ENV: session_bus},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    started = Daemon(proc)
    try:
        assert started.next() == {"ready": True}
        yield started
    finally:
        started.end()


@pytest.fixture
def clicks() -> queue.Queue[str]:
    return queue.Queue()


def desktop_engine(notices: DesktopNotices) -> Any:
    """The desktop app's engine with its notifications: everything but the window."""
    return hosted_engine(Settings(port=0), notices=notices)


def client_of(hosted: Any) -> InstanceClient:
    return InstanceClient(hosted.instance.url, hosted.instance.token())


def test_a_failed_task_reaches_the_daemon_and_a_click_comes_back(
    daemon: Daemon, clicks: queue.Queue[str]
) -> None:
    with DesktopNotices(on_click=clicks.put) as notices, desktop_engine(notices) as hosted:
        client = client_of(hosted)
        client.settings(notify_min_seconds=0)
        task = client.add_task("command", FAILING, "nightly backup")

        shown = daemon.next_notification()
        assert shown["app_name"] == APP_NAME
        assert shown["summary"] == "nightly backup failed"
        assert shown["body"].startswith("Failed after ")
        assert "default" in shown["actions"]  # clicking the body is an action it offers

        daemon.click_until(shown["id"], lambda: not clicks.empty())
        assert clicks.get_nowait() == task["task_id"]


def test_the_daemon_gets_only_what_the_settings_ask_for(
    daemon: Daemon, clicks: queue.Queue[str]
) -> None:
    with DesktopNotices(on_click=clicks.put) as notices, desktop_engine(notices) as hosted:
        client = client_of(hosted)
        client.settings(notify="failures", notify_min_seconds=0)
        completed = client.add(0.05, "quick timer")
        until(lambda: client.task(completed["task_id"])["status"] == "completed", 15, "the timer")
        client.add_task("command", FAILING, "marker")
        # Told in order: the completed timer would have come first.
        assert daemon.next_notification()["summary"] == "marker failed"


@pytest.mark.parametrize("service", ["no session bus", "a bus without a daemon"])
def test_without_a_notification_service_one_log_line_and_the_app_works(
    service: str,
    session_bus: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    clicks: queue.Queue[str],
) -> None:
    if service == "no session bus":
        monkeypatch.delenv(BUS_ENV, raising=False)
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)  # where a default bus would be
    else:
        monkeypatch.setenv(BUS_ENV, session_bus)
    caplog.set_level(logging.INFO)
    with DesktopNotices(on_click=clicks.put) as notices:
        with desktop_engine(notices) as hosted:
            client = client_of(hosted)
            client.settings(notify_min_seconds=0)
            ids = [client.add_task("command", FAILING, f"task {i}")["task_id"] for i in range(2)]
            for task_id in ids:
                until(lambda i=task_id: client.task(i)["status"] == "failed", 15, "the failure")
            assert client.status()["total"] == 2  # the app goes on answering
        notices.close()  # waits for what was still being sent
    said = [r for r in caplog.records if r.name.startswith(("desktop_app.notif", "desktop_notif"))]
    assert [r.getMessage().split(":")[0] for r in said] == ["desktop notifications are off"]
    assert said[0].levelno == logging.INFO


@pytest.mark.window
def test_clicking_a_notification_shows_the_task_in_the_window(
    daemon: Daemon, session_bus: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        HOME_ENV: str(home),
        "TASK_DASHBOARD_TEST_HOOKS": "1",
        BUS_ENV: session_bus,
    }
    require_gui(env)
    app = App(env, tmp_path / "app.stderr")
    try:
        app.expect(lambda m: m.get("event") == "loaded", 20, "page load")
        # The page knows it is in the app's window, and leaves notifying to the app.
        until(lambda: app.call("eval", js="'pywebview' in window"), 10, "pywebview's bridge")
        instance = discovery.read(home / "instance.json")
        assert instance is not None
        client = InstanceClient(instance.url, instance.token())
        client.settings(notify_min_seconds=0)
        task = client.add_task("command", FAILING, "from the window")

        shown = daemon.next_notification()
        assert shown["summary"] == "from the window failed"
        daemon.click_until(
            shown["id"],
            lambda: app.call("eval", js="location.hash") == f"#task/{task['task_id']}",
        )
        assert app.call("eval", js="location.pathname") == "/dashboard"
        app.call("close")
        assert app.proc.wait(15) == 0
    finally:
        app.close()
    log = (home / "logs" / "task-dashboard.log").read_text()
    assert f"notification clicked: showing task {task['task_id']}" in log
