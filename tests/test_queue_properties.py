"""Property-based: random sequences of queue operations never break the invariants.

- no task starts while the running count is at the limit or the queue is paused;
- a task reaches exactly one final state and never leaves it;
- the database and the engine agree after every step, also when writes fail (each
  failed batch, and whatever was decided on top of it, is undone in memory);
- only committed versions are published.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine_rig import Commits, Rig, build, stored_tasks
from web.clock import ManualClock
from web.store import StoreError
from web.tasks.engine import NewTask, QueueSettings
from web.tasks.model import Task, TaskConflict, TaskStatus

S = TaskStatus

pick = st.integers(min_value=0, max_value=1_000)
operations = st.one_of(
    st.tuples(
        st.just("add"),
        st.floats(min_value=0.1, max_value=4),  # duration
        st.integers(min_value=-2, max_value=2),  # priority
        st.sampled_from([None, 0.5, 3.0]),  # delay
        st.lists(pick, max_size=2),  # dependencies, by index into existing tasks
    ),
    st.tuples(st.sampled_from(["cancel", "pause", "resume", "retry", "front"]), pick),
    st.tuples(st.just("limit"), st.sampled_from([None, 1, 2, 3])),
    st.tuples(st.just("queue"), st.booleans()),
    # Adds in one turn of the loop: they are written as one group.
    st.tuples(st.just("burst"), st.integers(min_value=2, max_value=4)),
    st.tuples(st.just("advance"), st.floats(min_value=0.05, max_value=3)),
    st.tuples(st.just("restart"), st.floats(min_value=0, max_value=5)),
    # The next n writes fail, as while another process holds the database's lock.
    st.tuples(st.just("fail"), st.integers(min_value=1, max_value=3)),
)


class Watcher:
    """Checks every published change as it happens."""

    def __init__(self, rig: Rig) -> None:
        self.final: dict[str, str] = {}
        self.status: dict[str, str] = {}
        self.attach(rig)

    def attach(self, rig: Rig) -> None:
        publish = rig.hub.publish
        self.commits = commits = Commits(rig.store)
        published = rig.engine._published

        def committed_only(task: Task) -> None:
            assert commits.has(task), "published before it was stored"
            published(task)

        rig.engine._ledger._publish = committed_only

        def checking(task_id: str, task_json: str) -> None:
            status = json.loads(task_json)["status"]
            assert task_id not in self.final, f"{task_id} left final state {self.final[task_id]}"
            if S(status).is_final:
                self.final[task_id] = status
            started = status == "running" and self.status.get(task_id) != "running"
            self.status[task_id] = status
            if started:
                queue = rig.engine.queue
                assert not queue.paused, "a task started while the queue was paused"
                limit = queue.max_concurrent
                assert limit is None or rig.engine.counts()["running"] <= limit
            publish(task_id, task_json)

        rig.hub.publish = checking  # type: ignore[method-assign]


async def agree(rig: Rig) -> None:
    """Memory and the file hold the same tasks: as the API shows them, and field by field
    for the live ones (memory keeps a finished task only as its JSON)."""
    await rig.engine.idle()
    in_memory = rig.engine.all_tasks()
    on_disk = stored_tasks(rig.db)
    assert {t.task_id: t.to_json() for t in on_disk} == {t.task_id: t.to_json() for t in in_memory}
    live = {t.task_id: t for t in in_memory if not t.status.is_final}
    assert {t.task_id: t for t in on_disk if not t.status.is_final} == live


async def play(ops: list[tuple], db: Path) -> None:
    rig = await build(db, ManualClock())
    watcher = Watcher(rig)
    ids: list[str] = []
    for op, *args in ops:
        try:
            if op == "add":
                duration, priority, delay, deps = args
                after = tuple(ids[i % len(ids)] for i in deps) if ids else ()
                spec = NewTask(duration=duration, priority=priority, delay=delay, after=after)
                ids.append((await rig.engine.add(spec)).task_id)
            elif op == "burst":
                adds = [rig.engine.add(NewTask(duration=1 + i)) for i in range(args[0])]
                ids += [t.task_id for t in await asyncio.gather(*adds)]
            elif op == "limit":
                await rig.engine.configure(QueueSettings(args[0], rig.engine.queue.paused))
            elif op == "queue":
                await rig.engine.configure(QueueSettings(rig.engine.queue.max_concurrent, args[0]))
            elif op == "advance":
                await rig.clock.advance(args[0])
            elif op == "restart":
                watcher.commits.failing = 0  # (a stop whose last write fails: test_engine)
                rig = await rig.restart(advance=args[0])
                watcher.attach(rig)
            elif op == "fail":
                watcher.commits.failing = args[0]
            elif ids:
                task_id = ids[args[0] % len(ids)]
                if op == "cancel":
                    await rig.engine.cancel(task_id)
                elif op == "pause":
                    await rig.engine.pause(task_id)
                elif op == "resume":
                    await rig.engine.resume(task_id)
                elif op == "retry":
                    ids.append((await rig.engine.retry(task_id)).task_id)
                else:
                    await rig.engine.set_priority(task_id, front=True)
        except TaskConflict:
            pass  # refused in this state: fine, as long as nothing changed (checked below)
        except StoreError:
            pass  # not stored: fine, as long as memory says so too (checked below)
        await agree(rig)

    # Let everything finish: no limit, queue running, paused tasks resumed.
    watcher.commits.failing = 0
    await rig.engine.configure(QueueSettings())
    for task in rig.engine.all_tasks():
        if task.status is S.PAUSED:
            await rig.engine.resume(task.task_id)
    await rig.clock.advance(30)
    assert all(t.status.is_final for t in rig.engine.all_tasks())
    assert set(watcher.final) >= {t.task_id for t in rig.engine.all_tasks()} - {
        t.task_id for t in rig.engine.all_tasks() if t.status is S.INTERRUPTED
    }
    await agree(rig)
    await rig.close()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(operations, min_size=1, max_size=40))
def test_random_operations_keep_the_invariants(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(play(ops, Path(tmp) / "tasks.db"))
