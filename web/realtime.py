"""The realtime hub: the engine publishes task changes, each WebSocket client drains its own.

publish() never blocks and never awaits. Each subscriber keeps at most one pending message
per task (a newer change of the same task replaces the older one, which also coalesces
progress), so a slow client's backlog is bounded by the number of distinct tasks that
changed; past `max_pending` it is cleared and the client gets a fresh snapshot instead.

A client may ask for its messages in batches: after each frame the sender waits a few
milliseconds, and what gathered meanwhile goes out as one `batch` message. Every message
still means what it means alone; only the framing changes. Ten dashboards watching a burst
of adds cost the server ten frames per change without it, which is more than the adds
themselves (bench/).

A client may also follow the logs of a few tasks. Log text waits in a per-task backlog
capped in bytes; past the cap the client is told which byte range it missed (a "gap")
and fetches that part from the REST API instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from dataclasses import dataclass, field

# A snapshot carries the newest tasks only: 100,000 of them were 45 MB per connection.
# The page shows the first screen from it and pages the rest with GET /tasks/status.
SNAPSHOT_TASKS = 200

MAX_FOLLOWED = 16
MAX_TELLS = 16
MAX_BATCH_MS = 1000
LOG_BACKLOG_BYTES = 256 * 1024


@dataclass
class LogBacklog:
    start: int  # log offset of the first byte not yet sent to the client
    end: int  # log offset just past the last byte written
    parts: list[str] = field(default_factory=list)
    size: int = 0
    gap: bool = False  # bytes between start and end were dropped from the backlog
    announce: bool = True  # tell the client where the live stream starts, even if empty

    def message(self, task_id: str) -> str:
        text = "".join(self.parts)
        message = json.dumps(
            {
                "type": "log",
                "task_id": task_id,
                "offset": self.start,
                "next_offset": self.end,
                "text": "" if self.gap else text,
                "gap": self.gap,
            }
        )
        self.start, self.parts, self.size, self.gap, self.announce = self.end, [], 0, False, False
        return message

    @property
    def has_news(self) -> bool:
        return self.announce or self.gap or bool(self.parts)


class Subscription:
    def __init__(self, max_pending: int) -> None:
        self._max_pending = max_pending
        self._pending: dict[str, str] = {}
        self._ready = asyncio.Event()
        self.needs_snapshot = False
        self.closed = False
        self._closing = asyncio.Event()
        self.following: dict[str, LogBacklog] = {}
        self._told = itertools.count()
        self._untold = 0  # tell() messages waiting to be sent
        self.batch_seconds = 0.0  # 0: each message in a frame of its own, as it comes

    def offer(self, task_id: str, message: str) -> None:
        if self.needs_snapshot:
            return
        self._pending.pop(task_id, None)  # re-insert so order follows the latest change
        self._pending[task_id] = message
        if len(self._pending) > self._max_pending:
            self._pending.clear()
            self.needs_snapshot = True
        self._ready.set()

    def tell(self, message: str) -> None:
        """A message for this client alone (e.g. an answer to its request). A client that
        sends junk faster than it reads gets a few answers, not an ever-growing pile."""
        if self._untold >= MAX_TELLS:
            return
        self._untold += 1
        self._pending[f"tell:{next(self._told)}"] = message
        self._ready.set()

    def frames(self, batch: list[str]) -> list[str]:
        """The text of each frame that carries `batch` to this client."""
        if not self.batch_seconds or len(batch) < 2:
            return batch
        return ['{"type":"batch","messages":[' + ",".join(batch) + "]}"]

    def follow(self, task_id: str, log_end: int) -> None:
        """Start streaming a task's log from `log_end` (older text comes from REST)."""
        if task_id not in self.following and len(self.following) >= MAX_FOLLOWED:
            raise ValueError(f"a client may follow at most {MAX_FOLLOWED} logs at once")
        self.following[task_id] = LogBacklog(start=log_end, end=log_end)
        self._ready.set()

    def unfollow(self, task_id: str) -> None:
        self.following.pop(task_id, None)

    def offer_log(self, task_id: str, offset: int, text: str, size: int) -> None:
        backlog = self.following.get(task_id)
        if backlog is None:
            return
        if backlog.gap or backlog.size + size > LOG_BACKLOG_BYTES:
            backlog.parts.clear()
            backlog.size = 0
            backlog.gap = True
        else:
            backlog.parts.append(text)
            backlog.size += size
        backlog.end = offset + size
        self._ready.set()

    async def next_batch(self) -> list[str] | None:
        """Wait for messages; None means: send a snapshot first (the backlog was dropped)."""
        await self._ready.wait()
        self._ready.clear()
        if self.needs_snapshot:
            self.needs_snapshot = False
            return None
        batch = list(self._pending.values())
        self._pending.clear()
        self._untold = 0
        batch += [b.message(t) for t, b in self.following.items() if b.has_news]
        return batch

    async def pause(self, seconds: float) -> None:
        """Wait `seconds` (while a batch gathers), or until the subscription is closed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._closing.wait()

    def close(self) -> None:
        self.closed = True
        self._closing.set()
        self._ready.set()


class Hub:
    def __init__(self, max_pending: int = 1000) -> None:
        self._max_pending = max_pending
        self._subscribers: set[Subscription] = set()
        self.seq = 0

    def subscribe(self) -> Subscription:
        sub = Subscription(self._max_pending)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.close()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, task_id: str, task_json: str) -> None:
        """One delta for one task; the message text is built once and shared by every client."""
        self.seq += 1
        if not self._subscribers:
            return
        message = f'{{"type":"task","seq":{self.seq},"task":{task_json}}}'
        for sub in self._subscribers:
            sub.offer(task_id, message)

    def publish_removed(self, task_ids: list[str]) -> None:
        """Tasks deleted from the history (e.g. "clear finished")."""
        self.seq += 1
        ids = json.dumps(task_ids)
        message = f'{{"type":"removed","seq":{self.seq},"task_ids":{ids}}}'
        for sub in self._subscribers:
            sub.offer(f"removed:{self.seq}", message)

    def publish_log(self, task_id: str, offset: int, text: str, size: int) -> None:
        """`size` bytes of log text written at `offset`; only followers get it."""
        for sub in self._subscribers:
            sub.offer_log(task_id, offset, text, size)

    def publish_settings(self, settings: dict, topic: str = "queue") -> None:
        """Settings changed (the queue's limit and pause, the notify choice): the changed
        keys only. Coalesced like a task's changes, per `topic`: the latest change of one
        group of keys replaces the older one, never a change of another group."""
        self.seq += 1
        message = json.dumps({"type": "settings", "seq": self.seq, "settings": settings})
        for sub in self._subscribers:
            sub.offer(f"settings:{topic}", message)

    def publish_executors(self, executors: list[dict]) -> None:
        """The executors' state changed (a cluster connected, lost, gained workers)."""
        self.seq += 1
        message = json.dumps({"type": "executors", "seq": self.seq, "executors": executors})
        for sub in self._subscribers:
            sub.offer("executors", message)

    def snapshot_message(
        self, task_jsons: list[bytes], settings: dict, total: int, counts: dict[str, int]
    ) -> str:
        return (
            f'{{"type":"snapshot","seq":{self.seq},"settings":{json.dumps(settings)},'
            f'"total":{total},"counts":{json.dumps(counts, separators=(",", ":"))},'
            f'"tasks":[{b",".join(task_jsons).decode()}]}}'
        )

    def close_all(self) -> None:
        for sub in list(self._subscribers):
            self.unsubscribe(sub)
