"""An engine on a real SQLite file with a manual clock, shared by the engine tests."""

from __future__ import annotations

import itertools
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from web.clock import ManualClock
from web.realtime import Hub
from web.store import Ops, Store, StoreError
from web.tasks.engine import TaskEngine
from web.tasks.kinds import TaskContext, TimerParams, kind, timer
from web.tasks.logs import LogBook
from web.tasks.model import Task
from web.writer import Writer


@kind("boom", params=TimerParams)
async def boom(params: TimerParams, ctx: TaskContext) -> None:
    """Fails after a second."""
    await ctx.clock.sleep(1)
    raise RuntimeError("disk on fire")


@kind("garbled", params=TimerParams)
async def garbled(params: TimerParams, ctx: TaskContext) -> None:
    """Fails with a message that UTF-8 cannot carry (half a surrogate pair)."""
    await ctx.clock.sleep(params.duration)
    raise RuntimeError("bad \udcff byte")


@dataclass
class Rig:
    """An engine on a real database file, its hub, its clock, and a way to restart it."""

    db: Path
    clock: ManualClock
    engine: TaskEngine
    hub: Hub
    writer: Writer
    max_concurrent: int | None = None
    history_window: int = 1000

    @property
    def store(self) -> Store:
        """The writer's store (in a thread here): tests replace its methods to make writes
        fail."""
        assert self.writer.store is not None
        return self.writer.store

    async def close(self) -> None:
        try:
            await self.engine.stop()
        finally:
            await self.writer.close()

    async def restart(self, *, advance: float = 0.0) -> Rig:
        await self.close()
        await self.clock.advance(advance)
        return await build(self.db, self.clock, self.max_concurrent, self.history_window)

    def stored(self, task_id: str) -> dict:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return dict(row)


class Commits:
    """Wraps the writer's store: keeps every task version it commits, and refuses the next
    `failing` writes as a locked database would (nothing of them is written)."""

    def __init__(self, store: Store) -> None:
        self._write = store.write
        self.versions: defaultdict[str, list[Task]] = defaultdict(list)  # by task_id
        self.inserted: list[list[str]] = []  # the ids each transaction inserted
        self.failing = 0
        # Or only the next write that holds a version this says yes to.
        self.fail_on: Callable[[Task], bool] | None = None
        store.write = self.write  # type: ignore[method-assign]

    def write(self, ops: Ops, mark: tuple[str, int, int] | None = None) -> None:
        if self.failing or (self.fail_on and any(map(self.fail_on, _versions(ops)))):
            self.failing = max(0, self.failing - 1)
            self.fail_on = None
            raise StoreError("task database: database is locked (injected)")
        self._write(ops, mark)
        self.inserted.append(
            [row[1].task_id for kind, rows in ops if kind == "insert" for row in rows]
        )
        for task in _versions(ops):
            self.versions[task.task_id].append(task)

    def has(self, task: Task) -> bool:
        """Whether this version was committed (a copy of it: writes cross a pipe)."""
        return task in self.versions[task.task_id]


def _versions(ops: Ops) -> list[Task]:
    return [row[1] for kind, rows in ops if kind in ("insert", "update") for row in rows]


_ids = itertools.count(1)


async def build(
    db: Path, clock: ManualClock, max_concurrent: int | None = None, history_window: int = 1000
) -> Rig:
    writer = await Writer.open(db, busy_timeout=5.0, in_thread=True)
    hub = Hub()
    logs = LogBook(db.parent / "task-logs", 64 * 1024, hub.publish_log)
    engine = TaskEngine(
        writer,
        hub,
        logs,
        clock=clock,
        kinds={k.name: k for k in (timer, boom, garbled)},
        new_id=lambda: f"t{next(_ids)}",
        max_concurrent=max_concurrent,
        history_window=history_window,
    )
    clock.also_wait = engine.idle
    await engine.start()
    return Rig(db, clock, engine, hub, writer, max_concurrent, history_window)


def stored_tasks(db: Path) -> list[Task]:
    store = Store.open(db)
    try:
        return [t for _, t in store.load_all()]
    finally:
        store.close()
