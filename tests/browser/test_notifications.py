"""Web notifications in a browser tab (real Chromium), as the notify settings say.

An init script wraps window.Notification so the test sees each notification the page makes
(and each permission request) while the real one still runs; Playwright grants or withholds
the permission as a user would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import TOKEN, LiveServer
from tests.waiting import task_in, until

pytestmark = pytest.mark.browser

FAILING = {"kind": "command", "command": ["false"]}
RECORD = """
window.__shown = [];
window.__asked = 0;
const Real = window.Notification;
class Recorded extends Real {
  constructor(title, options) {
    super(title, options);
    window.__shown.push({ title, body: options?.body, tag: options?.tag, made: this });
  }
  static get permission() { return Real.permission; }
  static requestPermission(...args) {
    window.__asked += 1;
    return Real.requestPermission(...args);
  }
}
window.Notification = Recorded;
"""
SHOWN = "window.__shown.map(({ title, body, tag }) => ({ title, body, tag }))"
OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(chromium: Browser, live_server: LiveServer) -> Iterator[OpenPage]:
    """open_page(granted=True, desktop=False): the dashboard with notifications recorded;
    `desktop` makes it look like the desktop app's window (pywebview's bridge)."""
    contexts: list[BrowserContext] = []

    def open_(granted: bool = True, desktop: bool = False) -> Page:
        # Not granted: left unasked ("default"), as in a fresh browser profile.
        context = chromium.new_context(**({"permissions": ["notifications"]} if granted else {}))
        contexts.append(context)
        context.add_init_script(RECORD + ("window.pywebview = {};" if desktop else ""))
        page = context.new_page()
        page.goto(f"{live_server.url}/dashboard?token={TOKEN}")
        expect(page.locator("html")).to_have_attribute("data-connection", "live")
        return page

    yield open_
    for context in contexts:
        context.close()


def ended(http: httpx.Client, body: dict) -> dict:
    task = http.post("/tasks/add", json=body).json()
    return task_in(http, task["task_id"], "completed", "failed", "cancelled")


def shown_more_than(page: Page, count: int) -> None:
    # A deadline poll from here: wait_for_function's predicate is compiled inside the page,
    # which its Content-Security-Policy forbids (no 'unsafe-eval').
    until(lambda: page.evaluate("window.__shown.length") > count, 10, "a notification")


def shown_once(page: Page) -> dict:
    shown_more_than(page, 0)
    [notification] = page.evaluate(SHOWN)
    return notification


def test_a_failed_task_shows_a_notification_and_a_click_opens_it(
    open_page: OpenPage, http: httpx.Client
) -> None:
    http.put("/settings", json={"notify_min_seconds": 0}).raise_for_status()
    page = open_page()
    task = ended(http, {**FAILING, "name": "nightly backup"})

    notification = shown_once(page)
    assert notification["title"] == "nightly backup failed"
    assert notification["body"].startswith("Failed after ")
    assert task["error"] in notification["body"]
    assert notification["tag"] == task["task_id"]  # several tabs show it once

    page.evaluate("window.__shown[0].made.dispatchEvent(new Event('click'))")
    expect(page).to_have_url(f"{page.url.split('#')[0]}#task/{task['task_id']}")


def test_the_settings_decide_which_ends_are_told(open_page: OpenPage, http: httpx.Client) -> None:
    http.put("/settings", json={"notify": "failures", "notify_min_seconds": 0}).raise_for_status()
    page = open_page()
    ended(http, {"duration": 0.05, "name": "quick timer"})
    marker = ended(http, {**FAILING, "name": "marker"})
    assert shown_once(page)["tag"] == marker["task_id"]

    http.put("/settings", json={"notify": "all", "notify_min_seconds": 3600}).raise_for_status()
    ended(http, FAILING)  # far shorter than the minimum
    http.put("/settings", json={"notify": "never"}).raise_for_status()
    ended(http, FAILING)
    http.put("/settings", json={"notify": "all", "notify_min_seconds": 0}).raise_for_status()
    last = ended(http, {**FAILING, "name": "last"})
    shown_more_than(page, 1)
    assert [n["tag"] for n in page.evaluate(SHOWN)] == [marker["task_id"], last["task_id"]]


def test_permission_is_asked_only_when_the_user_turns_them_on(
    open_page: OpenPage, http: httpx.Client
) -> None:
    http.put("/settings", json={"notify": "never"}).raise_for_status()
    page = open_page(granted=False)
    assert page.evaluate("window.__asked") == 0
    page.locator("#open-notify").click()
    dialog = page.locator("#notify-dialog")
    expect(dialog.get_by_label("Tell me")).to_have_value("never")
    dialog.get_by_label("Tell me").select_option("failures")
    dialog.get_by_label("Of tasks that ran at least").fill("2m")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.__asked") == 1
    settings = http.get("/settings").json()
    assert (settings["notify"], settings["notify_min_seconds"]) == ("failures", 120)


def test_a_bad_minimum_is_explained_in_the_panel(open_page: OpenPage, http: httpx.Client) -> None:
    page = open_page()
    page.locator("#open-notify").click()
    dialog = page.locator("#notify-dialog")
    expect(dialog.get_by_text("This browser shows them")).to_be_visible()
    dialog.get_by_label("Of tasks that ran at least").fill("soon")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Enter a duration")
    assert http.get("/settings").json()["notify_min_seconds"] == 10


def test_the_desktop_window_leaves_it_to_the_app(open_page: OpenPage, http: httpx.Client) -> None:
    http.put("/settings", json={"notify_min_seconds": 0}).raise_for_status()
    page = open_page(desktop=True)
    task = ended(http, FAILING)
    expect(page.locator(f'[data-task-id="{task["task_id"]}"]')).to_contain_text("Failed")
    page.locator("#open-notify").click()
    expect(page.get_by_text("Shown by your desktop's notification service.")).to_be_visible()
    assert page.evaluate(SHOWN) == []
