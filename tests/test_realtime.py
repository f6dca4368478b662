"""/ws on a real uvicorn server: snapshot, deltas, restart, and slow clients."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from desktop_app.wsframes import TextsWebSocketProtocol
from tests.conftest import TOKEN, LiveServer
from tests.reliability.rawws import RawClient
from tests.waiting import until
from web.realtime import Hub
from web.settings import Settings
from web.tasks.model import TaskStatus
from web.ws import SEND_TEXTS, TEXTS_AT_ONCE


def open_ws(server: LiveServer) -> ClientConnection:
    return connect(server.ws_url, additional_headers=server.headers, open_timeout=10)


def next_message(ws: ClientConnection, deadline: float = 10) -> dict:
    return json.loads(ws.recv(timeout=deadline))


def wait_for(ws: ClientConnection, predicate, deadline: float = 10) -> dict:
    """Read deltas until one matches, within a deadline."""
    end = time.monotonic() + deadline
    while True:
        message = next_message(ws, max(0.01, end - time.monotonic()))
        if predicate(message):
            return message


def is_task(task_id: str, status: str):
    def match(m: dict) -> bool:
        return (
            m["type"] == "task"
            and m["task"]["task_id"] == task_id
            and (m["task"]["status"] == status)
        )

    return match


def test_snapshot_then_deltas_for_add_progress_and_cancel(live_server: LiveServer) -> None:
    with live_server.client() as http, open_ws(live_server) as ws:
        first = next_message(ws)
        assert first == {
            "type": "snapshot",
            "seq": first["seq"],
            "settings": {
                "max_concurrent": None,
                "queue_paused": False,
                "notify": "all",
                "notify_min_seconds": 10.0,
            },
            "total": 0,
            "counts": dict.fromkeys(TaskStatus, 0),
            "tasks": [],
        }
        task = http.post("/tasks/add", json={"duration": 10, "name": "watch me"}).json()
        running = wait_for(ws, is_task(task["task_id"], "running"))
        assert running["seq"] > first["seq"]
        moving = wait_for(
            ws, lambda m: m["type"] == "task" and m["task"]["progress"] > 0, deadline=5
        )
        assert moving["task"]["task_id"] == task["task_id"]
        status = http.get("/tasks/status", params={"status": "running"}).json()
        assert status["tasks"][0]["progress"] > 0
        http.post("/tasks/cancel", json={"task_id": task["task_id"]})
        cancelled = wait_for(ws, is_task(task["task_id"], "cancelled"))
        assert cancelled["seq"] > moving["seq"]


def test_a_second_client_gets_the_current_state_in_its_snapshot(live_server: LiveServer) -> None:
    with live_server.client() as http:
        task = http.post("/tasks/add", json={"duration": 30}).json()
        with open_ws(live_server) as ws:
            snapshot = next_message(ws)
        assert [t["task_id"] for t in snapshot["tasks"]] == [task["task_id"]]
        assert snapshot["tasks"][0]["status"] == "running"


def test_history_survives_a_restart(live_server: LiveServer) -> None:
    with live_server.client() as http:
        done = http.post("/tasks/add", json={"duration": 0.05, "name": "quick"}).json()
        running = http.post("/tasks/add", json={"duration": 600, "name": "long"}).json()
        waiting = http.post("/tasks/add", json={"duration": 0.05, "delay": 1}).json()
        end = time.monotonic() + 10
        while http.get(f"/tasks/{done['task_id']}").json()["status"] != "completed":
            assert time.monotonic() < end, "the quick task never completed"
    live_server.restart()
    with live_server.client() as http, open_ws(live_server) as ws:
        snapshot = {t["task_id"]: t for t in next_message(ws)["tasks"]}
        assert snapshot[done["task_id"]]["status"] == "completed"
        assert snapshot[running["task_id"]]["status"] == "interrupted"
        assert snapshot[running["task_id"]]["name"] == "long"
        assert snapshot[waiting["task_id"]]["status"] in ("scheduled", "running", "completed")
        if snapshot[waiting["task_id"]]["status"] != "completed":
            wait_for(ws, is_task(waiting["task_id"], "completed"), deadline=15)
        assert http.get("/tasks/status").json()["total"] == 3


def requests_applied(ws: ClientConnection) -> None:
    """Wait until the server has handled every request sent so far: requests are handled in
    order, so the error for a junk one comes after them."""
    ws.send("junk")
    wait_for(ws, lambda m: m["type"] == "error")


def test_a_client_may_take_its_messages_in_batches(live_server: LiveServer) -> None:
    with live_server.client() as http, open_ws(live_server) as ws:
        next_message(ws)
        http.post("/queue/pause")
        ids = [http.post("/tasks/add", json={"duration": 60}).json()["task_id"] for _ in range(3)]
        wait_for(ws, is_task(ids[-1], "queued"))
        ws.send(json.dumps({"type": "batch", "ms": 50}))
        requests_applied(ws)
        http.post("/queue/resume")  # one request, four changes: the queue and three starts
        batch = next_message(ws)
        assert batch["type"] == "batch"
        kinds = [(m["type"], m.get("task", {}).get("task_id")) for m in batch["messages"]]
        assert sorted(kinds, key=str) == sorted(
            [("settings", None)] + [("task", i) for i in ids], key=str
        )
        seqs = [m["seq"] for m in batch["messages"]]
        assert seqs == sorted(seqs), "messages keep their order inside a batch"
        # Back to one frame per message.
        ws.send(json.dumps({"type": "batch", "ms": 0}))
        requests_applied(ws)
        for task_id in ids[:2]:
            http.post("/tasks/cancel", json={"task_id": task_id})
        assert [next_message(ws)["type"] for _ in ids[:2]] == ["task", "task"]


@pytest.mark.parametrize("server_ws", ["ours", "uvicorn's own"])
def test_a_plain_client_gets_each_message_in_a_frame_of_its_own(
    settings: Settings, server_ws: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our server hands a sender's frames to the protocol in one go (desktop_app/wsframes.py);
    on uvicorn's own protocol each goes out alone. Either way a client reads the same: one
    message per frame, in order, of every length (a snapshot longer than 65,535 bytes, task
    messages, an error shorter than 126)."""
    handed_over: list[int] = []  # how many texts each of our protocol's messages held
    send = TextsWebSocketProtocol.send

    async def counting(self: TextsWebSocketProtocol, message: Any) -> None:
        if message["type"] == SEND_TEXTS:
            handed_over.append(len(message["texts"]))
        await send(self, message)

    monkeypatch.setattr(TextsWebSocketProtocol, "send", counting)
    options = {} if server_ws == "ours" else {"ws": "websockets-sansio"}
    server = LiveServer(settings, uvicorn_options=options).start()
    try:
        with server.client() as http:
            http.post("/queue/pause")
            ids = [
                http.post(
                    "/tasks/add", json={"duration": 60, "name": f"{i:03} " + "n" * 190}
                ).json()["task_id"]
                for i in range(150)
            ]
            with open_ws(server) as ws:
                first = ws.recv(timeout=10)
                assert len(first.encode()) > 65535
                assert json.loads(first)["total"] == len(ids)
                ws.send(json.dumps({"type": "batch", "ms": -1}))
                assert next_message(ws)["type"] == "error"
                http.post("/queue/resume")  # one request, 151 changes in one turn of the loop
                messages = [next_message(ws) for _ in range(len(ids) + 1)]
    finally:
        server.stop()
    started = [m["task"]["task_id"] for m in messages if m["type"] == "task"]
    assert sorted(started) == sorted(ids)
    assert all(m["task"]["status"] == "running" for m in messages if m["type"] == "task")
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs)
    if server_ws == "ours":  # the changes went over in a few hand-overs, none too big
        assert max(handed_over) == TEXTS_AT_ONCE and sum(handed_over) == len(messages) + 2
    else:
        assert handed_over == []


