"""A large task history written straight into a SQLite file through the store, for the
stats and export figures (and their tests): adding 100,000 tasks through the API would
take minutes and measure the add path, not the reads."""

from __future__ import annotations

from pathlib import Path

from web.store import Store
from web.tasks.model import Task, TaskStatus

S = TaskStatus
# Seven of ten complete; the rest fail, are cancelled while they wait, or were interrupted.
# All of them final: a server started on the file has nothing to run.
OUTCOMES = (*[S.COMPLETED] * 7, S.FAILED, S.CANCELLED, S.INTERRUPTED)


def fill_history(db: Path, count: int, start: float, spacing: float) -> None:
    """`count` tasks created `spacing` seconds apart from `start` on, into the store at `db`
    (created if need be), in the store's own format."""
    store = Store.open(db)
    try:
        store.insert_many((seq, _task(seq, start + seq * spacing)) for seq in range(1, count + 1))
    finally:
        store.close()


def _task(seq: int, created: float) -> Task:
    status = OUTCOMES[seq % len(OUTCOMES)]
    ran = (seq % 50) * 7 + 0.5
    started = None if status is S.CANCELLED else created + 1
    return Task(
        task_id=f"{seq:032x}",
        name=f"task {seq}",
        kind="command" if seq % 3 == 0 else "timer",
        duration=ran,
        status=status,
        created_at=created,
        params={"duration": ran},
        progress=1.0 if status is S.COMPLETED else 0.0,
        started_at=started,
        finished_at=created + 2 if started is None else started + ran,
        error="exit code 1" if status is S.FAILED else None,
    )
