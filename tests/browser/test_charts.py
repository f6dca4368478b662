"""The charts view in a real Chromium: drawn from GET /stats, moved by the WebSocket's
deltas when tasks start and end (read from the charts' own data and the page, never from
pixels), filtered, readable at 420 px in the dark theme; and the list's Export menu."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.test_detail import add
from tests.conftest import LiveServer
from tests.waiting import task_in

pytestmark = pytest.mark.browser


def open_charts(page: Page, server: LiveServer) -> list[str]:
    """The charts view, drawn; returns the list GET /stats calls are recorded in from now on."""
    calls: list[str] = []
    page.on("request", lambda request: "/stats?" in request.url and calls.append(request.url))
    page.get_by_role("link", name="Charts").click()
    expect(page.locator("#charts-view")).to_be_visible()
    expect(page.locator("[data-chart=throughput] .uplot canvas")).to_have_count(1)
    expect(page.locator("[data-chart=durations] .uplot canvas")).to_have_count(1)
    return calls


def plotted(page: Page, chart: str) -> list[list[float]]:
    """The data the chart draws (uPlot's own arrays: x first, then each series)."""
    return page.evaluate(f"document.querySelector('[data-chart={chart}]').plot.data")


def total(page: Page, key: str):
    return page.locator(f"[data-total={key}]")


def test_charts_show_the_history_and_move_when_a_task_ends(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    done = add(live_server, duration=0.05, name="warm-up")
    with live_server.client() as client:
        task_in(client, done["task_id"], "completed")
    page = open_dashboard(live_server)
    calls = open_charts(page, live_server)
    expect(total(page, "started")).to_have_text("1")
    expect(total(page, "completed")).to_have_text("1")
    assert len(calls) == 1 and "range=day" in calls[0]
    times, started, completed, failed = plotted(page, "throughput")
    assert len(times) == 24 and sum(started) == 1 and sum(completed) == 1 and sum(failed) == 0

    # A start and an end arrive as deltas, and move the counts without a new GET /stats.
    running = add(live_server, duration=600, name="long")
    expect(total(page, "started")).to_have_text("2")
    quick = add(live_server, kind="command", command=["sh", "-c", "exit 1"], name="broken")
    expect(total(page, "failed")).to_have_text("1")
    expect(total(page, "started")).to_have_text("3")
    _, started, completed, failed = plotted(page, "throughput")
    assert (sum(started), sum(completed), sum(failed)) == (3, 1, 1)
    assert plotted(page, "durations")[1][0] == 2  # the warm-up and the broken one: under 1 s
    statuses = page.locator("[data-chart=statuses]")
    expect(statuses.locator("[data-status=running] [data-count]")).to_have_text("1")
    expect(statuses.locator("[data-status=failed] [data-count]")).to_have_text("1")

    with live_server.client() as client:
        client.post("/tasks/cancel", json={"task_id": running["task_id"]})
    expect(statuses.locator("[data-status=running] [data-count]")).to_have_text("0")
    expect(statuses.locator("[data-status=cancelled] [data-count]")).to_have_text("1")
    rolled_over = plotted(page, "throughput")[0][-1] != times[-1]  # a new hour began
    assert len(calls) == 1 or rolled_over, calls

    # The page's figures are the server's.
    with live_server.client() as client:
        stats = client.get("/stats", params={"range": "day"}).json()
    assert plotted(page, "throughput")[1:] == [
        stats["series"][key] for key in ("started", "completed", "failed")
    ]
    assert quick["task_id"]  # (the broken one counted above)


def test_range_and_filters_fetch_matching_series(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    for name in ("alpha", "beta"):
        add(live_server, duration=600, name=name)
    broken = add(live_server, kind="command", command=["sh", "-c", "exit 2"], name="gamma")
    with live_server.client() as client:
        task_in(client, broken["task_id"], "failed")
    page = open_dashboard(live_server)
    open_charts(page, live_server)
    expect(total(page, "started")).to_have_text("3")

    page.get_by_role("radio", name="Hour").click()
    expect(page.locator("[data-charts=bucket]")).to_have_text("(per minute)")
    page.wait_for_function(
        "document.querySelector('[data-chart=throughput]').plot.data[0].length === 60"
    )

    page.get_by_label("Kind is").select_option("command")
    expect(total(page, "started")).to_have_text("1")
    expect(total(page, "failed")).to_have_text("1")
    page.get_by_label("Kind is").select_option("")
    page.get_by_label("Name or id has").fill("ALP")
    expect(total(page, "started")).to_have_text("1")
    expect(total(page, "failed")).to_have_text("0")
    # A filtered view counts only what passes its filters, live too.
    add(live_server, duration=600, name="alpine")
    add(live_server, duration=600, name="zulu")
    expect(total(page, "started")).to_have_text("2")


def test_charts_fit_a_narrow_dark_window(live_server: LiveServer, open_dashboard: OpenDashboard):
    add(live_server, duration=600, name="one")
    add(live_server, duration=600, name="two")
    page = open_dashboard(live_server, width=420, height=800, dark=True)
    page.goto(f"{live_server.url}/dashboard#charts")  # straight to the charts, on a reload
    page.reload()
    open_charts(page, live_server)
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    for chart in ("throughput", "durations"):
        box = page.locator(f"[data-chart={chart}] canvas").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420
    card = page.locator("#charts-view figure").first
    assert card.evaluate("el => getComputedStyle(el).backgroundColor") != "rgb(255, 255, 255)"
    # Back to the list by its link; the charts view hides.
    page.get_by_role("link", name="Tasks").click()
    expect(page.locator("#charts-view")).to_be_hidden()
    expect(page.locator("#tasks-view")).to_be_visible()
    # The list is laid out for rows of the height they have (measured while it was hidden,
    # they would be zero pixels high, and the list would reserve room for the wrong ones).
    expect(page.locator("#task-rows [role=row]")).to_have_count(2)
    row = page.locator("#task-rows [role=row]").first.bounding_box()
    reserved = page.locator("#task-rows").evaluate("el => parseFloat(el.style.height)")
    assert row is not None and reserved == pytest.approx(2 * row["height"], abs=1)


def test_export_menu_downloads_what_the_list_shows(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    keep = add(live_server, duration=600, name="report one")
    add(live_server, duration=600, name="other")
    page = open_dashboard(live_server)
    page.get_by_role("searchbox", name="Search tasks by name or id").fill("report")
    page.locator("#export-menu summary").click()
    link = page.locator("[data-export=csv]")
    expect(link).to_have_attribute("href", "/tasks/export?format=csv&search=report")
    with page.expect_download() as download:
        link.click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(), newline="")))
    assert [row["task_id"] for row in rows] == [keep["task_id"]]
