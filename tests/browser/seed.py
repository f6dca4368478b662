"""A task history written straight into a data dir, before a server opens it.

Used by the browser tests, the export and stats tests and bench/ (dashboard_render, stats):
10,000 tasks through the API would take longer than the test itself. Finished tasks are
stored with their JSON, as the engine keeps them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

from web.store import Store
from web.tasks.model import Task, TaskStatus

NAMES = ("Nightly backup", "Re-index search", "Resize images", "Export report", "Sync mailbox")
# Finished statuses only: a stored "running" task becomes "interrupted" when the server starts.
CYCLE = (
    TaskStatus.COMPLETED,
    TaskStatus.COMPLETED,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
    TaskStatus.INTERRUPTED,
)


def history_task(i: int, first: float, spacing: float = 5.0) -> Task:
    """Task number i of a history whose task 0 was created at `first`, the next ones
    `spacing` seconds apart (created_at grows with i, so task 0 is the oldest)."""
    status = CYCLE[i % len(CYCLE)]
    created = first + i * spacing
    duration = float(30 + (i * 37) % 600)
    ran = duration if status is TaskStatus.COMPLETED else duration * 0.4
    return Task(
        task_id=hashlib.sha256(str(i).encode()).hexdigest()[:32],
        name=f"{NAMES[i % len(NAMES)]} #{i}",
        kind="timer",
        duration=duration,
        status=status,
        created_at=created,
        started_at=created + 1,
        finished_at=created + 1 + ran,
        progress=1.0 if status is TaskStatus.COMPLETED else 0.4,
        error={
            TaskStatus.FAILED: "disk quota exceeded on /var/backups",
            TaskStatus.INTERRUPTED: "the app stopped while this task was running",
        }.get(status),
    )


def seed_history(
    db_path: Path, count: int, *, first: float | None = None, spacing: float = 5.0
) -> None:
    """`count` tasks, from `first` on (by default a day ago), `spacing` seconds apart."""
    if first is None:
        first = time.time() - 86_400
    store_tasks(db_path, (history_task(i, first, spacing) for i in range(count)))


def store_tasks(db_path: Path, tasks: Iterable[Task]) -> None:
    """These tasks as the history's, oldest first (seqs 1, 2, ...)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = Store.open(db_path)
    try:
        rows = [(i + 1, t, t.to_json() if t.status.is_final else None) for i, t in enumerate(tasks)]
        store.write([("insert", rows)])
    finally:
        store.close()
