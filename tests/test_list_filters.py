"""GET /tasks/status filters by kind and by a search text as well as by status, over live
tasks and a history kept only as JSON; the WebSocket snapshot carries the newest tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.conftest import LiveServer, serving
from tests.waiting import task_in
from web.realtime import SNAPSHOT_TASKS
from web.settings import Settings
from web.store import Store
from web.tasks.model import Task, TaskStatus

SIZE = 1_000
START = 1_800_000_000.0
# Names a byte search could get wrong: escapes (a tab holds no "t"), quotes, other scripts.
ODD = {
    7: "Tab\there",
    8: 'say "Hi"',
    9: "Été à Zürich",
    10: "back\\slash",
}


def old_task(i: int) -> Task:
    return Task(
        task_id=f"old{i:06d}",
        name=ODD.get(i, f"Nightly {i}"),
        kind="command" if i % 4 == 0 else "timer",
        duration=1.0,
        status=TaskStatus.FAILED if i % 10 == 0 else TaskStatus.COMPLETED,
        created_at=START + i,
        params={"duration": 1.0},
        progress=1.0,
        started_at=START + i,
        finished_at=START + i + 1,
    )


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    settings.data_dir.mkdir(parents=True)
    store = Store.open(settings.db_path)
    try:
        tasks = [old_task(i) for i in range(SIZE)]
        store.write([("insert", [(i + 1, t, t.to_json()) for i, t in enumerate(tasks)])])
    finally:
        store.close()
    with serving(settings) as live:
        yield live


def listed(server: LiveServer, **params: object) -> tuple[list[str], int]:
    with server.client() as http:
        answer = http.get("/tasks/status", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["counts"]["failed"] >= SIZE // 10  # counts stay those of every task
    return [t["task_id"] for t in body["tasks"]], body["total"]


def ids(*numbers: int) -> list[str]:
    return [f"old{i:06d}" for i in numbers]


def test_kind_and_search_filter_the_history(server: LiveServer) -> None:
    commands = [i for i in reversed(range(SIZE)) if i % 4 == 0]
    assert listed(server, kind="command", limit=3) == (ids(*commands[:3]), len(commands))
    assert listed(server, kind="command", limit=2, offset=len(commands) - 1) == (ids(0), 250)
    assert listed(server, kind="no such kind") == ([], 0)
    # In any case, anywhere in the name; newest first.
    assert listed(server, search="NIGHTLY 99", limit=3) == (ids(999, 998, 997), 11)
    assert listed(server, search="ghtly 123") == (ids(123), 1)
    # A name's escapes are not its text, and its quotes and accents are.
    assert listed(server, search="th") == ([], 0)  # in `Tab\there` as JSON, not in the name
    assert listed(server, search='"hi"') == (ids(8), 1)
    assert listed(server, search="ÉTÉ À") == (ids(9), 1)
    assert listed(server, search="zürich") == (ids(9), 1)
    assert listed(server, search="\\") == (ids(10), 1)
    assert listed(server, search="TAB\tHERE") == (ids(7), 1)
    # Or the start of an id, as the dashboard's search box has always allowed.
    assert listed(server, search="OLD00012") == (ids(*reversed(range(120, 130))), 10)


def test_filters_combine_with_status_and_paging(server: LiveServer) -> None:
    failed_commands = [i for i in reversed(range(SIZE)) if i % 20 == 0]
    got = listed(server, status="failed", kind="command", limit=5, offset=2)
    assert got == (ids(*failed_commands[2:7]), len(failed_commands))
    got = listed(server, status="failed,completed", kind="timer", search="nightly 99")
    assert got == (ids(999, 998, 997, 995, 994, 993, 991, 990, 99), 9)
    with server.client() as http:
        live = http.post("/tasks/add", json={"duration": 300, "name": "Live NIGHTLY one"}).json()
        task_in(http, live["task_id"], "running")
    # Live tasks are found the same way, alone or with the history.
    assert listed(server, status="running", search="nightly") == ([live["task_id"]], 1)
    assert listed(server, status="running", kind="command") == ([], 0)
    got = listed(server, search="nightly", limit=2)
    assert got == ([live["task_id"], *ids(999)], SIZE - len(ODD) + 1)


def test_a_search_typed_further_and_back_again(server: LiveServer) -> None:
    # A longer query looks only at what the shorter one found; a shorter one looks again.
    nines = [i for i in range(SIZE) if i not in ODD and str(i).startswith("9")]
    assert listed(server, search="nightly 9", limit=1)[1] == len(nines)
    assert listed(server, search="Nightly 99", limit=1) == (ids(999), 11)
    assert listed(server, search="nightly 999") == (ids(999), 1)
    assert listed(server, search="nightly 9", limit=1)[1] == len(nines)
    assert listed(server, search="nightly 9", kind="command", limit=1)[1] == sum(
        1 for i in nines if i % 4 == 0
    )


def test_bad_filters_are_explained(server: LiveServer) -> None:
    with server.client() as http:
        answer = http.get("/tasks/status", params={"search": "x" * 201})
        assert answer.status_code == 422
        assert "200 characters" in json.dumps(answer.json()["detail"])


def test_the_snapshot_holds_the_newest_tasks_and_the_totals(server: LiveServer) -> None:
    with connect(server.ws_url, additional_headers=server.headers, open_timeout=10) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
    assert snapshot["type"] == "snapshot"
    assert [t["task_id"] for t in snapshot["tasks"]] == ids(*range(SIZE - 1, SIZE - 1 - 200, -1))
    assert len(snapshot["tasks"]) == SNAPSHOT_TASKS
    assert snapshot["total"] == SIZE
    assert snapshot["counts"]["failed"] == SIZE // 10
    assert snapshot["counts"]["completed"] == SIZE - SIZE // 10
    assert snapshot["counts"]["running"] == 0
    assert snapshot["seq"] >= 0


def test_the_line_order_lists_queued_tasks_as_they_will_start(server: LiveServer) -> None:
    with server.client() as http:
        http.put("/settings", json={"max_concurrent": 1})
        http.post("/tasks/add", json={"duration": 300, "name": "runs"})
        high, low, mid = (
            http.post("/tasks/add", json={"duration": 1, "name": n, "priority": p}).json()
            for n, p in (("high", 5), ("low", -1), ("mid", 0))
        )
    line = [high["task_id"], mid["task_id"], low["task_id"]]
    assert listed(server, status="queued", order="line") == (line, 3)
    newest = [mid["task_id"], low["task_id"], high["task_id"]]
    assert listed(server, status="queued") == (newest, 3)
    everything, total = listed(server, order="line", limit=4)
    assert everything[:3] == line and total == SIZE + 4
    with server.client() as http:
        answer = http.get("/tasks/status", params={"order": "oldest"})
        assert answer.status_code == 422
