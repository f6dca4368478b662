"""TaskEngine with an injected clock and a real SQLite file: no sleeping, time is moved."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.engine_rig import Commits, Rig, build
from web.clock import ManualClock, settle
from web.store import Ops, StoreError
from web.tasks.engine import InvalidTask, NewTask, QueueSettings, TaskNotFound, new_task_id
from web.tasks.listing import Wanted
from web.tasks.model import IllegalTransition, TaskStatus

pytestmark = pytest.mark.anyio
S = TaskStatus


async def test_timer_reports_progress_then_completes(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=10, name="ten"))
    assert task.status is S.RUNNING
    await rig.clock.advance(2.5)
    assert rig.engine.get(task.task_id).progress == pytest.approx(0.25, abs=0.03)
    assert rig.stored(task.task_id)["progress"] == pytest.approx(0.25, abs=0.03)
    await rig.clock.advance(5)
    assert rig.engine.get(task.task_id).progress == pytest.approx(0.75, abs=0.03)
    await rig.clock.advance(2.6)
    done = rig.engine.get(task.task_id)
    assert done.status is S.COMPLETED
    assert done.progress == 1.0
    assert done.finished_at == pytest.approx(done.started_at + 10, abs=0.3)
    assert rig.stored(task.task_id)["status"] == "completed"


async def test_cancel_running_is_immediate_and_final(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=10))
    await rig.clock.advance(3)
    cancelled = await rig.engine.cancel(task.task_id)
    assert cancelled.status is S.CANCELLED
    assert rig.stored(task.task_id)["status"] == "cancelled"
    await rig.clock.advance(20)
    assert rig.engine.get(task.task_id).status is S.CANCELLED
    assert not rig.engine._runners.runs, "the runner was not cleaned up"


async def test_cancel_queued_task(make_rig: Callable) -> None:
    rig = await make_rig(max_concurrent=1)
    first = await rig.engine.add(NewTask(duration=5))
    second = await rig.engine.add(NewTask(duration=5))
    assert rig.engine.get(second.task_id).status is S.QUEUED
    assert (await rig.engine.cancel(second.task_id)).status is S.CANCELLED
    await rig.clock.advance(5.1)
    assert rig.engine.get(first.task_id).status is S.COMPLETED
    assert rig.engine.get(second.task_id).status is S.CANCELLED
    await rig.close()


async def test_cancel_scheduled_task_never_starts(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=1, delay=30))
    assert task.status is S.SCHEDULED
    assert (await rig.engine.cancel(task.task_id)).status is S.CANCELLED
    await rig.clock.advance(60)
    assert rig.engine.get(task.task_id).status is S.CANCELLED
    assert rig.engine.get(task.task_id).started_at is None


@pytest.mark.parametrize("final", ["completed", "cancelled", "failed"])
async def test_cancel_finished_task_is_refused(rig: Rig, final: str) -> None:
    kind = "boom" if final == "failed" else "timer"
    task = await rig.engine.add(NewTask(duration=1, kind=kind))
    if final == "cancelled":
        await rig.engine.cancel(task.task_id)
    await rig.clock.advance(2)
    assert rig.engine.get(task.task_id).status.value == final
    with pytest.raises(IllegalTransition, match=f"already {final}"):
        await rig.engine.cancel(task.task_id)


async def test_failing_kind_records_the_error(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=1, kind="boom"))
    await rig.clock.advance(1.5)
    failed = rig.engine.get(task.task_id)
    assert failed.status is S.FAILED
    assert failed.error == "disk on fire"


async def test_an_error_message_utf8_cannot_carry_is_mended(rig: Rig) -> None:
    """A kind may raise with any text; the task still fails cleanly, lists and survives a
    restart (half a surrogate pair once broke every later start)."""
    task = await rig.engine.add(NewTask(duration=1, kind="garbled"))
    await rig.clock.advance(1.5)
    assert rig.engine.get(task.task_id).error == "bad ? byte"
    [listed], _ = rig.engine.listing.page(Wanted())
    assert json.loads(listed)["error"] == "bad ? byte"
    again = await rig.restart()
    assert again.engine.get(task.task_id).status is S.FAILED


async def test_a_history_holding_half_a_surrogate_pair_still_starts(
    make_rig: Callable, tmp_path: Path
) -> None:
    """Older versions stored such parameters (JSON-escaped); they list, escaped again."""
    rig = await make_rig()
    task = await rig.engine.add(NewTask(duration=5))
    await rig.close()
    with sqlite3.connect(tmp_path / "tasks.db") as conn:
        params = '{"duration": 5.0, "note": "\\ud800"}'
        # As an older version left it: no JSON kept with the finished task.
        sql = "UPDATE tasks SET params = ?, json = NULL WHERE task_id = ?"
        conn.execute(sql, (params, task.task_id))
    again = await build(tmp_path / "tasks.db", ManualClock())
    try:
        [listed], _ = again.engine.listing.page(Wanted())
        assert json.loads(listed)["params"]["note"] == "\ud800"
        assert b"\\ud800" in listed  # escaped: valid JSON, valid UTF-8
    finally:
        await again.close()


async def test_unknown_task_and_kind(rig: Rig) -> None:
    with pytest.raises(TaskNotFound):
        await rig.engine.cancel("nope")
    with pytest.raises(InvalidTask, match="known kinds: boom, garbled, timer"):
        await rig.engine.add(NewTask(duration=1, kind="nope"))


async def test_scheduled_task_starts_at_its_time(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=5, delay=10))
    await rig.clock.advance(9.9)
    assert rig.engine.get(task.task_id).status is S.SCHEDULED
    await rig.clock.advance(0.2)
    assert rig.engine.get(task.task_id).status is S.RUNNING


async def test_concurrency_limit_priority_then_fifo(make_rig: Callable) -> None:
    rig = await make_rig(max_concurrent=1)
    blocker = await rig.engine.add(NewTask(duration=1, name="blocker"))
    low = await rig.engine.add(NewTask(duration=1, name="low", priority=0))
    high = await rig.engine.add(NewTask(duration=1, name="high", priority=5))
    low2 = await rig.engine.add(NewTask(duration=1, name="low2", priority=0))
    order = []
    for _ in range(4):
        running = [t.name for t in rig.engine.all_tasks() if t.status is S.RUNNING]
        assert len(running) == 1
        order.append(running[0])
        await rig.clock.advance(1.01)
    assert order == ["blocker", "high", "low", "low2"]
    assert {rig.engine.get(t.task_id).status for t in (blocker, low, high, low2)} == {S.COMPLETED}
    await rig.close()


async def test_shutdown_records_interrupted_and_awaits_runners(rig: Rig) -> None:
    task = await rig.engine.add(NewTask(duration=100))
    await rig.clock.advance(30)
    runner = rig.engine._runners.runs[task.task_id]
    await rig.close()
    assert runner.done()
    assert rig.engine.get(task.task_id).status is S.INTERRUPTED
    row = rig.stored(task.task_id)
    assert row["status"] == "interrupted"
    assert row["progress"] == pytest.approx(0.3, abs=0.03)


async def test_restart_recovers_history(make_rig: Callable) -> None:
    rig = await make_rig(max_concurrent=1)
    done = await rig.engine.add(NewTask(duration=1, name="done"))
    await rig.clock.advance(1.1)
    running = await rig.engine.add(NewTask(duration=100, name="running"))
    waiting = await rig.engine.add(NewTask(duration=2, name="waiting"))
    dropped = await rig.engine.add(NewTask(duration=2, name="dropped"))
    await rig.engine.cancel(dropped.task_id)  # finished between two that wait
    later = await rig.engine.add(NewTask(duration=2, name="later", delay=60))
    await rig.clock.advance(10)

    rig = await rig.restart(advance=5)
    get = rig.engine.get
    # Finished and waiting tasks come back interleaved as they were added, newest first.
    order = [later, dropped, waiting, running, done]
    assert [t.task_id for t in rig.engine.all_tasks()] == [t.task_id for t in order]
    assert get(dropped.task_id).status is S.CANCELLED
    assert get(done.task_id).status is S.COMPLETED
    assert get(running.task_id).status is S.INTERRUPTED
    assert "stopped" in (get(running.task_id).error or "")
    # The slot freed by the interrupted task goes to the one that was waiting.
    assert get(waiting.task_id).status is S.RUNNING
    assert get(later.task_id).status is S.SCHEDULED
    await rig.clock.advance(2.1)
    assert get(waiting.task_id).status is S.COMPLETED
    await rig.clock.advance(60 - 17 + 0.1)
    assert get(later.task_id).status is S.RUNNING
    await rig.close()


async def test_scheduled_task_whose_time_passed_while_stopped_starts_at_once(
    make_rig: Callable,
) -> None:
    rig = await make_rig()
    task = await rig.engine.add(NewTask(duration=5, delay=10))
    rig = await rig.restart(advance=3600)
    await settle()
    assert rig.engine.get(task.task_id).status is S.RUNNING
    await rig.close()


async def test_persist_then_publish(rig: Rig) -> None:
    """Every published state is already in the database when it is sent."""
    seen: list[tuple[str, str]] = []
    publish = rig.hub.publish

    def checking_publish(task_id: str, task_json: str) -> None:
        status = json.loads(task_json)["status"]
        assert rig.stored(task_id)["status"] == status
        seen.append((task_id, status))
        publish(task_id, task_json)

    rig.hub.publish = checking_publish  # type: ignore[method-assign]
    a = await rig.engine.add(NewTask(duration=2))
    b = await rig.engine.add(NewTask(duration=2))
    await rig.engine.cancel(b.task_id)
    await rig.clock.advance(3)
    assert (a.task_id, "completed") in seen
    assert (b.task_id, "cancelled") in seen


async def test_progress_is_coalesced_per_interval(rig: Rig) -> None:
    sub = rig.hub.subscribe()
    task = await rig.engine.add(NewTask(duration=1000))
    await rig.clock.advance(10)
    batch = await sub.next_batch()
    # One pending message per task at most, whatever happened in between.
    assert batch is not None and len(batch) == 1
    assert json.loads(batch[0])["task"]["task_id"] == task.task_id


async def test_clear_finished_forgets_only_final_tasks(rig: Rig) -> None:
    done = await rig.engine.add(NewTask(duration=1))
    live = await rig.engine.add(NewTask(duration=100))
    await rig.clock.advance(2)
    assert await rig.engine.clear_finished() == [done.task_id]
    with pytest.raises(TaskNotFound):
        rig.engine.get(done.task_id)
    assert rig.engine.counts()["completed"] == 0
    assert rig.engine.get(live.task_id).status is S.RUNNING
    with sqlite3.connect(rig.db) as conn:
        assert conn.execute("SELECT count(*) FROM tasks").fetchone()[0] == 1


async def test_page_newest_first_with_filter_and_offset(rig: Rig) -> None:
    ids = [(await rig.engine.add(NewTask(duration=1 + i, name=f"n{i}"))).task_id for i in range(5)]
    await rig.clock.advance(2.5)  # n0 and n1 complete
    page, total = rig.engine.listing.page(Wanted(limit=2, offset=1))
    assert [json.loads(t)["task_id"] for t in page] == [ids[3], ids[2]]
    assert total == 5
    page, total = rig.engine.listing.page(Wanted(frozenset([S.COMPLETED]), limit=10))
    assert [json.loads(t)["task_id"] for t in page] == [ids[1], ids[0]]
    assert total == 2
    assert rig.engine.counts() == {
        "scheduled": 0, "queued": 0, "running": 3, "paused": 0, "completed": 2,
        "cancelled": 0, "failed": 0, "interrupted": 0,
    }  # fmt: skip


async def test_a_failed_write_changes_nothing(rig: Rig) -> None:
    """If the database refuses the cancel, the task is still running, and really runs."""
    task = await rig.engine.add(NewTask(duration=2))
    Commits(rig.store).failing = 1
    with pytest.raises(StoreError, match="locked"):
        await rig.engine.cancel(task.task_id)
    assert rig.engine.get(task.task_id).status is S.RUNNING
    assert rig.stored(task.task_id)["status"] == "running"
    assert task.task_id in rig.engine._runners.runs
    await rig.clock.advance(2.1)
    assert rig.engine.get(task.task_id).status is S.COMPLETED


async def test_adds_of_one_turn_are_stored_in_one_transaction(make_rig: Callable) -> None:
    rig = await make_rig(max_concurrent=2)
    commits = Commits(rig.store)
    tasks = await asyncio.gather(*(rig.engine.add(NewTask(duration=5)) for _ in range(4)))
    assert commits.inserted == [[t.task_id for t in tasks]]
    # The slots went to the first two, as if the four had come one after another.
    assert [t.status for t in tasks] == [S.RUNNING, S.RUNNING, S.QUEUED, S.QUEUED]
    assert [rig.stored(t.task_id)["status"] for t in tasks] == [
        "running", "running", "queued", "queued"
    ]  # fmt: skip
    later = await rig.engine.add(NewTask(duration=5))
    assert commits.inserted[-1] == [later.task_id]
    # Submission order survives a restart: seq goes on after the largest stored one.
    rig = await rig.restart()
    assert [t.task_id for t in rig.engine.all_tasks()] == [
        later.task_id, *reversed([t.task_id for t in tasks])
    ]  # fmt: skip
    await rig.close()


async def test_a_caller_that_gives_up_takes_nothing_back(rig: Rig) -> None:
    """An add whose caller goes away (its request cancelled) before the commit is still
    stored and runs, and the add committed with it is answered as usual."""
    given_up = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="given up")))
    kept = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="kept")))
    await asyncio.sleep(0)  # one turn: both are decided, in one batch, not yet committed
    given_up.cancel()
    assert (await kept).status is S.RUNNING
    with pytest.raises(asyncio.CancelledError):
        await given_up
    await rig.engine.idle()
    stored = {t.name: rig.stored(t.task_id)["status"] for t in rig.engine.all_tasks()}
    assert stored == {"given up": "running", "kept": "running"}


async def test_a_caller_that_gives_up_on_a_write_that_fails_changes_nothing(rig: Rig) -> None:
    """The same, when the database refuses the write: the add committed with it fails as
    usual, the one whose caller went away is undone too, and nothing is stored."""
    Commits(rig.store).failing = 1
    given_up = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="given up")))
    kept = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="kept")))
    await asyncio.sleep(0)  # one turn: both are decided, in one batch, not yet committed
    given_up.cancel()
    with pytest.raises(StoreError, match="locked"):
        await kept
    with pytest.raises(asyncio.CancelledError):
        await given_up
    await rig.engine.idle()
    assert rig.engine.all_tasks() == [] and not rig.engine._runners.runs


async def test_a_group_that_cannot_be_stored_changes_nothing(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[str] = []
    monkeypatch.setattr(rig.hub, "publish", lambda task_id, _json: published.append(task_id))
    commits = Commits(rig.store)
    commits.failing = 1
    adds = [rig.engine.add(NewTask(duration=5)) for _ in range(3)]
    outcomes = await asyncio.gather(*adds, return_exceptions=True)
    assert all(isinstance(o, StoreError) for o in outcomes)
    assert published == [] and rig.engine.all_tasks() == [] and not rig.engine._runners.runs
    assert rig.engine.counts()["running"] == 0
    monkeypatch.undo()
    task = await rig.engine.add(NewTask(duration=5))
    assert task.status is S.RUNNING and rig.stored(task.task_id)["status"] == "running"


async def test_a_change_handed_over_behind_one_that_fails_is_not_written(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch goes to the writer as soon as its turn ends, so one decided while an
    earlier one is still being committed waits in the writer's queue. When the earlier
    one fails, the later one (built on it) is refused unwritten and undone with it; what
    is decided after the undo is written."""
    commits = Commits(rig.store)
    commits.failing = 1
    inside, release = threading.Event(), threading.Event()

    def held(ops: Ops, mark: tuple[str, int, int] | None = None) -> None:
        inside.set()
        release.wait()
        commits.write(ops, mark)

    monkeypatch.setattr(rig.store, "write", held)
    first = asyncio.create_task(rig.engine.add(NewTask(duration=5)))
    assert await asyncio.to_thread(inside.wait, 10)
    second = asyncio.create_task(rig.engine.add(NewTask(duration=5)))
    await settle()
    assert len(rig.engine._ledger._in_flight) == 2, "the second is at the writer too"
    release.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes
    assert rig.engine.all_tasks() == [] and not rig.engine._runners.runs
    assert commits.inserted == [], "nothing of either was written"
    task = await rig.engine.add(NewTask(duration=5))
    assert task.status is S.RUNNING and rig.stored(task.task_id)["status"] == "running"
    assert commits.inserted == [[task.task_id]]


