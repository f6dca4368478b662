"""A history of 100,000 finished tasks: the server starts on it, lists it page by page,
and every task in it can be read, retried, named as a dependency and cleared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.history import write_history
from tests.conftest import LiveServer
from tests.waiting import task_in
from web.settings import Settings

SIZE = 100_000


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Written once; each test serves a copy of it."""
    db = tmp_path_factory.mktemp("history") / "tasks.db"
    write_history(db, SIZE)
    return db


@pytest.fixture
def server(settings: Settings, history: Path) -> Iterator[LiveServer]:
    settings.data_dir.mkdir(parents=True)
    settings.db_path.write_bytes(history.read_bytes())
    live = LiveServer(settings).start()
    yield live
    live.stop()


def test_it_starts_counts_and_pages_newest_first(server: LiveServer) -> None:
    with server.client() as http:
        first = http.get("/tasks/status", params={"limit": 3}).json()
        assert first["total"] == SIZE
        assert first["counts"]["failed"] == SIZE // 10
        assert first["counts"]["completed"] == SIZE - SIZE // 10
        assert [t["task_id"] for t in first["tasks"]] == ["old099999", "old099998", "old099997"]
        last = http.get("/tasks/status", params={"limit": 5, "offset": SIZE - 2}).json()
        assert [t["task_id"] for t in last["tasks"]] == ["old000001", "old000000"]
        failed = http.get("/tasks/status", params={"status": "failed", "limit": 2}).json()
        assert failed["total"] == SIZE // 10
        assert [t["task_id"] for t in failed["tasks"]] == ["old099990", "old099980"]
        assert failed["tasks"][0]["error"] == "boom"
        # Each as the history has it, to the millisecond.
        one = http.get("/tasks/old000123").json()
        assert one["finished_at"] == "2027-01-15T08:02:04.000Z"
        assert (one["status"], one["elapsed"], one["params"]) == (
            "completed",
            1.0,
            {"duration": 1.0},
        )


def test_every_old_task_can_be_retried_named_and_refused_as_finished(server: LiveServer) -> None:
    with server.client() as http:
        assert http.post("/tasks/cancel", json={"task_id": "old000007"}).status_code == 409
        again = http.post("/tasks/old000007/retry").json()
        assert (again["retry_of"], again["name"]) == ("old000007", "nightly 7")
        after_done = http.post("/tasks/add", json={"duration": 0.01, "after": ["old000001"]})
        assert after_done.json()["status"] == "running"  # its dependency completed long ago
        after_failed = http.post("/tasks/add", json={"duration": 1, "after": ["old000010"]})
        failed = task_in(http, after_failed.json()["task_id"], "failed")
        assert failed["error"] == "dependency old000010 failed"
        assert task_in(http, after_done.json()["task_id"], "completed")


def test_clearing_a_long_history(server: LiveServer) -> None:
    with server.client() as http:
        removed = http.delete("/tasks/finished").json()
        assert removed["removed"] == SIZE
        assert http.get("/tasks/status").json()["total"] == 0
        assert http.get("/tasks/old000001").status_code == 404
    server.stop()
    server.start()
    with server.client() as http:
        assert http.get("/tasks/status").json()["total"] == 0
