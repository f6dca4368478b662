"""WebSocket clients that keep a view of the tasks, as the dashboard does: the snapshot, then
every delta applied to it. Each churns (leaves after a while and comes back, rebuilding its
view from the new snapshot) until told to stay; a view that then differs from the server's
list lost a delta (bench/soak.py).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

RECV_POLL = 0.2  # how soon a client waiting for a frame notices it was told to leave or stay


@dataclass
class Counts:
    connections: int = 0
    snapshots: int = 0  # one per connection, plus any the server sent a client that fell behind
    deltas: int = 0  # task messages applied
    removals: int = 0  # removed messages applied
    batches: int = 0
    seq_regressions: int = 0  # a seq not above the one before it on the same connection


class Viewer:
    """One client in a thread of its own. `stay` None: connected throughout (never churns);
    else each connection lasts a random time up to `stay` seconds."""

    def __init__(
        self, name: str, url: str, headers: Mapping[str, str], stay: float | None, seed: int
    ) -> None:
        self.name = name
        self._url = url
        self._headers = dict(headers)
        self._stay = stay
        self._rng = random.Random(seed)
        self.batching = seed % 2 == 1  # half ask for batches, as the dashboard does
        self.counts = Counts()
        self.error: BaseException | None = None
        self.staying = threading.Event()  # told to settle, and connected for good
        self._lock = threading.Lock()
        self._tasks: dict[str, dict] = {}
        self._seq = -1
        self._settling = threading.Event()  # stay connected from now on
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"soak-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def settle(self) -> None:
        """Stop churning: keep (or make, if between two) a connection to the end; `staying`
        is set once it does."""
        self._settling.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def view(self) -> dict[str, dict]:
        with self._lock:
            return dict(self._tasks)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._connection()
        except BaseException as exc:  # reported by the soak, which then fails
            self.error = exc

    def _connection(self) -> None:
        leave_after = None if self._stay is None else self._rng.uniform(0.05, self._stay)
        # No cap on the frames read ahead: with one, a client that leaves stops reading the
        # frames already on their way, and its close waits behind them for the timeout.
        with connect(
            self._url, additional_headers=self._headers, max_size=None, max_queue=None
        ) as ws:
            self.counts.connections += 1
            self._seq = -1
            self._apply(json.loads(ws.recv(timeout=30)), first=True)
            if self.batching:
                ws.send(json.dumps({"type": "batch", "ms": 20}))
            leave_at = None if leave_after is None else time.monotonic() + leave_after
            while not self._stop.is_set():
                if self._settling.is_set():
                    self.staying.set()  # from here on this connection lasts to the end
                elif leave_at is not None and time.monotonic() >= leave_at:
                    break
                try:
                    frame = ws.recv(timeout=RECV_POLL)
                except TimeoutError:
                    continue
                except ConnectionClosed:
                    if self._stop.is_set():
                        return
                    raise
                self._apply(json.loads(frame))
            with contextlib.suppress(ConnectionClosed):
                ws.close()

    def _apply(self, message: dict, first: bool = False) -> None:
        kind = message.get("type")
        if first and kind != "snapshot":
            raise RuntimeError(f"{self.name}: the first message was {kind!r}, not a snapshot")
        if (seq := message.get("seq")) is not None:
            # A snapshot carries the seq of the last change in it; each change after it a
            # higher one. Coalescing skips numbers but never goes back.
            if seq < self._seq or (seq == self._seq and kind != "snapshot"):
                self.counts.seq_regressions += 1
            self._seq = seq
        with self._lock:
            if kind == "snapshot":
                self._tasks = {task["task_id"]: task for task in message["tasks"]}
                self.counts.snapshots += 1
            elif kind == "task":
                task = message["task"]
                self._tasks[task["task_id"]] = task
                self.counts.deltas += 1
            elif kind == "removed":
                for task_id in message["task_ids"]:
                    self._tasks.pop(task_id, None)
                self.counts.removals += 1
        if kind == "batch":
            self.counts.batches += 1
            for inner in message["messages"]:
                self._apply(inner)
        # settings and error messages do not touch the tasks


def first_difference(view: Mapping[str, dict], server: Mapping[str, dict]) -> str | None:
    """The first way `view` differs from `server` (task_id -> task), in words; None if equal."""
    for task_id in sorted(server.keys() - view.keys()):
        return f"task {task_id} ({server[task_id]['status']}) is missing from the view"
    for task_id in sorted(view.keys() - server.keys()):
        return f"task {task_id} ({view[task_id]['status']}) is in the view but not on the server"
    for task_id in sorted(server):
        mine, theirs = view[task_id], server[task_id]
        for key in sorted(mine.keys() | theirs.keys()):
            if mine.get(key, "<absent>") != theirs.get(key, "<absent>"):
                return (
                    f"task {task_id}: {key} is {mine.get(key, '<absent>')!r} in the view, "
                    f"{theirs.get(key, '<absent>')!r} on the server"
                )
    return None
