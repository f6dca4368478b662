"""The queue in a real Chromium: the limit, pausing the queue and tasks, retry, re-ranking,
dependencies and delayed starts, driven from the page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.test_dashboard import (
    expect_refusal_toast,
    refuse,
    row_named,
    rows,
    status_of,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def position_of(row: Locator) -> Locator:
    return row.locator("[data-part=position]")


def progress_of(row: Locator) -> int:
    return int(row.get_by_role("progressbar").get_attribute("aria-valuenow") or 0)


def add(server: LiveServer, name: str, duration: float = 300, **options: object) -> dict:
    with server.client() as client:
        answer = client.post("/tasks/add", json={"duration": duration, "name": name, **options})
        assert answer.status_code == 201, answer.text
        return answer.json()


def set_limit_from_the_page(page: Page, limit: str) -> None:
    field = page.get_by_role("textbox", name="Max at once")
    field.fill(limit)
    field.press("Enter")


def test_limit_queues_the_second_task_until_the_first_is_cancelled(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    set_limit_from_the_page(page, "1")
    expect(page.locator("[data-queue=limit]")).to_have_text("of 1")
    with live_server.client() as client:
        settings = client.get("/settings").json()
        assert (settings["max_concurrent"], settings["queue_paused"]) == (1, False)

    add(live_server, "First")
    add(live_server, "Second")
    first, second = row_named(page, "First"), row_named(page, "Second")
    expect(status_of(first)).to_have_text("Running")
    expect(status_of(second)).to_have_text("Queued")
    expect(position_of(second)).to_have_text("#1 in queue")
    expect(page.locator("[data-queue=running]")).to_have_text("1")
    expect(page.locator("[data-queue=queued]")).to_have_text("1")

    first.get_by_role("button", name="Cancel First").click()
    expect(status_of(second)).to_have_text("Running")
    expect(position_of(second)).to_be_hidden()

    # The stepper: one more, then back to no limit by clearing the field.
    page.get_by_role("button", name="Allow one task more at once").click()
    expect(page.locator("[data-queue=limit]")).to_have_text("of 2")
    set_limit_from_the_page(page, "")
    expect(page.locator("[data-queue=limit]")).to_have_text("no limit")
    with live_server.client() as client:
        assert client.get("/settings").json()["max_concurrent"] is None


def test_paused_queue_shows_a_banner_and_holds_new_tasks_until_resumed(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    banner = page.locator("#queue-banner")
    expect(banner).to_be_hidden()
    page.get_by_role("button", name="Pause queue").click()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Queue paused — nothing new will start")

    page.locator("#duration").fill("1m")
    page.locator("#name").fill("Held back")
    page.get_by_role("button", name="Add task").click()
    row = row_named(page, "Held back")
    expect(status_of(row)).to_have_text("Queued")
    expect(row.locator("[data-part=note]")).to_have_text("Queue paused")
    expect(position_of(row)).to_have_text("#1 in queue")

    page.get_by_role("button", name="Resume queue").click()
    expect(status_of(row)).to_have_text("Running")
    expect(banner).to_be_hidden()
    with live_server.client() as client:
        assert client.get("/settings").json()["queue_paused"] is False


def test_pause_and_resume_a_running_task_from_its_row(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    add(live_server, "Sleeper", duration=20)
    row = row_named(page, "Sleeper")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", re.compile("^[1-9]"))

    row.get_by_role("button", name="Pause Sleeper").click()
    expect(status_of(row)).to_have_text("Paused")
    expect(row.get_by_role("button", name="Pause Sleeper")).to_be_hidden()
    held = progress_of(row)
    # Let time pass, measured by another task's bar moving: the paused bar must not.
    add(live_server, "Clock", duration=20)
    clock = row_named(page, "Clock")
    expect(clock.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", re.compile("^([5-9]|[1-9][0-9])$")
    )
    assert progress_of(row) == held
    task_id = row.get_attribute("data-task-id")
    with live_server.client() as client:
        assert client.get(f"/tasks/{task_id}").json()["status"] == "paused"

    row.get_by_role("button", name="Resume Sleeper").click()
    expect(status_of(row)).to_have_text("Running")
    expect(row.get_by_role("progressbar")).not_to_have_attribute("aria-valuenow", str(held))
    assert progress_of(row) > held


def test_a_resumed_bar_moves_on_from_where_it_paused(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    # 30% reported a second ago by a 100 s timer that started 90 s ago (it was paused for
    # a minute): 31%, not the 90% that the time since its start would suggest.
    progress = page.evaluate(
        """async () => {
            const { liveProgress } = await import("/static/js/task-row.js");
            const now = Date.now();
            const task = { status: "running", kind: "timer", duration: 100, progress: 0.3,
                           startedMs: now - 90_000, receivedMs: now - 1000 };
            return liveProgress(task, now, false);
        }"""
    )
    assert progress == pytest.approx(0.31)


def test_retry_a_cancelled_task_from_its_row(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    old = add(live_server, "Flaky", duration=120, priority=3)
    with live_server.client() as client:
        client.post("/tasks/cancel", json={"task_id": old["task_id"]})
    old_row = rows(page).and_(page.locator(f"[data-task-id='{old['task_id']}']"))
    expect(status_of(old_row)).to_have_text("Cancelled")

    old_row.get_by_role("button", name="Retry Flaky").click()
    expect(page.locator("#toasts")).to_contain_text("Retrying as")
    new_row = row_named(page, "Flaky").and_(page.locator("[data-status=running]"))
    expect(new_row).to_have_count(1)
    expect(new_row.locator("[data-part=retryOfId]")).to_have_text(old["task_id"][:8])
    expect(new_row.locator("[data-part=priorityValue]")).to_have_text("3")
    expect(status_of(old_row)).to_have_text("Cancelled")
    with live_server.client() as client:
        tasks = client.get("/tasks/status").json()["tasks"]
    assert [(t["status"], t["retry_of"]) for t in tasks] == [
        ("running", old["task_id"]),
        ("cancelled", None),
    ]


def test_move_to_front_and_priority_reorder_the_queue(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    with live_server.client() as client:
        client.put("/settings", json={"max_concurrent": 1})
    page = open_dashboard(live_server)
    for name in ("Blocker", "Alpha", "Beta", "Gamma"):
        add(live_server, name)
    alpha, beta, gamma = (row_named(page, n) for n in ("Alpha", "Beta", "Gamma"))
    expect(position_of(alpha)).to_have_text("#1 in queue")
    expect(position_of(beta)).to_have_text("#2 in queue")
    expect(position_of(gamma)).to_have_text("#3 in queue")

    gamma.get_by_role("button", name="Move Gamma to the front of the queue").click()
    expect(position_of(gamma)).to_have_text("#1 in queue")
    expect(position_of(alpha)).to_have_text("#2 in queue")
    expect(position_of(beta)).to_have_text("#3 in queue")
    expect(gamma.locator("[data-part=priorityValue]")).to_have_text("1")

    beta.get_by_role("button", name="Change priority of Beta").click()
    dialog = page.get_by_role("dialog", name="Change priority")
    dialog.get_by_role("spinbutton", name="Priority").fill("7")
    dialog.get_by_role("button", name="Save priority").click()
    expect(dialog).to_be_hidden()
    expect(position_of(beta)).to_have_text("#1 in queue")
    expect(position_of(gamma)).to_have_text("#2 in queue")

    # The Queued tab lists the line in the order it will start.
    page.get_by_role("tab", name=re.compile("^Queued")).click()
    expect(rows(page).locator("[data-part=name]")).to_have_text(["Beta", "Gamma", "Alpha"])


def test_a_refused_row_action_shows_a_toast(live_server: LiveServer, open_dashboard: OpenDashboard):
    page = open_dashboard(live_server)
    add(live_server, "Quick")
    row = row_named(page, "Quick")
    expect(status_of(row)).to_have_text("Running")
    refuse(page, "**/pause")
    row.get_by_role("button", name="Pause Quick").click()
    expect_refusal_toast(page, "Could not pause")
    expect(status_of(row)).to_have_text("Running")


def test_task_added_after_another_waits_then_starts(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    first = add(live_server, "Compile", duration=1.5)
    page.get_by_text("Advanced").click()
    page.locator("#duration").fill("1m")
    page.locator("#name").fill("Deploy")
    page.locator("#priority").fill("2")
    after = page.get_by_role("combobox", name="Run after")
    after.fill(first["task_id"][:6])  # a unique prefix is enough
    after.press("Enter")
    chip = page.get_by_role("button", name=f"Do not wait for Compile ({first['task_id'][:8]})")
    expect(chip).to_be_visible()
    page.get_by_role("button", name="Add task").click()

    deploy = row_named(page, "Deploy")
    expect(status_of(deploy)).to_have_text("Scheduled")
    expect(deploy.locator("[data-part=note]")).to_have_text(f"Waiting for {first['task_id'][:8]}")
    expect(deploy.locator("[data-part=note]")).to_have_attribute(
        "title", f"Runs after Compile ({first['task_id'][:8]})"
    )
    expect(chip).to_be_hidden()  # the form is ready for the next task
    expect(status_of(row_named(page, "Compile"))).to_have_text("Completed")
    expect(status_of(deploy)).to_have_text("Running")
    with live_server.client() as client:
        task = client.get(f"/tasks/{deploy.get_attribute('data-task-id')}").json()
    assert (task["after"], task["priority"]) == ([first["task_id"]], 2)


def test_form_schedules_with_a_delay_and_explains_conflicts(
    live_server: LiveServer, open_dashboard: OpenDashboard
):
    page = open_dashboard(live_server)
    page.get_by_text("Advanced").click()
    page.locator("#name").fill("Later")
    page.locator("#delay").fill("1m30s")
    expect(page.locator("#delay-hint")).to_have_text("Starts 1m 30s after adding.")
    page.locator("#run-at").fill("2030-01-01T10:00:00")
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_role("alert")).to_contain_text("a delay or a start time, not both")
    expect(page.locator("#run-at")).to_have_attribute("aria-invalid", "true")

    page.locator("#run-at").fill("")
    page.get_by_role("button", name="Add task").click()
    row = row_named(page, "Later")
    expect(status_of(row)).to_have_text("Scheduled")
    note = row.locator("[data-part=note]")
    expect(note).to_have_text(re.compile(r"^Starts in (1 min\.|90 sec\.|8\d sec\.)$"))
    expect(note).to_have_attribute("title", re.compile(r"\d{1,2}:\d\d:\d\d"))

    after = page.get_by_role("combobox", name="Run after")
    after.fill("no such task")
    after.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("No task matches “no such task”")


def test_queue_screenshots(live_server: LiveServer, open_dashboard: OpenDashboard, artifacts: Path):
    """The queue UI (limit, paused queue, every row action), light and dark, to look at."""
    with live_server.client() as client:
        client.put("/settings", json={"max_concurrent": 3})
    transcode = add(live_server, "Transcode lecture 12.mp4", duration=900)
    add(live_server, "Warm the cache", duration=60)
    napper = add(live_server, "Re-index search", duration=3600)
    add(live_server, "Upload backups", duration=600, priority=5)
    add(live_server, "Thumbnail batch", duration=120)
    add(live_server, "Publish site", duration=120, after=[transcode["task_id"]])
    add(live_server, "Send digest", duration=60, delay=600)
    with live_server.client() as client:
        client.post(f"/tasks/{napper['task_id']}/pause")
        client.post("/queue/pause")
    for name, dark in [("light", False), ("dark", True)]:
        page = open_dashboard(live_server, width=1280, height=900, dark=dark)
        expect(page.locator("#queue-banner")).to_be_visible()
        expect(position_of(row_named(page, "Thumbnail batch"))).to_have_text("#1 in queue")
        path = artifacts / f"queue-{name}.png"
        page.screenshot(path=path)
        assert path.stat().st_size > 10_000