@pytest.mark.parametrize("ms", [-1, 1001, "20", True, None, [20], "missing"])
def test_a_bad_batch_request_is_explained(live_server: LiveServer, ms: object) -> None:
    with open_ws(live_server) as ws:
        next_message(ws)
        ws.send(json.dumps({"type": "batch"} if ms == "missing" else {"type": "batch", "ms": ms}))
        assert next_message(ws) == {
            "type": "error",
            "detail": "batch ms must be a number of milliseconds from 0 to 1000",
        }


@pytest.fixture
def small_backlog(settings: Settings) -> Settings:
    return replace(settings, ws_max_pending=20)


def test_a_client_that_never_reads_does_not_delay_others(small_backlog: Settings) -> None:
    server = LiveServer(small_backlog).start(send_buffer=16 * 1024)
    # Handshake done, then never a byte read; a tiny receive buffer backs it up sooner.
    stalled = RawClient(server.port, TOKEN, rcvbuf=4096).sock
    try:
        with server.client() as http, open_ws(server) as ws:
            next_message(ws)
            hub: Hub = server.thread.app.state.hub  # type: ignore[union-attr]
            assert hub.subscriber_count == 2
            name = "n" * 200  # big deltas fill the stalled client's socket sooner
            for _ in range(300):
                task = http.post("/tasks/add", json={"duration": 600, "name": name}).json()
                # Each change reaches the reading client while the other one is stuck.
                wait_for(ws, is_task(task["task_id"], "running"), deadline=5)
            stuck = [s for s in hub._subscribers if s.needs_snapshot]
            assert stuck, "the stalled client should have been switched to a snapshot"
    finally:
        stalled.close()
        server.stop()


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    settings: Settings,
) -> None:
    server = LiveServer(replace(settings, ws_send_timeout=1.0)).start(send_buffer=16 * 1024)
    # The handshake and the snapshot, then never a byte read: once a frame cannot go out
    # for the send timeout, the server drops the client (and its socket is still open).
    stalled = RawClient(server.port, TOKEN, rcvbuf=4096)
    try:
        assert stalled.read_frame() is not None
        with server.client() as http, open_ws(server) as ws:
            next_message(ws)
            hub: Hub = server.thread.app.state.hub  # type: ignore[union-attr]
            name = "n" * 200  # big deltas back the stalled client up sooner

            def dropped() -> bool:
                http.post("/tasks/add", json={"duration": 600, "name": name})
                return hub.subscriber_count == 1

            until(dropped, 30, "the stalled client to be dropped")
            task = http.post("/tasks/add", json={"duration": 600}).json()
            wait_for(ws, is_task(task["task_id"], "running"), deadline=30)  # the other goes on
    finally:
        stalled.close()
        server.stop()


