"""Notices: when a task ends, a short message for whatever tells the user (a NoticeSink).

The watcher follows the hub as a WebSocket client does, so it sees exactly what clients see
and needs nothing from the engine but the ids of the tasks that had already ended when it
started (an ended task the engine publishes again, or one recovered as interrupted at
start-up, is no news). It keeps those ids, so each task is told about once. It runs only
when the app was given a sink (the desktop app gives one; `serve` does not), and stops
before the engine does: tasks interrupted because the user quits are not news to them.

What is worth a notice is the user's choice (web/notify_prefs.py), read at each end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from web.notify_prefs import NotifyPrefs
from web.realtime import Hub, Subscription

log = logging.getLogger(__name__)

# A cheap look before parsing: most messages are progress of running tasks. A match may
# still be a kind's parameter that happens to say so; the parsed task decides.
_ENDED = re.compile(r'"status":"(?:completed|failed|cancelled|interrupted)"')
FINAL = frozenset({"completed", "failed", "cancelled", "interrupted"})
OUTCOME_WORDS = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "was cancelled",
    "interrupted": "was interrupted",
}


@dataclass(frozen=True)
class Notice:
    task_id: str
    name: str  # what the dashboard shows for it: its name, else its command line
    outcome: str  # completed, failed, cancelled or interrupted
    seconds: float  # from its first start to its end; 0 if it never started
    error: str | None = None

    @property
    def title(self) -> str:
        return f"{self.name} {OUTCOME_WORDS[self.outcome]}"

    @property
    def body(self) -> str:
        ran = f"after {spoken_seconds(self.seconds)}" if self.seconds else "before it started"
        first_line = (self.error or "").strip().splitlines()[:1]
        return f"{self.outcome.capitalize()} {ran}" + (f": {first_line[0]}" if first_line else "")

    @classmethod
    def of(cls, task: dict[str, Any]) -> Notice:
        return cls(
            task_id=task["task_id"],
            name=task_label(task),
            outcome=task["status"],
            seconds=_ran_for(task.get("started_at"), task.get("finished_at")),
            error=task.get("error"),
        )


class NoticeSink(Protocol):
    def deliver(self, notice: Notice) -> None:
        """Tell the user; called on the event loop, so it must return at once."""


def task_label(task: dict[str, Any]) -> str:
    """What lists show for a task: its name, else a command task's command line, else its id."""
    if task.get("name"):
        return task["name"]
    command = task.get("params", {}).get("command") if task.get("kind") == "command" else None
    if command:
        line = command if isinstance(command, str) else shlex.join(command)
        return " ".join(line.split())  # one line, whatever the script's newlines
    return f"Task {task['task_id'][:8]}"


def spoken_seconds(seconds: float) -> str:
    """5400 -> "1h 30m", 90 -> "1m 30s", 4.2 -> "4.2s" (as the page's formatDuration says it)."""
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f}s"
    rest = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size or (unit == "s" and not parts):
            parts.append(f"{rest // size}{unit}")
            rest %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def _ran_for(started: str | None, finished: str | None) -> float:
    if not started or not finished:
        return 0.0
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return max(0.0, seconds)


class NoticeWatcher:
    def __init__(
        self,
        hub: Hub,
        sink: NoticeSink,
        prefs: Callable[[], NotifyPrefs],
        ended_ids: Callable[[], Iterable[str]],
    ) -> None:
        self._hub = hub
        self._sink = sink
        self._prefs = prefs
        self._ended_ids = ended_ids
        self._told: set[str] = set()  # tasks known to have ended: never told about again
        self._job: asyncio.Task[None] | None = None

    def start(self) -> None:
        # Subscribe and read what has ended with no await in between (as /ws takes its
        # snapshot): every later end is then in the subscription, and no earlier one is.
        sub = self._hub.subscribe()
        self._told = set(self._ended_ids())
        self._job = asyncio.create_task(self._follow(sub), name="notices")

    async def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            await asyncio.gather(self._job, return_exceptions=True)
            self._job = None

    async def _follow(self, sub: Subscription) -> None:
        try:
            while not sub.closed:
                batch = await sub.next_batch()
                if batch is None:
                    # This watcher fell behind and its backlog was dropped: whatever ended
                    # meanwhile goes untold rather than told twice.
                    log.warning("too many changes at once: some task ends were not notified")
                    self._told = set(self._ended_ids())
                    continue
                for message in batch:
                    self._look_at(message)
        finally:
            self._hub.unsubscribe(sub)

    def _look_at(self, message: str) -> None:
        if message.startswith('{"type":"removed"'):
            self._told.difference_update(json.loads(message)["task_ids"])
            return
        if not _ENDED.search(message):
            return
        parsed = json.loads(message)
        task = parsed.get("task")
        if parsed.get("type") != "task" or task["status"] not in FINAL:
            return
        if task["task_id"] in self._told:
            return
        self._told.add(task["task_id"])
        notice = Notice.of(task)
        if not self._prefs().wants(notice.outcome, notice.seconds):
            return
        try:
            self._sink.deliver(notice)
        except Exception:  # a notice that cannot go out is no reason to stop the others
            log.exception("could not deliver the notice for task %s", notice.task_id)
