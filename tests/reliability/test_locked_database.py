"""A database locked by another process (a backup tool, sqlite3 opened by hand) slows
writes down, never the server: health, lists and the WebSocket answer while an add waits;
the add then answers 503 saying why, and everything resumes with nothing lost once the lock
is released. The lock is real: a second process inside BEGIN EXCLUSIVE."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from tests.conftest import LiveServer
from tests.reliability.test_environment import hold_lock, release
from tests.test_realtime import is_task, next_message, open_ws, wait_for
from tests.waiting import task_in, until
from web.settings import Settings


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    # A busy timeout of 2 s instead of 5: the same path, a shorter test.
    live = LiveServer(replace(settings, db_busy_timeout=2.0)).start()
    yield live
    live.stop()


class Pending:
    """A request made in a thread of its own, so the test can look around while it waits."""

    def __init__(self, server: LiveServer, method: str, path: str, body: dict) -> None:
        self.answer: httpx.Response | None = None
        self._thread = threading.Thread(target=self._call, args=(server, method, path, body))
        self._thread.start()

    def _call(self, server: LiveServer, method: str, path: str, body: dict) -> None:
        with server.client() as http:
            self.answer = http.request(method, path, json=body)

    @property
    def waiting(self) -> bool:
        return self._thread.is_alive()

    def result(self) -> httpx.Response:
        self._thread.join(30)
        assert self.answer is not None, "the request never answered"
        return self.answer


def test_a_locked_database_never_stalls_reads_or_the_websocket(server: LiveServer) -> None:
    with server.client() as http, open_ws(server) as watcher:
        long = http.post("/tasks/add", json={"duration": 600, "name": "long"}).json()
        assert next_message(watcher)["type"] == "snapshot"
        holder = hold_lock(server.settings.db_path)
        try:
            add = Pending(server, "POST", "/tasks/add", {"duration": 1, "name": "refused"})
            cancel = Pending(server, "POST", "/tasks/cancel", {"task_id": long["task_id"]})
            until(lambda: add.waiting and cancel.waiting, 5, "the writes to be under way")
            # Everything that reads memory answers while both writes wait for the lock.
            assert http.get("/healthz").status_code == 200
            listed = http.get("/tasks/status").json()
            assert [t["name"] for t in listed["tasks"]] == ["long"]
            assert http.get(f"/tasks/{long['task_id']}").status_code == 200
            assert http.get("/dashboard").status_code == 200
            with open_ws(server) as newcomer:
                assert next_message(newcomer)["type"] == "snapshot"
            watcher.send(json.dumps({"type": "nope"}))
            assert wait_for(watcher, lambda m: m["type"] == "error")
            assert add.waiting and cancel.waiting, "the writes did not wait for the lock"
            for refused in (add.result(), cancel.result()):
                assert refused.status_code == 503
                assert "locked" in refused.json()["detail"]
                assert "another process" in refused.json()["detail"]
        finally:
            release(holder)
        # Nothing of the refused writes happened; the next ones go through as usual.
        assert [t["name"] for t in http.get("/tasks/status").json()["tasks"]] == ["long"]
        assert task_in(http, long["task_id"], "running")
        later = http.post("/tasks/add", json={"duration": 0.05, "name": "later"})
        assert later.status_code == 201
        assert wait_for(watcher, is_task(later.json()["task_id"], "completed"))
        assert http.post("/tasks/cancel", json={"task_id": long["task_id"]}).status_code == 200
    server.stop()
    server.start()  # and the file holds exactly that
    with server.client() as again:
        tasks = {t["name"]: t["status"] for t in again.get("/tasks/status").json()["tasks"]}
    assert tasks == {"long": "cancelled", "later": "completed"}
