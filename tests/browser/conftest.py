"""Real Chromium (the system one, via Playwright) against a real server.

Every page opened through `open_dashboard` records the requests it makes; at the end of the
test each must have gone to the server under test (the page works with the network off).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import TOKEN, LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

OpenDashboard = Callable[..., Page]
# The WebSocket frames each page opened through `open_dashboard` received, as text.
FRAMES: weakref.WeakKeyDictionary[Page, list[str]] = weakref.WeakKeyDictionary()


# Module scope, not session: while Playwright's sync API is active, its event loop runs on the
# main thread, and asyncio-based tests in later modules could not start their own.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: run scripts/system-deps"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # CI installs it: a missing browser is a broken setup
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_dashboard(chromium: Browser) -> Iterator[OpenDashboard]:
    """open_dashboard(server, width=1280, height=800, dark=False) -> a live dashboard page."""
    contexts = []
    requests: list[tuple[str, str]] = []  # (url, origin the page was opened on)

    def open_(server: LiveServer, width: int = 1280, height: int = 800, dark: bool = False) -> Page:
        context = chromium.new_context(
            viewport={"width": width, "height": height},
            color_scheme="dark" if dark else "light",
            timezone_id="UTC",
            locale="en-US",
        )
        contexts.append(context)
        page = context.new_page()
        origin = server.url  # now: the server may be stopped when a request is seen
        page.on("request", lambda request: requests.append((request.url, origin)))
        page.on("websocket", lambda ws: requests.append((ws.url, origin)))
        frames = FRAMES.setdefault(page, [])
        page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(str(f))))
        page.goto(f"{server.url}/dashboard?token={TOKEN}")
        expect(page.locator("html")).to_have_attribute("data-connection", "live")
        return page

    yield open_
    for context in contexts:
        context.close()
    for url, origin in requests:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "ws"), f"the page loaded {url}"
        assert parts.netloc == urlsplit(origin).netloc, f"the page loaded {url} from elsewhere"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
