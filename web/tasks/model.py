"""Task, its statuses, and the one table that says which status changes are legal.

Tasks are immutable values; every change makes a new Task, and transition() is the only
function that makes one with a different status.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import operator
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple


class TaskStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its start time or for the tasks it runs after
    QUEUED = "queued"  # waiting for a free slot
    RUNNING = "running"
    PAUSED = "paused"  # stopped part-way by the user; keeps its progress
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # was running when the app stopped

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.INTERRUPTED}
)

S = TaskStatus
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED, S.FAILED}),
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    S.RUNNING: frozenset({S.COMPLETED, S.CANCELLED, S.FAILED, S.INTERRUPTED, S.PAUSED}),
    # Resuming goes through the queue: a paused task needs a free slot like any other.
    S.PAUSED: frozenset({S.QUEUED, S.CANCELLED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
    S.INTERRUPTED: frozenset(),
}


class TaskConflict(Exception):
    """The task is in the wrong state for what was asked (HTTP 409)."""


class IllegalTransition(TaskConflict):
    def __init__(self, task: Task, target: TaskStatus) -> None:
        self.task = task
        self.target = target
        if task.status.is_final:
            reason = f"task {task.task_id} is already {task.status}"
        else:
            reason = f"task {task.task_id} is {task.status} and cannot become {target}"
        super().__init__(reason)


def iso(ts: float | None) -> str | None:
    """ISO 8601 in UTC to the millisecond, as datetime.fromtimestamp(ts, UTC) would say it:
    its rounding to the microsecond first, then the milliseconds cut off."""
    if ts is None:
        return None
    fraction, whole = math.modf(ts)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        micro, whole = micro - 1_000_000, whole + 1
    elif micro < 0:
        micro, whole = micro + 1_000_000, whole - 1
    # Most times in a burst share their second: its text is made once (a fifth of an add's
    # JSON went to datetime objects; bench/).
    return f"{_second(int(whole))}.{micro // 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(whole: int) -> str:
    # From the epoch, not fromtimestamp(): Windows refuses times before 1970 there. And
    # isoformat, not strftime: its %Y writes the year 999 as "999".
    return (_EPOCH + timedelta(seconds=whole)).isoformat()[:19]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Encoders(NamedTuple):
    text: Callable[[str], str]  # a str as a JSON string, quotes included
    value: Callable[[Any], str]  # anything JSON can hold


def _encoder(ensure_ascii: bool) -> _Encoders:
    """json's own encoders (C), compact: UTF-8 as it is, or everything beyond ASCII
    escaped. `value` calls json's C encoder straight, made once: JSONEncoder.encode() makes
    one per call (2 of the 10 us a task's JSON took; bench/). Without the check for
    circular references, which params cannot have (they come from JSON)."""
    text = (
        json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
        if ensure_ascii
        else json.encoder.encode_basestring  # type: ignore[attr-defined]
    )
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii)
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # a Python without json's C accelerator
        return _Encoders(text, encoder.encode)
    encode = make(None, encoder.default, text, None, ":", ",", False, False, True)
    return _Encoders(text, lambda value: "".join(encode(value, 0)))


_UTF8 = _encoder(ensure_ascii=False)
_ASCII = _encoder(ensure_ascii=True)


@dataclasses.dataclass(frozen=True, slots=True)  # slots: a third less memory per version
class Task:
    task_id: str
    name: str
    kind: str
    duration: float | None
    status: TaskStatus
    created_at: float
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    progress: float = 0.0
    priority: int = 0
    run_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    # Tasks that must complete before this one may start.
    after: tuple[str, ...] = ()
    # Seconds spent running before the current run (pausing keeps it; resuming adds to it).
    elapsed: float = 0.0
    retry_of: str | None = None
    # Where it runs: "local" (this process) or a cluster executor; and, once known there,
    # the worker running it.
    executor: str = "local"
    worker: str | None = None

    def __reduce__(self) -> tuple[type[Task], tuple[Any, ...]]:
        # Every change crosses to the database's writer by pickle (web/writer.py): the
        # fields in order took a third of the time of the dataclass's __getstate__.
        return Task, _FIELDS(self)

    def with_progress(self, progress: float) -> Task:
        """`progress` is a fraction 0..1 (the engine clamps what kinds report)."""
        return dataclasses.replace(self, progress=progress)

    def to_json(self, queue_position: int | None = None) -> bytes:
        """The task object of the API contract as compact UTF-8 JSON. `queue_position` is
        where a queued task stands in line; it moves as others start, so the engine fills
        it in when it renders a queued task (see TaskEngine.render)."""
        try:
            return self._render(queue_position, _UTF8).encode()
        except UnicodeEncodeError:
            # Half a surrogate pair, from a history written before the API refused them:
            # escaped, the JSON stays valid and loses nothing.
            return self._render(queue_position, _ASCII).encode()

    def _render(self, queue_position: int | None, enc: _Encoders) -> str:
        # Written out rather than json.dumps of a dict: this runs for every change of every
        # task, and the dict and the generic encoder were the largest cost of an add (bench/).
        text, value = enc
        return (
            f'{{"task_id":{text(self.task_id)},"name":{text(self.name)},'
            f'"kind":{text(self.kind)},"duration":{value(self.duration)},'
            f'"status":"{self.status.value}","progress":{round(self.progress, 4)!r},'
            f'"priority":{self.priority},"created_at":{_time(self.created_at)},'
            f'"run_at":{_time(self.run_at)},"started_at":{_time(self.started_at)},'
            f'"finished_at":{_time(self.finished_at)},"error":{_optional(self.error, text)},'
            f'"params":{value(self.params)},"after":[{",".join(map(text, self.after))}],'
            f'"retry_of":{_optional(self.retry_of, text)},"elapsed":{self.elapsed!r},'
            f'"executor":{text(self.executor)},"worker":{_optional(self.worker, text)},'
            f'"queue_position":{"null" if queue_position is None else int(queue_position)}}}'
        )


_FIELDS = operator.attrgetter(*(field.name for field in dataclasses.fields(Task)))


def finished_task(rendered: bytes) -> Task:
    """A finished task back from its JSON, as memory and the history keep it (its times
    to the millisecond)."""
    data = json.loads(rendered)
    return Task(
        task_id=data["task_id"],
        name=data["name"],
        kind=data["kind"],
        duration=data["duration"],
        status=TaskStatus(data["status"]),
        created_at=_seconds(data["created_at"]) or 0.0,
        params=data["params"],
        progress=data["progress"],
        priority=data["priority"],
        run_at=_seconds(data["run_at"]),
        started_at=_seconds(data["started_at"]),
        finished_at=_seconds(data["finished_at"]),
        error=data["error"],
        after=tuple(data["after"]),
        elapsed=data["elapsed"],
        retry_of=data["retry_of"],
        # Not in the JSON of tasks that finished before there were executors.
        executor=data.get("executor", "local"),
        worker=data.get("worker"),
    )


def _seconds(text: str | None) -> float | None:
    # The middle of the millisecond written: far from the epoch a float cannot hold the
    # millisecond itself, and the nearest one below would be written one lower.
    if text is None:
        return None
    micro = (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1)
    return (micro + 500) / 1e6


def _time(ts: float | None) -> str:
    return "null" if ts is None else f'"{iso(ts)}"'


def _optional(text: str | None, encode: Callable[[str], str]) -> str:
    return "null" if text is None else encode(text)


def transition(task: Task, target: TaskStatus, **changes: Any) -> Task:
    """The only way to change a task's status; raises IllegalTransition if the table forbids it."""
    if target not in TRANSITIONS[task.status]:
        raise IllegalTransition(task, target)
    return dataclasses.replace(task, status=target, **changes)
