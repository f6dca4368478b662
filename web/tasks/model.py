"""Task, its statuses, and the one table that says which status changes are legal.

Tasks are immutable values; every change makes a new Task, and transition() is the only
function that makes one with a different status.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


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
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    def with_progress(self, progress: float) -> Task:
        """`progress` is a fraction 0..1 (the engine clamps what kinds report)."""
        return dataclasses.replace(self, progress=progress)

    @property
    def public(self) -> dict[str, Any]:
        """The task object of the API contract (the engine keeps each task's as JSON)."""
        return {
            "task_id": self.task_id,
            "name": self.name,
            "kind": self.kind,
            "duration": self.duration,
            "status": self.status.value,
            "progress": round(self.progress, 4),
            "priority": self.priority,
            "created_at": iso(self.created_at),
            "run_at": iso(self.run_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "params": self.params,
            "after": list(self.after),
            "retry_of": self.retry_of,
            # Where a queued task stands in line; it moves as others start, so the engine
            # fills it in when it renders a queued task (see TaskEngine.render).
            "queue_position": None,
        }

    def to_json(self, **overrides: Any) -> bytes:
        """public (with `overrides`) as compact UTF-8 JSON."""
        public = {**self.public, **overrides} if overrides else self.public
        try:
            return json.dumps(public, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            # Half a surrogate pair, from a history written before the API refused them:
            # escaped, the JSON stays valid and loses nothing.
            return json.dumps(public, separators=(",", ":")).encode()


def transition(task: Task, target: TaskStatus, **changes: Any) -> Task:
    """The only way to change a task's status; raises IllegalTransition if the table forbids it."""
    if target not in TRANSITIONS[task.status]:
        raise IllegalTransition(task, target)
    return dataclasses.replace(task, status=target, **changes)
