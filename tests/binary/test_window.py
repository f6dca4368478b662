"""The windowed binary under Xvfb: the window loads the dashboard, and closing it exits
cleanly. Driven like tests/desktop/test_window.py, through the app's JSON-lines test hooks
(TASK_DASHBOARD_TEST_HOOKS=1), which the frozen build keeps."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app import discovery
from desktop_app.client import InstanceClient
from desktop_app.testhooks import ENV as HOOKS_ENV
from tests.binary.conftest import in_ci
from tests.desktop.test_window import App, require_gui, screenshot, wait_for_paint
from tests.waiting import until
from web.settings import HOME_ENV

pytestmark = [pytest.mark.binary, pytest.mark.window]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def app(binary: Path, home: Path, tmp_path: Path) -> Iterator[App]:
    # BROWSER: should the binary find no window backend, its fallback must not open one.
    env = {**os.environ, HOME_ENV: str(home), HOOKS_ENV: "1", "BROWSER": "true"}
    require_gui(env)  # this machine can open a window at all (else skip; in CI, fail)
    if in_ci() and not shutil.which("import"):
        pytest.fail("CI must save the screenshot: ImageMagick's `import` is missing")
    started = App(env, tmp_path / "binary.stderr", command=[str(binary)])
    yield started
    started.close()


def test_the_windowed_binary_loads_the_dashboard_and_closes_cleanly(app: App, home: Path) -> None:
    launched = time.monotonic()
    window = app.expect(lambda m: m.get("event") == "window", 20, "the window")
    assert window["gui"] == "gtk"  # the system WebKitGTK, reached from the bundle
    app.expect(lambda m: m.get("event") == "loaded", 20, "page load")
    print(f"\nbinary exec to page loaded: {time.monotonic() - launched:.2f} s")
    until(lambda: app.call("ws_clients") > 0, 10, "the page to connect to /ws")

    instance = discovery.read(home / "instance.json")
    assert instance is not None and instance.pid == app.proc.pid
    assert app.call("eval", js="document.title") == "Task Dashboard"
    name = f"binary test {uuid.uuid4().hex[:8]}"
    InstanceClient(instance.url, instance.token()).add(60, name)
    until(lambda: name in app.call("eval", js="document.body.innerText"), 10, "the new task")

    wait_for_paint(app)
    if shutil.which("import"):
        assert screenshot("binary-window.png").stat().st_size > 0

    app.call("close")
    assert app.proc.wait(15) == 0
    assert not (home / "instance.json").exists()