async def test_a_slot_freed_in_a_turn_goes_to_one_task(rig: Rig) -> None:
    await rig.engine.configure(QueueSettings(max_concurrent=1))
    first = await rig.engine.add(NewTask(duration=5, name="first"))
    cancel = rig.engine.cancel(first.task_id)
    adds = [rig.engine.add(NewTask(duration=5, name=name)) for name in "ab"]
    _, a, b = await asyncio.gather(cancel, *adds)
    assert (a.status, b.status) == (S.RUNNING, S.QUEUED)
    assert rig.engine.counts()["running"] == 1
    assert [rig.stored(t.task_id)["status"] for t in (first, a, b)] == [
        "cancelled", "running", "queued"
    ]  # fmt: skip


async def test_what_was_decided_on_a_change_that_failed_is_undone_too(rig: Rig) -> None:
    """The start that a cancel's free slot allowed goes with the cancel: memory never
    holds a state the file could not have reached."""
    await rig.engine.configure(QueueSettings(max_concurrent=1))
    running = await rig.engine.add(NewTask(duration=5))
    waiting = await rig.engine.add(NewTask(duration=5))
    Commits(rig.store).failing = 1
    with pytest.raises(StoreError):
        await rig.engine.cancel(running.task_id)
    assert rig.engine.get(running.task_id).status is S.RUNNING
    assert rig.engine.get(waiting.task_id).status is S.QUEUED
    assert waiting.task_id not in rig.engine._runners.runs
    assert (await rig.engine.cancel(running.task_id)).status is S.CANCELLED
    assert rig.engine.get(waiting.task_id).status is S.RUNNING
    assert rig.stored(waiting.task_id)["status"] == "running"


