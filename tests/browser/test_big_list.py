"""A long history in a real Chromium: the list pages from the server as it scrolls, filters
ask the server, and live changes reach rows that were paged in."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import FRAMES, OpenDashboard
from tests.browser.seed import NAMES, history_task
from tests.browser.test_dashboard import row_named, rows, status_of
from tests.conftest import LiveServer
from tests.waiting import until
from web.settings import Settings
from web.store import Store
from web.tasks.model import Task, TaskStatus

pytestmark = pytest.mark.browser

SIZE = 20_000
WAITING = SIZE - 1 - 12_345  # a scheduled task far down the list (12,346th from the top)


def name_of(i: int) -> str:
    return f"{NAMES[i % len(NAMES)]} #{i}"


def waiting_task(now: float) -> Task:
    """A task deep in the history that still waits for its start time: it can change live."""
    return Task(
        task_id=f"{WAITING:032x}",
        name="Far down and waiting",
        kind="timer",
        duration=60.0,
        status=TaskStatus.SCHEDULED,
        created_at=history_task(WAITING, now).created_at,
        params={"duration": 60.0},
        run_at=now + 3600,
    )


@pytest.fixture
def big_server(settings: Settings) -> Iterator[LiveServer]:
    now = time.time()
    tasks = [history_task(i, now) for i in range(SIZE)]
    tasks[WAITING] = waiting_task(now)
    settings.data_dir.mkdir(parents=True)
    store = Store.open(settings.db_path)
    try:
        rows = [(i + 1, t, t.to_json() if t.status.is_final else None) for i, t in enumerate(tasks)]
        store.write([("insert", rows)])
    finally:
        store.close()
    server = LiveServer(settings).start()
    yield server
    server.stop()


def scroll_to_row(page: Page, index: int) -> None:
    """Scroll so the row `index` (0: the newest) is near the top of the window."""
    page.evaluate(
        """(index) => {
          const list = document.querySelector('#task-rows');
          const height = list.querySelector('[role=row]').getBoundingClientRect().height;
          const top = list.getBoundingClientRect().top + window.scrollY;
          window.scrollTo(0, top + index * height - 120);
        }""",
        index,
    )


def shown(page: Page) -> list[tuple[int, str]]:
    """(row index from the top, name) of each task row in the DOM, placeholders left out."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#task-rows [role=row][data-task-id]')].map(
             (row) => [Number(row.getAttribute('aria-rowindex')) - 2,
                       row.querySelector('[data-part=name]').textContent])"""
    )


def expect_rows_in_order(page: Page, near: int, status: str | None = None) -> None:
    """The task rows in the DOM are the right ones for their place, and one is near `near`."""

    def check() -> bool:
        rows_now = shown(page)
        return any(abs(i - near) < 5 for i, _ in rows_now) and all(
            name == name_of(SIZE - 1 - i) for i, name in rows_now if i != SIZE - 1 - WAITING
        )

    until(check, 10, f"the rows near row {near}")


def test_the_rows_far_down_a_long_history_are_the_right_ones(
    big_server: LiveServer, open_dashboard: OpenDashboard
) -> None:
    page = open_dashboard(big_server)
    expect(page.locator("[data-status=all] [data-count]")).to_have_text(f"{SIZE:,}")
    snapshot = json.loads(next(f for f in FRAMES[page] if '"type":"snapshot"' in f))
    assert len(snapshot["tasks"]) == 200 and snapshot["total"] == SIZE
    asked: list[dict] = []
    page.on("request", lambda r: asked.append(parse_qs(urlsplit(r.url).query)))
    for index in (15_000, SIZE - 1, 7_777):
        scroll_to_row(page, index)
        expect_rows_in_order(page, index)
    assert rows(page).count() < 100  # only what is visible is in the DOM
    # Pages of the list, not the whole of it.
    assert asked and all(int(q["limit"][0]) <= 500 for q in asked if "limit" in q)


def test_filters_and_search_page_from_the_server(
    big_server: LiveServer, open_dashboard: OpenDashboard
) -> None:
    page = open_dashboard(big_server)
    asked: list[dict] = []
    page.on("request", lambda r: asked.append(parse_qs(urlsplit(r.url).query)))
    page.get_by_role("tab", name=re.compile("^Failed")).click()
    expect(page.locator("[data-status=failed] [data-count]")).to_have_text("3,333")
    expect(status_of(rows(page).first)).to_have_text("Failed")
    assert any(q.get("status") == ["failed"] for q in asked)
    # Far down the Failed tab: failed tasks still, the right ones (every sixth from 3).
    scroll_to_row(page, 3_000)
    failed = [i for i in reversed(range(SIZE)) if i % 6 == 3]
    expect(row_named(page, name_of(failed[3_000]))).to_have_count(1)
    statuses = page.locator("#task-rows [data-task-id] [data-part=badgeLabel]").all_text_contents()
    assert statuses and set(statuses) == {"Failed"}

    page.get_by_role("tab", name=re.compile("^All")).click()
    page.locator("#search").fill("resize IMAGES #1234")
    # Any case, anywhere in the name: "Resize images #12342" and "... #12347".
    expect(rows(page).locator("[data-part=name]")).to_have_text(
        ["Resize images #12347", "Resize images #12342"]
    )
    assert any(q.get("search") == ["resize images #1234"] for q in asked)


def test_a_live_change_reaches_a_row_paged_in_far_down(
    big_server: LiveServer, open_dashboard: OpenDashboard
) -> None:
    page = open_dashboard(big_server)
    expect(page.locator("[data-status=scheduled] [data-count]")).to_have_text("1")
    scroll_to_row(page, SIZE - 1 - WAITING)
    row = row_named(page, "Far down and waiting")
    expect(status_of(row)).to_have_text("Scheduled")
    with big_server.client() as http:
        http.post("/tasks/cancel", json={"task_id": f"{WAITING:032x}"})
    expect(status_of(row)).to_have_text("Cancelled")
    expect(page.locator("[data-status=scheduled] [data-count]")).to_have_text("0")
    expect_rows_in_order(page, SIZE - 1 - WAITING)


def test_a_whole_id_from_far_down_can_be_run_after(
    big_server: LiveServer, open_dashboard: OpenDashboard
) -> None:
    """The page holds only the newest tasks, yet any task's id can be pasted in "Run after"."""
    page = open_dashboard(big_server)
    old = history_task(6, time.time())  # completed, far below the snapshot's newest 200
    page.get_by_text("Advanced").click()
    page.locator("#duration").fill("1m")
    page.locator("#name").fill("After an old one")
    after = page.get_by_role("combobox", name="Run after")
    after.fill(old.task_id)
    after.press("Enter")
    page.get_by_role("button", name="Add task").click()
    expect(status_of(row_named(page, "After an old one"))).to_have_text("Running")
    with big_server.client() as http:
        newest = http.get("/tasks/status", params={"limit": 1}).json()["tasks"][0]
    assert (newest["name"], newest["after"]) == ("After an old one", [old.task_id])
