"""A newcomer's first minute in Chromium: the plain URL, the sign-in page, then the dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import TOKEN, LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(params=["light", "dark"])
def scheme(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fresh_page(chromium: Browser, scheme: str) -> Iterator[Page]:
    """A browser that has never signed in: no cookie, no token."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme=scheme, locale="en-US"
    )
    yield context.new_page()
    context.close()


def test_plain_url_then_a_wrong_then_the_right_token(
    live_server: LiveServer, fresh_page: Page, scheme: str, artifacts: Path
) -> None:
    with live_server.client() as http:
        assert http.post("/tasks/add", json={"duration": 600, "name": "Nightly"}).status_code == 201
    page = fresh_page
    response = page.goto(f"{live_server.url}/dashboard")
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", name="Sign in to Task Dashboard")).to_be_visible()
    expect(page.get_by_text("task-dashboard info")).to_be_visible()
    expect(page.locator("[data-token-path]")).to_have_text(str(live_server.settings.token_path))
    card = page.locator("main").bounding_box()
    assert card is not None and card["width"] == 420  # styled by the app's own stylesheet
    expect(page.get_by_text("Nightly")).to_have_count(0)

    page.get_by_label("Token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not this server's token")
    expect(page.get_by_label("Token")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=artifacts / f"signin-wrong-token-{scheme}.png")

    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/dashboard")
    expect(page.locator("html")).to_have_attribute("data-connection", "live")
    expect(page.locator("#task-rows [role=row]", has_text="Nightly")).to_be_visible()
    cookies = page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [
        ("task_dashboard_token", True, "Strict")
    ]


@pytest.mark.parametrize("scheme", ["light"])
def test_signing_in_goes_on_to_the_page_asked_for(live_server: LiveServer, fresh_page: Page):
    page = fresh_page
    page.goto(f"{live_server.url}/docs")
    page.get_by_label("Token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/docs")
