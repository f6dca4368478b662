"""The dashboard in a real Chromium: adding, watching, cancelling, reconnecting, escaping."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import FRAMES, OpenDashboard
from tests.browser.seed import seed_history
from tests.conftest import TOKEN, LiveServer
from tests.waiting import until
from web.settings import Settings

pytestmark = pytest.mark.browser


def rows(page: Page) -> Locator:
    return page.locator("#task-rows [role=row]")


def row_named(page: Page, name: str) -> Locator:
    return rows(page).filter(
        has=page.locator("[data-part=name]", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def status_of(row: Locator) -> Locator:
    return row.locator("[data-part=badgeLabel]")


LATE = "task x is already completed"


def refuse(page: Page, url_glob: str) -> None:
    """Stand in for the race where the task finishes just before the click lands."""
    page.route(url_glob, lambda route: route.fulfill(status=409, json={"detail": LATE}))


def expect_refusal_toast(page: Page, title: str) -> None:
    toast = page.locator("#toasts [role=alert]")
    expect(toast).to_contain_text(title)
    expect(toast).to_contain_text(LATE)


def test_add_from_form_then_cancel_from_row(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    page.locator("#duration").fill("1m")
    page.locator("#name").fill("From the form")
    page.get_by_role("button", name="Add task").click()

    row = row_named(page, "From the form")
    expect(status_of(row)).to_have_text("Running")
    meter = row.get_by_role("progressbar")
    expect(meter).to_have_attribute("aria-valuenow", re.compile(r"^[0-9]+$"))
    before = meter.get_attribute("aria-valuenow")
    expect(meter).not_to_have_attribute("aria-valuenow", before or "")  # the bar moves
    expect(row.locator("[data-part=note]")).to_have_text(re.compile(r"^0:5\d left$"))

    row.get_by_role("button", name="Cancel From the form").click()
    expect(status_of(row)).to_have_text("Cancelled")
    expect(row.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    task_id = row.get_attribute("data-task-id")
    with live_server.client() as client:
        assert client.get(f"/tasks/{task_id}").json()["status"] == "cancelled"


def test_form_explains_a_bad_duration(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    page.locator("#duration").fill("soon")
    expect(page.locator("#duration-hint")).to_have_text("Try 90, 1m30s, 2h or 1:30")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a duration")
    expect(page.locator("#duration")).to_have_attribute("aria-invalid", "true")
    page.locator("#duration").fill("8d")  # over the 7-day limit
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert")).to_contain_text("at most 7 days")
    expect(rows(page)).to_have_count(0)


def test_task_added_with_the_api_appears_without_reload(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    expect(page.locator("#empty")).to_contain_text("No tasks yet")
    with live_server.client() as client:
        client.post("/tasks/add", json={"duration": 300, "name": "From a script"})
    expect(status_of(row_named(page, "From a script"))).to_have_text("Running")
    expect(page.locator("#empty")).to_be_hidden()
    expect(page.locator("[data-status=running] [data-count]")).to_have_text("1")


def test_a_burst_of_changes_arrives_batched_and_all_shows(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    hub = live_server.thread.app.state.hub  # type: ignore[union-attr]
    [subscription] = hub._subscribers
    until(lambda: subscription.batch_seconds > 0, what="the page to ask for batches")
    with live_server.client() as client:
        client.post("/queue/pause")
        for i in range(5):
            client.post("/tasks/add", json={"duration": 300, "name": f"Burst {i}"})
        expect(page.locator("[data-status=queued] [data-count]")).to_have_text("5")
        client.post("/queue/resume")  # six changes at once: one batch
    for i in range(5):
        expect(status_of(row_named(page, f"Burst {i}"))).to_have_text("Running")
    expect(page.locator("[data-status=running] [data-count]")).to_have_text("5")
    assert any(f.startswith('{"type":"batch"') for f in FRAMES[page]), "it came as a batch"


def test_paused_and_resumed_tasks_follow_the_server(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    with live_server.client() as client:
        task = client.post("/tasks/add", json={"duration": 300, "name": "Napper"}).json()
        row = row_named(page, "Napper")
        expect(status_of(row)).to_have_text("Running")
        client.post(f"/tasks/{task['task_id']}/pause")
        expect(status_of(row)).to_have_text("Paused")
        expect(row.get_by_role("button", name="Cancel Napper")).to_be_visible()
        client.post(f"/tasks/{task['task_id']}/resume")  # paused -> queued -> running
        expect(status_of(row)).to_have_text("Running")


def test_refused_cancel_shows_a_toast(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    with live_server.client() as client:
        client.post("/tasks/add", json={"duration": 300, "name": "Stubborn"})
    row = row_named(page, "Stubborn")
    expect(status_of(row)).to_have_text("Running")
    refuse(page, "**/tasks/cancel")
    row.get_by_role("button", name="Cancel Stubborn").click()
    expect_refusal_toast(page, "Could not cancel")
    expect(status_of(row)).to_have_text("Running")  # the row still tells the truth


def test_reconnects_after_a_restart_and_shows_the_truth(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    with live_server.client() as client:
        client.post("/tasks/add", json={"duration": 600, "name": "Survivor"})
    expect(status_of(row_named(page, "Survivor"))).to_have_text("Running")

    port = live_server.port
    live_server.stop()
    expect(page.locator("html")).to_have_attribute("data-connection", "reconnecting")
    expect(page.locator("#connection")).to_contain_text("Reconnecting")
    expect(page.locator("#connection-banner")).to_be_visible()

    live_server.start(port)
    with live_server.client() as client:
        client.post("/tasks/add", json={"duration": 600, "name": "Born while away"})
    html = page.locator("html")
    expect(html).to_have_attribute("data-connection", "live", timeout=15_000)
    expect(status_of(row_named(page, "Survivor"))).to_have_text("Interrupted")
    expect(status_of(row_named(page, "Born while away"))).to_have_text("Running")
    expect(rows(page)).to_have_count(2)  # no duplicates, nothing stale
    expect(page.locator("#connection-banner")).to_be_hidden()


def test_hostile_names_are_shown_as_text(live_server: LiveServer, open_dashboard: OpenDashboard):
    hostile = '<img src=x onerror="window.__pwned=1">'
    page = open_dashboard(live_server)
    with live_server.client() as client:
        client.post("/tasks/add", json={"duration": 300, "name": hostile})
    expect(row_named(page, hostile)).to_have_count(1)
    expect(page.locator("#task-rows img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_clear_finished_removes_history(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    with live_server.client() as client:
        done = client.post("/tasks/add", json={"duration": 300, "name": "Old news"}).json()
        client.post("/tasks/cancel", json={"task_id": done["task_id"]})
        client.post("/tasks/add", json={"duration": 300, "name": "Still going"})
    expect(status_of(row_named(page, "Old news"))).to_have_text("Cancelled")
    page.get_by_role("button", name="Clear finished").click()
    expect(page.locator("#toasts")).to_contain_text("Removed 1 finished task")
    expect(rows(page)).to_have_count(1)
    expect(row_named(page, "Still going")).to_have_count(1)
    expect(page.get_by_role("button", name="Clear finished")).to_be_disabled()


def test_api_panel_commands_work_as_pasted(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="API").click()
    dialog = page.get_by_role("dialog", name="Use the API")
    expect(dialog).to_contain_text(live_server.url)
    expect(dialog).not_to_contain_text(TOKEN)  # hidden until asked for
    dialog.get_by_role("button", name="Show or hide the token").click()
    expect(dialog.locator("[data-token]")).to_have_text(TOKEN)

    dialog.locator("figure", has_text="Add a task").get_by_role("button", name="Copy").click()
    expect(page.locator("#toasts")).to_contain_text("Copied")
    command = page.evaluate("navigator.clipboard.readText()")
    assert TOKEN in command and live_server.url in command
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=10)
    expect(row_named(page, "backup")).to_have_count(1)


def test_duration_parsing(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    parsed = page.evaluate(
        """async (texts) => {
            const { parseDuration } = await import("/static/js/format.js");
            return texts.map(parseDuration);
        }""",
        ["90", "1m30s", "1m 30", "2h", "1:30", "1:02:03", "1.5", "500ms", "10 20", "soon", ""],
    )
    assert parsed == [90, 90, 90, 7200, 90, 3723, 1.5, 0.5, None, None, None]


@pytest.fixture
def big_server(settings: Settings) -> Iterator[LiveServer]:
    seed_history(settings.db_path, 10_000)
    server = LiveServer(settings).start()
    yield server
    server.stop()


def test_ten_thousand_tasks(big_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(big_server)
    expect(page.locator("[data-status=all] [data-count]")).to_have_text("10,000")
    expect(row_named(page, "Sync mailbox #9999")).to_have_count(1)  # newest first
    assert rows(page).count() < 100  # only what is visible is in the DOM

    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    expect(row_named(page, "Nightly backup #0")).to_have_count(1)  # the oldest, at the bottom

    page.locator("#search").fill("resize images #4242")
    expect(rows(page)).to_have_count(1)
    page.locator("#search").fill("")
    page.get_by_role("tab", name=re.compile("^Failed")).click()
    expect(page.locator("[data-status=failed] [data-count]")).to_have_text("1,667")
    expect(status_of(rows(page).first)).to_have_text("Failed")

    with big_server.client() as client:  # live updates still land on top
        client.post("/tasks/add", json={"duration": 300, "name": "Fresh one"})
    page.get_by_role("tab", name=re.compile("^All")).click()
    expect(status_of(row_named(page, "Fresh one"))).to_have_text("Running")


def test_screenshots(settings: Settings, open_dashboard: OpenDashboard, artifacts: Path):
    """Light, dark and narrow views of a lived-in dashboard, for people to look at."""
    seed_history(settings.db_path, 14)
    server = LiveServer(settings).start()
    try:
        with server.client() as client:
            for duration, name in [
                (15, "Warm the cache"),
                (900, "Transcode lecture 12.mp4"),
                (3600, "Re-index search"),
                (120, ""),
            ]:
                client.post("/tasks/add", json={"duration": duration, "name": name})
            client.post("/tasks/add", json={"duration": 60, "name": "Send digest", "delay": 600})
        views = [("light", 1280, False), ("dark", 1280, True), ("narrow", 400, False)]
        for name, width, dark in views:
            page = open_dashboard(server, width=width, height=900, dark=dark)
            warm = row_named(page, "Warm the cache")
            expect(status_of(warm)).to_have_text("Running")
            # A bar well on its way shows what the page is for.
            expect(warm.get_by_role("progressbar")).to_have_attribute(
                "aria-valuenow", re.compile(r"^[3-9]\d$")
            )
            path = artifacts / f"dashboard-{name}.png"
            page.screenshot(path=path)
            assert path.stat().st_size > 10_000
    finally:
        server.stop()
