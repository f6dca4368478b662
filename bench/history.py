"""A long history written straight into a data dir before its server starts, as months of
use would leave it: finished tasks, one in ten failed."""

from __future__ import annotations

from pathlib import Path

from web.store import Store
from web.tasks.model import Task, TaskStatus

START = 1_800_000_000.0


def history_task(i: int) -> Task:
    status = TaskStatus.FAILED if i % 10 == 0 else TaskStatus.COMPLETED
    return Task(
        task_id=f"old{i:06d}",
        name=f"nightly {i}",
        kind="timer",
        duration=1.0,
        status=status,
        created_at=START + i,
        params={"duration": 1.0},
        progress=1.0,
        started_at=START + i,
        finished_at=START + i + 1,
        error="boom" if status is TaskStatus.FAILED else None,
        elapsed=1.0,
    )


def write_history(db: Path, count: int) -> None:
    """`count` finished tasks, seq 1..count, each with its JSON as the app keeps it."""
    store = Store.open(db)
    try:
        tasks = (history_task(i) for i in range(count))
        store.write([("insert", [(i + 1, t, t.to_json()) for i, t in enumerate(tasks)])])
    finally:
        store.close()
