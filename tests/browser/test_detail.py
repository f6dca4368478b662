"""A task's record in a real Chromium: opened from its row, at its own URL (#task/ID) that
survives a reload, with its timings, exit code, error, log, attempts and dependencies."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.test_dashboard import row_named
from tests.conftest import LiveServer
from tests.waiting import task_in

pytestmark = pytest.mark.browser


def add(server: LiveServer, **body: object) -> dict:
    with server.client() as client:
        answer = client.post("/tasks/add", json=body)
        assert answer.status_code == 201, answer.text
        return answer.json()


def field(page: Page, name: str):
    return page.locator(f"#task-detail [data-field={name}]")


def detail(page: Page):
    return page.locator("#task-detail")


@pytest.fixture
def failed_twice(live_server: LiveServer) -> tuple[dict, dict]:
    """A command that prints and fails, and its retry (which fails too)."""
    script = "echo preparing; echo 'disk full' >&2; exit 3"
    first = add(live_server, kind="command", command=["sh", "-c", script], name="Backup")
    with live_server.client() as client:
        task_in(client, first["task_id"], "failed")
        retry = client.post(f"/tasks/{first['task_id']}/retry").json()
        task_in(client, retry["task_id"], "failed")
    return first, retry


def test_a_row_opens_the_record_at_a_url_that_survives_a_reload(
    live_server: LiveServer, open_dashboard: OpenDashboard, failed_twice: tuple[dict, dict]
):
    first, retry = failed_twice
    page = open_dashboard(live_server)
    row_named(page, "Backup").first.locator("[data-part=note]").click()  # not on a control
    expect(page).to_have_url(re.compile(f"#task/{retry['task_id']}$"))
    panel = detail(page)
    expect(panel).to_be_visible()
    expect(panel.locator("#detail-title")).to_contain_text("Backup")
    expect(panel.locator("[data-detail=id]")).to_have_text(retry["task_id"])
    expect(panel.locator("[data-detail=badge]")).to_have_text("Failed")
    expect(field(page, "exit-code")).to_have_text("3")
    expect(field(page, "kind")).to_have_text("command")
    expect(panel.locator("[data-detail=error]")).to_contain_text("exit code 3")
    expect(panel.locator("[data-detail=log]")).to_contain_text("preparing")
    expect(panel.locator("[data-detail=params]")).to_contain_text("exit 3")
    timings = panel.locator("[data-detail=timings]")
    for label in ("Queued", "Started", "Finished"):
        expect(timings).to_contain_text(label)
    expect(timings).to_contain_text("ran ")
    expect(panel.locator("[data-detail=attemptsNote]")).to_have_text("Attempt 2 of 2")
    raw = panel.locator("[data-detail=raw]")
    for key in ("task_id", "created_at", "started_at", "finished_at", "retry_of", "params"):
        expect(raw).to_contain_text(f'"{key}"')

    page.reload()
    expect(page.locator("html")).to_have_attribute("data-connection", "live")
    expect(detail(page)).to_be_visible()
    expect(page.locator("#task-detail [data-detail=id]")).to_have_text(retry["task_id"])
    expect(field(page, "exit-code")).to_have_text("3")

    # The first attempt is a link to its own record; Back returns to the retry's.
    page.locator("#task-detail [data-detail=attempts] a").click()
    expect(page).to_have_url(re.compile(f"#task/{first['task_id']}$"))
    expect(page.locator("#task-detail [data-detail=id]")).to_have_text(first["task_id"])
    expect(page.locator("#task-detail [data-detail=attemptsNote]")).to_have_text("Attempt 1 of 2")
    page.go_back()
    expect(page.locator("#task-detail [data-detail=id]")).to_have_text(retry["task_id"])

    page.keyboard.press("Escape")
    expect(detail(page)).to_be_hidden()
    expect(page).not_to_have_url(re.compile("#task/"))


def test_what_it_runs_after_and_what_waits_on_it(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    build = add(live_server, duration=600, name="Build")
    deploy = add(live_server, duration=5, name="Deploy", after=[build["task_id"]])
    page = open_dashboard(live_server)
    row_named(page, "Build").get_by_role("link", name="Build").click()
    panel = detail(page)
    expect(panel.locator("[data-detail=dependents]")).to_contain_text("Deploy")
    expect(panel.locator("[data-detail=afterNone]")).to_be_visible()
    expect(panel.locator("[data-detail=timings]")).to_contain_text("running for")
    expect(panel.locator("[data-detail=logSection]")).to_be_hidden()  # a timer has no log

    panel.locator("[data-detail=dependents] a").click()
    expect(page).to_have_url(re.compile(f"#task/{deploy['task_id']}$"))
    expect(panel.locator("[data-detail=after]")).to_contain_text("Build")
    expect(panel.locator("[data-detail=badge]")).to_have_text("Scheduled")

    # Live: the record follows the task as it changes.
    with live_server.client() as client:
        client.post("/tasks/cancel", json={"task_id": deploy["task_id"]})
    expect(panel.locator("[data-detail=badge]")).to_have_text("Cancelled")
    expect(panel.locator("[data-detail=timings]")).to_contain_text("Finished")


def test_an_unknown_task_says_so(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    page.goto(f"{live_server.url}/dashboard#task/no-such-task")
    expect(detail(page).locator("[data-detail=state]")).to_have_text(
        "No task with id no-such-task: it may have been cleared."
    )


def test_the_record_fits_a_narrow_dark_window(
    live_server: LiveServer, open_dashboard: OpenDashboard, failed_twice: tuple[dict, dict]
):
    _, retry = failed_twice
    page = open_dashboard(live_server, width=420, height=800, dark=True)
    page.goto(f"{live_server.url}/dashboard#task/{retry['task_id']}")
    panel = detail(page)
    expect(panel.locator("[data-detail=id]")).to_have_text(retry["task_id"])
    box = panel.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420
    body = panel.locator("[data-detail=body]")
    assert body.evaluate("el => el.scrollWidth") <= 420
    background = panel.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background != "rgb(255, 255, 255)"  # the dark theme
