"""The queue, with an injected clock: limit, priorities, dependencies, pause, retry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.engine_rig import Rig, stored_tasks
from web.tasks.engine import InvalidTask, NewTask, QueueSettings
from web.tasks.model import TaskConflict, TaskStatus

pytestmark = pytest.mark.anyio
S = TaskStatus
MakeRig = Callable[..., Awaitable[Rig]]


def statuses(rig: Rig, *ids: str) -> list[TaskStatus]:
    return [rig.engine.get(i).status for i in ids]


async def test_limit_holds_under_a_burst(make_rig: MakeRig) -> None:
    rig = await make_rig(max_concurrent=3)
    ids = [(await rig.engine.add(NewTask(duration=1 + i % 3))).task_id for i in range(20)]
    peak = 0
    while any(not s.is_final for s in statuses(rig, *ids)):
        running = rig.engine.counts()["running"]
        peak = max(peak, running)
        assert running <= 3
        await rig.clock.advance(0.5)
    assert peak == 3
    assert set(statuses(rig, *ids)) == {S.COMPLETED}
    await rig.close()


async def test_queue_position_follows_priority_then_submission(make_rig: MakeRig) -> None:
    rig = await make_rig(max_concurrent=1)
    await rig.engine.add(NewTask(duration=5, name="blocker"))
    a = await rig.engine.add(NewTask(duration=1, name="a"))
    b = await rig.engine.add(NewTask(duration=1, name="b", priority=2))
    c = await rig.engine.add(NewTask(duration=1, name="c"))
    assert [rig.engine._ledger.line.position(t.task_id) for t in (b, a, c)] == [1, 2, 3]
    assert b'"queue_position":2' in rig.engine.listing.render(a)
    await rig.close()


async def test_reprioritize_and_move_to_front(make_rig: MakeRig) -> None:
    rig = await make_rig(max_concurrent=1)
    await rig.engine.add(NewTask(duration=5))
    a = await rig.engine.add(NewTask(duration=1, priority=3))
    b = await rig.engine.add(NewTask(duration=1))
    c = await rig.engine.add(NewTask(duration=1))
    await rig.engine.set_priority(c.task_id, front=True)
    assert rig.engine._ledger.line.first() == c.task_id
    assert rig.engine.get(c.task_id).priority == 4
    await rig.engine.set_priority(b.task_id, 10)
    assert [rig.engine._ledger.line.position(t.task_id) for t in (b, c, a)] == [1, 2, 3]
    with pytest.raises(InvalidTask):
        await rig.engine.set_priority(a.task_id)
    await rig.close()


async def test_only_waiting_tasks_can_be_reranked(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=5))
    with pytest.raises(TaskConflict, match="only scheduled or queued"):
        await rig.engine.set_priority(task.task_id, 3)


async def test_dependency_runs_after_success(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=2))
    second = await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    assert second.status is S.SCHEDULED
    await rig.clock.advance(1.9)
    assert statuses(rig, second.task_id) == [S.SCHEDULED]
    await rig.clock.advance(0.2)
    assert statuses(rig, first.task_id, second.task_id) == [S.COMPLETED, S.RUNNING]


async def test_dependency_failure_propagates_down_a_chain(rig: Rig) -> None:
    root = await rig.engine.add(NewTask(duration=1, kind="boom"))
    chain = [root]
    for _ in range(300):  # long chains must not hit the recursion limit
        chain.append(await rig.engine.add(NewTask(duration=1, after=(chain[-1].task_id,))))
    await rig.clock.advance(1.5)
    assert set(statuses(rig, *(t.task_id for t in chain[1:]))) == {S.FAILED}
    assert rig.engine.get(chain[1].task_id).error == f"dependency {root.task_id} failed"
    assert rig.engine.get(chain[2].task_id).error == f"dependency {chain[1].task_id} failed"


async def test_cancelled_dependency_fails_the_dependent(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=5))
    second = await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    await rig.engine.cancel(first.task_id)
    failed = rig.engine.get(second.task_id)
    assert failed.status is S.FAILED
    assert failed.error == f"dependency {first.task_id} was cancelled"


async def test_depending_on_a_failed_task_fails_at_once(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=5))
    await rig.engine.cancel(first.task_id)
    late = await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    assert late.status is S.FAILED


async def test_unknown_dependency_is_rejected_and_nothing_is_stored(rig: Rig) -> None:
    with pytest.raises(InvalidTask, match="unknown task ids: ghost"):
        await rig.engine.add(NewTask(duration=1, after=("ghost",)))
    assert stored_tasks(rig.db) == []


async def test_dependency_and_delay_both_hold(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    second = await rig.engine.add(NewTask(duration=1, delay=5, after=(first.task_id,)))
    await rig.clock.advance(1.5)
    assert statuses(rig, second.task_id) == [S.SCHEDULED]
    await rig.clock.advance(4)
    assert statuses(rig, second.task_id) == [S.RUNNING]


async def test_clear_finished_keeps_what_a_waiting_task_needs(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    await rig.engine.add(NewTask(duration=1, delay=60, after=(first.task_id,)))
    await rig.clock.advance(1.5)
    assert await rig.engine.clear_finished() == []
    assert rig.engine.get(first.task_id).status is S.COMPLETED


async def test_pause_holds_progress_and_resume_goes_on(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=10))
    await rig.clock.advance(4)
    paused = await rig.engine.pause(task.task_id)
    assert paused.status is S.PAUSED
    assert paused.progress == pytest.approx(0.4, abs=0.03)
    assert paused.elapsed == pytest.approx(4)
    await rig.clock.advance(100)
    assert rig.engine.get(task.task_id).progress == paused.progress
    assert (await rig.engine.resume(task.task_id)).status is S.RUNNING
    await rig.clock.advance(5.9)
    assert rig.engine.get(task.task_id).status is S.RUNNING
    assert rig.engine.get(task.task_id).progress > 0.9
    await rig.clock.advance(0.2)
    done = rig.engine.get(task.task_id)
    assert done.status is S.COMPLETED
    assert done.elapsed == pytest.approx(10, abs=0.01)


async def test_paused_task_frees_its_slot_and_waits_for_one_to_resume(make_rig: MakeRig) -> None:
    rig = await make_rig(max_concurrent=1)
    a = await rig.engine.add(NewTask(duration=10))
    b = await rig.engine.add(NewTask(duration=10))
    await rig.clock.advance(1)
    await rig.engine.pause(a.task_id)
    assert statuses(rig, a.task_id, b.task_id) == [S.PAUSED, S.RUNNING]
    assert (await rig.engine.resume(a.task_id)).status is S.QUEUED
    await rig.clock.advance(10)
    assert statuses(rig, a.task_id, b.task_id) == [S.RUNNING, S.COMPLETED]
    await rig.clock.advance(9.1)
    assert statuses(rig, a.task_id) == [S.COMPLETED]
    await rig.close()


async def test_pause_is_refused_for_tasks_not_running(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=1, delay=10))
    with pytest.raises(TaskConflict):
        await rig.engine.pause(task.task_id)
    with pytest.raises(TaskConflict):
        await rig.engine.resume(task.task_id)


async def test_paused_task_survives_a_restart(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=10))
    await rig.clock.advance(3)
    await rig.engine.pause(task.task_id)
    rig = await rig.restart(advance=50)
    assert rig.engine.get(task.task_id).status is S.PAUSED
    await rig.engine.resume(task.task_id)
    await rig.clock.advance(7.1)
    assert rig.engine.get(task.task_id).status is S.COMPLETED
    await rig.close()


async def test_queue_pause_starts_nothing_new(rig: Rig) -> None:
    running = await rig.engine.add(NewTask(duration=10))
    await rig.engine.configure(QueueSettings(paused=True))
    waiting = await rig.engine.add(NewTask(duration=1))
    await rig.clock.advance(5)
    assert statuses(rig, running.task_id, waiting.task_id) == [S.RUNNING, S.QUEUED]
    await rig.engine.configure(QueueSettings(paused=False))
    assert statuses(rig, waiting.task_id) == [S.RUNNING]


async def test_queue_settings_survive_a_restart(rig: Rig) -> None:
    await rig.engine.configure(QueueSettings(max_concurrent=2, paused=True))
    rig = await rig.restart()
    assert rig.engine.queue == QueueSettings(max_concurrent=2, paused=True)
    await rig.close()


async def test_lowering_the_limit_lets_running_tasks_finish(make_rig: MakeRig) -> None:
    rig = await make_rig(max_concurrent=3)
    ids = [(await rig.engine.add(NewTask(duration=2))).task_id for _ in range(4)]
    await rig.engine.configure(QueueSettings(max_concurrent=1))
    assert statuses(rig, *ids) == [S.RUNNING] * 3 + [S.QUEUED]
    await rig.clock.advance(2.1)
    assert statuses(rig, *ids) == [S.COMPLETED] * 3 + [S.RUNNING]
    with pytest.raises(InvalidTask):
        await rig.engine.configure(QueueSettings(max_concurrent=0))
    await rig.close()


async def test_retry_makes_a_new_task_with_the_same_parameters(rig: Rig) -> None:
    old = await rig.engine.add(NewTask(duration=2, name="nightly", priority=4))
    with pytest.raises(TaskConflict, match="only finished tasks"):
        await rig.engine.retry(old.task_id)
    await rig.engine.cancel(old.task_id)
    new = await rig.engine.retry(old.task_id)
    assert new.task_id != old.task_id
    assert (new.name, new.duration, new.priority, new.retry_of) == ("nightly", 2, 4, old.task_id)
    assert new.status is S.RUNNING
    await rig.clock.advance(2.1)
    assert rig.engine.get(new.task_id).status is S.COMPLETED
