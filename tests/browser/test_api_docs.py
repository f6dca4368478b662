"""/docs in a real Chromium: Swagger UI served by the app itself, under its CSP, offline."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import TOKEN, LiveServer

pytestmark = pytest.mark.browser


def test_api_docs_render_with_nothing_from_elsewhere(
    chromium: Browser, live_server: LiveServer
) -> None:
    context = chromium.new_context()
    page = context.new_page()
    loaded: list[str] = []
    refused: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{live_server.url}/dashboard?token={TOKEN}")  # signs in (cookie)
    page.goto(f"{live_server.url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/tasks/add")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/tasks/{task_id}/logs")).to_be_visible()
    context.close()
    assert not refused, refused
    for url in loaded:
        assert urlsplit(url).netloc == urlsplit(live_server.url).netloc, f"loaded {url}"
