"""The /ws endpoint: a snapshot, then one delta per task change, from the hub.

The snapshot holds the newest SNAPSHOT_TASKS tasks (newest first), with `total` and
`counts` as GET /tasks/status gives them; older tasks are paged with GET /tasks/status
(limit, offset, and the status, kind and q filters).

Clients may send {"type": "follow", "task_id": ...} to stream a task's log (and
{"type": "unfollow", ...} to stop), and {"type": "batch", "ms": n} to get what gathers
within n ms as one {"type": "batch", "messages": [...]} (0: one message per frame again);
anything else gets an error message back and is otherwise ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.datastructures import State

from web.notify_prefs import NotifyPrefsBook
from web.realtime import MAX_BATCH_MS, SNAPSHOT_TASKS, Hub, Subscription
from web.store import StoreError
from web.tasks.engine import TaskEngine, TaskNotFound
from web.tasks.listing import Wanted

router = APIRouter()


def snapshot(state: State) -> str:
    """The newest SNAPSHOT_TASKS tasks, how many there are in all and by status, and every
    setting (the queue's and the notify choice)."""
    engine: TaskEngine = state.engine
    notify: NotifyPrefsBook = state.notify
    tasks, total = engine.listing.page(Wanted(limit=SNAPSHOT_TASKS))
    settings = {**engine.queue.public, **notify.current.public}
    return state.hub.snapshot_message(tasks, settings, total, engine.counts())


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state = websocket.app.state
    hub: Hub = state.hub
    engine: TaskEngine = state.engine
    # Subscribe and take the snapshot with no await in between: every change after the
    # snapshot is then in the subscription, and none before it is sent twice.
    sub = hub.subscribe()
    first = snapshot(state)
    try:
        await websocket.accept()
        outgoing = _Outgoing(websocket)
        jobs = {
            asyncio.create_task(_send(sub, state, outgoing, first)),
            asyncio.create_task(_read(websocket, sub, engine)),
            asyncio.create_task(_watch(outgoing, state.ws_send_timeout)),
        }
        try:
            done, _ = await asyncio.wait(jobs, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this endpoint is cancelled (the server shutting down)
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
        for job in done:
            # A client that vanished or stopped reading is simply dropped.
            if (exc := job.exception()) and not isinstance(exc, _GONE):
                raise exc
    except _GONE:
        pass
    finally:
        hub.unsubscribe(sub)
        with contextlib.suppress(Exception):
            await websocket.close()


_GONE = (WebSocketDisconnect, TimeoutError, ConnectionError, RuntimeError)


# An ASGI extension of the server's (desktop_app/wsframes.py): several text messages in one
# ASGI message, each still a frame of its own. Without it (another server, a test client)
# each goes out in a `websocket.send` of its own.
SEND_TEXTS = "task_dashboard.websocket.send_texts"
# At most this many frames in one such message (~50 KB of task changes, about what uvicorn
# lets a transport hold before it waits for the reader): a client that reads slowly is
# waited for between them, and a backlog of thousands is not copied into one write.
TEXTS_AT_ONCE = 128


class _Outgoing:
    """Sends frames, noting when the ones going out now started to (loop time; None
    between batches) for the watchdog."""

    __slots__ = ("_at_once", "_loop", "_websocket", "since")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._loop = asyncio.get_running_loop()
        self._at_once = SEND_TEXTS in (websocket.scope.get("extensions") or {})
        self.since: float | None = None

    async def send(self, frames: list[str]) -> None:
        if not frames:
            return
        if self._at_once:
            for start in range(0, len(frames), TEXTS_AT_ONCE):
                self.since = self._loop.time()
                texts = frames[start : start + TEXTS_AT_ONCE]
                try:
                    # Past WebSocket.send(), which lets only the standard messages through
                    # (its state is left as it was: the connection is closed after this).
                    await self._websocket._send({"type": SEND_TEXTS, "texts": texts})
                except OSError:  # the client is gone: what WebSocket.send() makes of it
                    raise WebSocketDisconnect(1006) from None
        else:
            for frame in frames:
                self.since = self._loop.time()
                await self._websocket.send_text(frame)
        self.since = None


async def _send(sub: Subscription, state: State, out: _Outgoing, first: str) -> None:
    await out.send([first])
    while not sub.closed:
        batch = await sub.next_batch()
        if sub.closed:
            return
        await out.send([snapshot(state)] if batch is None else sub.frames(batch))
        if sub.batch_seconds:
            # The first change after a quiet spell goes out at once; what follows it within
            # the window waits and goes out together.
            await sub.pause(sub.batch_seconds)


async def _watch(out: _Outgoing, send_timeout: float) -> None:
    """TimeoutError once a frame has taken `send_timeout` (and up to a tenth more) to go
    out: the client has stopped reading, and is dropped. One look every tenth of it, rather
    than a deadline for each frame: a timer cost 3.5 us, and with a frame per change to
    each of ten clients, a deadline per frame was a tenth of an add (bench/)."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(send_timeout / 10)
        since = out.since
        if since is not None and loop.time() - since > send_timeout:
            raise TimeoutError(f"a frame took longer than {send_timeout} s to go out")


async def _read(websocket: WebSocket, sub: Subscription, engine: TaskEngine) -> None:
    """Follow requests; reading also notices when the client leaves."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        problem = await _handle(message.get("text"), sub, engine)
        if problem is not None:
            sub.tell(json.dumps({"type": "error", "detail": problem}))


async def _handle(text: str | None, sub: Subscription, engine: TaskEngine) -> str | None:
    """Apply one client request; returns what was wrong with it, if anything."""
    try:
        request = json.loads(text or "")
        kind = request["type"]
        if kind == "batch":
            return _batch(request.get("ms"), sub)
        task_id = request["task_id"]
    except (ValueError, KeyError, TypeError):
        return 'send JSON like {"type": "follow", "task_id": "..."} or {"type": "batch", "ms": 20}'
    if kind == "unfollow":
        sub.unfollow(str(task_id))
        return None
    if kind != "follow":
        return f"unknown request type {kind!r}; use follow, unfollow or batch"
    try:
        await engine.find(str(task_id))
        sub.follow(task_id, engine.logs.end(task_id))
    except (TaskNotFound, StoreError, ValueError) as exc:
        return str(exc)
    return None


def _batch(ms: object, sub: Subscription) -> str | None:
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms <= MAX_BATCH_MS:
        return f"batch ms must be a number of milliseconds from 0 to {MAX_BATCH_MS}"
    sub.batch_seconds = ms / 1000
    return None
