"""An engine on a real SQLite file with a manual clock, shared by the engine tests."""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from web.clock import ManualClock
from web.realtime import Hub
from web.store import Store
from web.tasks.engine import TaskEngine
from web.tasks.kinds import TaskContext, TimerParams, kind, timer
from web.tasks.logs import LogBook
from web.tasks.model import Task


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
    store: Store
    max_concurrent: int | None = None

    async def restart(self, *, advance: float = 0.0) -> Rig:
        await self.engine.stop()
        self.store.close()
        await self.clock.advance(advance)
        return await build(self.db, self.clock, self.max_concurrent)

    def stored(self, task_id: str) -> dict:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return dict(row)


_ids = itertools.count(1)


async def build(db: Path, clock: ManualClock, max_concurrent: int | None = None) -> Rig:
    store = Store.open(db)
    hub = Hub()
    logs = LogBook(db.parent / "task-logs", 64 * 1024, hub.publish_log)
    engine = TaskEngine(
        store,
        hub,
        logs,
        clock=clock,
        kinds={k.name: k for k in (timer, boom, garbled)},
        new_id=lambda: f"t{next(_ids)}",
        max_concurrent=max_concurrent,
    )
    await engine.start()
    return Rig(db, clock, engine, hub, store, max_concurrent)


def stored_tasks(db: Path) -> list[Task]:
    store = Store.open(db)
    try:
        return [t for _, t in store.load_all()]
    finally:
        store.close()