async def test_a_run_whose_end_could_not_be_stored_is_recorded_later(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    then = await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    Commits(rig.store).fail_on = lambda task: task.status is S.COMPLETED
    await rig.clock.advance(1.01)  # `first` ends; storing that (and releasing `then`) fails
    assert rig.engine.get(first.task_id).status is S.RUNNING
    assert rig.engine.get(then.task_id).status is S.SCHEDULED
    await rig.clock.advance(0.3)  # the next progress flush looks again, with no other change
    assert rig.stored(first.task_id)["status"] == "completed"
    assert rig.stored(then.task_id)["status"] == "running"
    assert first.task_id not in rig.engine._runners._run_started, "its run was wound up"


async def test_a_group_that_breaks_after_it_is_stored_fails_its_adds_instead_of_hanging(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(rig.engine._ledger, "_publish", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(rig.engine.add(NewTask(duration=5)), 5)
    monkeypatch.undo()


async def test_clearing_keeps_what_a_new_task_runs_after(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    await rig.clock.advance(1.1)
    later = asyncio.create_task(rig.engine.add(NewTask(duration=1, after=(first.task_id,))))
    await asyncio.sleep(0)  # decided, not yet stored
    assert await rig.engine.clear_finished() == []
    assert (await later).status is S.RUNNING


async def test_a_task_being_cleared_cannot_be_named(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    await rig.clock.advance(1.1)
    clearing = asyncio.create_task(rig.engine.clear_finished())
    await asyncio.sleep(0)  # decided, not yet stored
    with pytest.raises(InvalidTask, match="unknown task ids"):
        await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    assert await clearing == [first.task_id]


async def test_an_add_whose_caller_gave_up_still_counts(rig: Rig) -> None:
    """A cancelled request does not take its group down: the rest are stored and answered."""
    quitter = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="quitter")))
    stayer = asyncio.create_task(rig.engine.add(NewTask(duration=5, name="stayer")))
    await asyncio.sleep(0)  # both are staged now
    quitter.cancel()
    assert (await stayer).status is S.RUNNING
    assert sorted(t.name for t in rig.engine.all_tasks()) == ["quitter", "stayer"]


async def test_stop_stores_what_was_staged(make_rig: Callable) -> None:
    rig = await make_rig()
    add = asyncio.create_task(rig.engine.add(NewTask(duration=5)))
    await asyncio.sleep(0)  # staged, not yet written
    await rig.close()
    task = await add
    assert rig.stored(task.task_id)["status"] == "interrupted"
    assert not rig.engine._runners.runs


async def test_a_runner_cancelled_before_its_first_step_is_forgotten(make_rig: Callable) -> None:
    rig = await make_rig(max_concurrent=1)
    first = await rig.engine.add(NewTask(duration=5))
    second = await rig.engine.add(NewTask(duration=5))
    await rig.engine.cancel(first.task_id)  # starts `second`'s runner ...
    await rig.engine.cancel(second.task_id)  # ... which is cancelled before it ever ran
    await settle()
    assert rig.engine._runners.runs == {}
    await rig.close()


async def test_dependencies_on_finished_tasks_leave_no_bookkeeping(rig: Rig) -> None:
    first = await rig.engine.add(NewTask(duration=1))
    await rig.clock.advance(1.5)
    await rig.engine.add(NewTask(duration=1, after=(first.task_id,)))
    await rig.clock.advance(1.5)
    await rig.engine.clear_finished()
    assert not rig.engine._ledger.dependents


def test_task_ids_are_random_uuids_unique_across_threads_and_a_forked_child() -> None:
    """new_task_id() reads the system's randomness in blocks (web/tasks/engine.py): no two
    callers, in threads or in a forked child, may be handed the same block."""
    with ThreadPoolExecutor(4) as pool:
        ids = [i for chunk in pool.map(lambda _: [new_task_id() for _ in range(2000)], range(4))
               for i in chunk]  # fmt: skip
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(hex=i).version == 4 and uuid.UUID(hex=i).hex == i for i in ids)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then gone
        os.write(writer, new_task_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(writer)
    with os.fdopen(reader, "rb") as child:
        assert child.read().decode() != new_task_id()