def test_overflowing_subscription_asks_for_a_snapshot() -> None:
    import asyncio

    async def scenario() -> None:
        hub = Hub(max_pending=3)
        sub = hub.subscribe()
        for i in range(3):
            hub.publish(f"t{i}", "{}")
        hub.publish("t0", "{}")  # replaces, does not grow
        assert len(await sub.next_batch() or []) == 3
        for i in range(4):
            hub.publish(f"t{i}", "{}")
        assert await sub.next_batch() is None  # backlog dropped: resync
        hub.publish("t9", '{"x":1}')
        batch = await sub.next_batch()
        assert batch == ['{"type":"task","seq":9,"task":{"x":1}}']

    asyncio.run(scenario())


def test_a_closed_subscription_stops_waiting_for_its_next_batch() -> None:
    import asyncio

    async def scenario() -> None:
        sub = Hub().subscribe()
        pausing = asyncio.create_task(sub.pause(60))
        await asyncio.sleep(0)
        sub.close()
        await asyncio.wait_for(pausing, 5)  # at once, not after the minute

    asyncio.run(scenario())


def test_answers_to_a_client_are_capped() -> None:
    import asyncio

    from web.realtime import MAX_TELLS

    async def scenario() -> None:
        sub = Hub().subscribe()
        for _ in range(MAX_TELLS * 10):
            sub.tell('{"type":"error"}')
        assert len(await sub.next_batch() or []) == MAX_TELLS

    asyncio.run(scenario())
