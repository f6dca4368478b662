"""Task ends become notices, as the user chose (GET/PUT /settings), each told once.

A real server on a real socket, with a sink that records what the desktop app would show
(tests/desktop/test_notifications.py takes the same notices on to a real D-Bus daemon).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

import httpx
import pytest

from desktop_app.server import ServerThread, bind_socket
from tests.conftest import TOKEN, LiveServer
from tests.test_realtime import next_message, open_ws
from tests.waiting import task_in
from web.app import create_app
from web.notices import Notice, spoken_seconds
from web.settings import Settings
from web.store import Store

FAILING = {"kind": "command", "command": ["false"]}


class Recorder:
    """A NoticeSink that keeps what it is given (delivered on the server's thread)."""

    def __init__(self) -> None:
        self.notices: queue.Queue[Notice] = queue.Queue()

    def deliver(self, notice: Notice) -> None:
        self.notices.put(notice)

    def next(self, timeout: float = 15) -> Notice:
        try:
            return self.notices.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no notice within {timeout} s") from None


@contextmanager
def serving(settings: Settings, sink: Recorder | None) -> Iterator[httpx.Client]:
    sock = bind_socket("127.0.0.1", 0)
    settings = replace(settings, port=sock.getsockname()[1])
    server = ServerThread(create_app(settings, notices=sink), sock)
    server.start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as http:
            yield http
    finally:
        server.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def http(settings: Settings, recorder: Recorder) -> Iterator[httpx.Client]:
    with serving(settings, recorder) as client:
        yield client


def ended(http: httpx.Client, body: dict) -> dict:
    task = http.post("/tasks/add", json=body).json()
    return task_in(http, task["task_id"], "completed", "failed", "cancelled")


def test_a_failed_task_is_told_with_its_name_outcome_and_duration(
    http: httpx.Client, recorder: Recorder
) -> None:
    http.put("/settings", json={"notify_min_seconds": 0}).raise_for_status()
    task = ended(http, {**FAILING, "name": "nightly backup"})
    assert task["status"] == "failed"

    notice = recorder.next()
    assert (notice.task_id, notice.name, notice.outcome) == (
        task["task_id"],
        "nightly backup",
        "failed",
    )
    assert notice.error == task["error"]
    assert notice.title == "nightly backup failed"
    assert notice.body.startswith(f"Failed after {spoken_seconds(notice.seconds)}")
    assert task["error"] in notice.body


def test_the_duration_is_from_first_start_to_end(http: httpx.Client, recorder: Recorder) -> None:
    http.put("/settings", json={"notify_min_seconds": 0}).raise_for_status()
    task = ended(http, {"duration": 0.2})
    notice = recorder.next()
    ran = datetime.fromisoformat(task["finished_at"]) - datetime.fromisoformat(task["started_at"])
    assert notice.seconds == pytest.approx(ran.total_seconds())
    assert (notice.outcome, notice.title) == ("completed", f"Task {task['task_id'][:8]} completed")


def test_failures_only_skips_the_other_ends(http: httpx.Client, recorder: Recorder) -> None:
    http.put("/settings", json={"notify": "failures", "notify_min_seconds": 0}).raise_for_status()
    ended(http, {"duration": 0.05, "name": "quick timer"})
    waiting = http.post("/tasks/add", json={"duration": 60, "delay": 60}).json()
    http.post("/tasks/cancel", json={"task_id": waiting["task_id"]}).raise_for_status()
    failed = ended(http, FAILING)
    # Ends are told in order: the first notice is the failure, nothing before it.
    assert recorder.next().task_id == failed["task_id"]


def test_tasks_shorter_than_the_minimum_are_not_told(
    http: httpx.Client, recorder: Recorder
) -> None:
    http.put("/settings", json={"notify": "all", "notify_min_seconds": 1}).raise_for_status()
    waiting = http.post("/tasks/add", json={"duration": 60, "delay": 60}).json()
    http.post("/tasks/cancel", json={"task_id": waiting["task_id"]}).raise_for_status()  # ran 0 s
    # Not exactly the minimum: a timer may end a millisecond early (web/clock.py SLACK).
    long_enough = ended(http, {"duration": 1.2})
    notice = recorder.next()
    assert notice.task_id == long_enough["task_id"]
    assert notice.seconds >= 1


def test_never_tells_nothing(http: httpx.Client, recorder: Recorder) -> None:
    http.put("/settings", json={"notify": "never", "notify_min_seconds": 0}).raise_for_status()
    ended(http, FAILING)
    ended(http, {"duration": 0.05})
    http.put("/settings", json={"notify": "all"}).raise_for_status()
    marker = ended(http, FAILING)
    assert recorder.next().task_id == marker["task_id"]


def test_a_task_is_told_once_even_across_a_restart(settings: Settings, recorder: Recorder) -> None:
    with serving(settings, recorder) as http:
        http.put("/settings", json={"notify_min_seconds": 0}).raise_for_status()
        first = ended(http, FAILING)
        assert recorder.next().task_id == first["task_id"]
        running = http.post("/tasks/add", json={"duration": 600}).json()
        task_in(http, running["task_id"], "running")
    # Stopping interrupted the running task: the user quit, so that is no news; and the
    # failed task's end is history, not news, when the app starts again.
    with serving(settings, recorder) as http:
        assert http.get(f"/tasks/{running['task_id']}").json()["status"] == "interrupted"
        marker = ended(http, FAILING)
        assert recorder.next().task_id == marker["task_id"]
        # Cleared history is gone from the watcher's memory too; nothing is told for it.
        assert http.delete("/tasks/finished").json()["removed"] == 3
        later = ended(http, FAILING)
        assert recorder.next().task_id == later["task_id"]


def test_notify_settings_are_kept_across_restarts(settings: Settings) -> None:
    with serving(settings, None) as http:
        assert http.get("/settings").json() == {
            "max_concurrent": None,
            "queue_paused": False,
            "notify": "all",
            "notify_min_seconds": 10.0,
            "executor": "local",
            "scheduler": None,
        }
        changed = http.put("/settings", json={"notify": "failures", "notify_min_seconds": 90})
        assert changed.json()["notify"] == "failures"
        # A queue change leaves them as they are, and the other way round.
        http.put("/settings", json={"max_concurrent": 2}).raise_for_status()
        assert http.put("/settings", json={"notify_min_seconds": 30}).json()["max_concurrent"] == 2
    with serving(settings, None) as http:
        assert http.get("/settings").json() == {
            "max_concurrent": 2,
            "queue_paused": False,
            "notify": "failures",
            "notify_min_seconds": 30.0,
            "executor": "local",
            "scheduler": None,
        }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notify": "sometimes"}, "notify"),
        ({"notify": None}, "notify"),
        ({"notify_min_seconds": -1}, "notify_min_seconds"),
        ({"notify_min_seconds": "10"}, "notify_min_seconds"),
        ({"notify_min_seconds": True}, "notify_min_seconds"),
    ],
)
def test_bad_notify_settings_are_refused_and_change_nothing(
    http: httpx.Client, body: dict, field: str
) -> None:
    answer = http.put("/settings", json=body)
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", field]
    assert http.get("/settings").json()["notify"] == "all"


def test_every_client_hears_of_a_notify_change(live_server: LiveServer) -> None:
    with live_server.client() as http, open_ws(live_server) as ws:
        assert next_message(ws)["settings"]["notify"] == "all"
        http.put("/settings", json={"notify": "never"}).raise_for_status()
        message = next_message(ws)
        assert message["type"] == "settings"
        assert message["settings"] == {"notify": "never", "notify_min_seconds": 10.0}


def test_unreadable_stored_notify_settings_fall_back_to_the_defaults(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(settings.db_path)
    store.write([("settings", [("notify", "loudly"), ("notify_min_seconds", -5)])])  # by hand
    store.close()
    with serving(settings, None) as http:
        answer = http.get("/settings").json()
    assert (answer["notify"], answer["notify_min_seconds"]) == ("all", 10.0)
    assert "ignoring the stored notify setting 'loudly'" in caplog.text
