"""TaskEngine: adds, runs, pauses, cancels and lists tasks; the single writer of task state.

Every change goes the same way: transition() (or a plain field change) makes the new
Task, the store commits it, the in-memory index takes it, and only then the hub publishes
it (persist, then publish). The engine owns every asyncio task it starts (runners,
start-time waits, the progress flusher) and cancels and awaits all of them in stop().

New tasks are committed in groups: add() stages its task, and the adds staged while the
loop works through its ready callbacks are inserted in one transaction by a callback queued
behind them; only then do the tasks enter the index, go out to clients and start, and
only then do the adds answer. A commit per add cost a fifth of the add path (bench/). A
staged task is nowhere but in the staging list: if its group cannot be written, every add
of the group fails and nothing else has changed. Once it is written, every add of the
group succeeds, whatever happens to the follow-up writes (a dependency's outcome, a start).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from web.clock import SLACK, Clock
from web.realtime import Hub
from web.store import Store, StoreError
from web.tasks.kinds import Kind, TaskContext
from web.tasks.logs import LogBook
from web.tasks.model import Task, TaskConflict, TaskStatus, transition
from web.tasks.queue import WaitingLine

log = logging.getLogger(__name__)
S = TaskStatus

INTERRUPTED_ERROR = "the app stopped while this task was running"
WAITING = frozenset({S.SCHEDULED, S.QUEUED})
# Progress is stored and sent only when it crosses one of these steps: the dashboard shows
# whole percents and moves a timer's bar on its own between reports. Finer steps cost every
# client a frame: 10,000 running hour-long timers made 5,000 deltas a second (bench/).
PROGRESS_STEP = 0.01
BLOCKED_BECAUSE = {
    S.FAILED: "failed",
    S.CANCELLED: "was cancelled",
    S.INTERRUPTED: "was interrupted",
}


class TaskNotFound(LookupError):
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"no task with id {task_id!r}")


class InvalidTask(ValueError):
    """What was asked for cannot be a task (HTTP 422): unknown kind, unknown dependency."""


class Refused(PermissionError):
    """Not allowed on this server (HTTP 403), e.g. running programs without a token."""


class InvalidParams(ValueError):
    """The kind's parameters do not validate; `errors` are pydantic's, one per problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))


@dataclass(frozen=True)
class NewTask:
    """What a caller asks for; validated by the API layer before it gets here."""

    kind: str = "timer"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    # Shorthand for the timer kind's one parameter.
    duration: float | None = None
    name: str = ""
    priority: int = 0
    delay: float | None = None
    run_at: float | None = None
    after: tuple[str, ...] = ()
    retry_of: str | None = None


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent: int | None = None  # None: no limit
    paused: bool = False

    @property
    def public(self) -> dict[str, Any]:
        return {"max_concurrent": self.max_concurrent, "queue_paused": self.paused}


def new_task_id() -> str:
    return uuid.uuid4().hex


class TaskEngine:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        logs: LogBook,
        *,
        clock: Clock,
        kinds: dict[str, Kind],
        new_id: Callable[[], str] = new_task_id,
        max_concurrent: int | None = None,
        progress_interval: float = 0.25,
        allow_programs: bool = True,
    ) -> None:
        self._store = store
        self._hub = hub
        self.logs = logs
        self._clock = clock
        self._kinds = kinds
        self._new_id = new_id
        # Given at start-up (e.g. `serve --max-concurrent`): overrides the stored setting.
        self._initial_limit = max_concurrent
        # False when the server runs without a token: then no task may run a program,
        # however it is created (add, retry, a kind file).
        self._allow_programs = allow_programs
        self._progress_interval = progress_interval
        self.queue = QueueSettings()
        self._tasks: dict[str, Task] = {}  # insertion order = submission order
        # Each task's JSON as of its last change, in the same order; queue_position is left
        # null (render fills it in). Lists and broadcasts are joined from these: 10,000 of
        # them in a dict's values cost far less to walk than 10,000 Task objects.
        self._json: dict[str, bytes] = {}
        # Each task's seq: its key in the store, and its place in submission order.
        self._order: dict[str, int] = {}
        self._counts: Counter[TaskStatus] = Counter()
        self._line = WaitingLine()
        self._dependents: defaultdict[str, set[str]] = defaultdict(set)
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._run_started: dict[str, float] = {}  # monotonic start of the current run
        self._progress: dict[str, float] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._releasing: deque[str] | None = None
        self._submitted = itertools.count(1)
        # Adds of this turn of the loop, not yet written (see the module docstring).
        self._staged: list[tuple[int, Task]] = []
        self._staged_counts: Counter[TaskStatus] = Counter()
        self._staged_applied: asyncio.Future[None] | None = None
        self._stopping = False
        # Bound once: every running task's context holds these, and a bound method made per
        # task is one more object per task for the garbage collector to walk (bench/).
        self._report, self._log_write = self._report_progress, self._write_log
        self._look_again = False  # a release failed: _move_on looks at every scheduled task

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the history; what was running when the app stopped becomes interrupted."""
        stored = self._store.load_settings()
        self.queue = QueueSettings(
            max_concurrent=stored.get("max_concurrent"),  # type: ignore[arg-type]
            paused=bool(stored.get("queue_paused", False)),
        )
        if self._initial_limit is not None:
            self._save_queue(dataclasses.replace(self.queue, max_concurrent=self._initial_limit))
        now = self._clock.now()
        interrupted = []
        seq = 0
        for seq, task in self._store.load_all():
            if task.status is S.RUNNING:
                task = transition(task, S.INTERRUPTED, finished_at=now, error=INTERRUPTED_ERROR)
                interrupted.append((seq, task))
            self._remember(task, seq)
        self._submitted = itertools.count(seq + 1)
        self._store.update_many(interrupted)
        for task_id in self._scheduled():
            self._release_if_ready(task_id)
        self._flusher = asyncio.create_task(self._flush_loop(), name="progress-flusher")
        self._dispatch()

    async def stop(self) -> None:
        """Record running tasks as interrupted, then cancel and await everything we started."""
        self._stopping = True
        self._apply_staged()  # adds already accepted are written (and then interrupted)
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        try:
            self.flush_progress()
            now = self._clock.now()
            self._commit_many(
                transition(t, S.INTERRUPTED, finished_at=now, error=INTERRUPTED_ERROR)
                for t in self._tasks.values()
                if t.status is S.RUNNING
            )
        finally:
            # Even when the database cannot take that last write (a full disk), every runner
            # is stopped, and with it every process a command task started. The next start
            # records what was running as interrupted anyway.
            owned = [*self._runners.values(), *self._timers.values()]
            for job in owned:
                job.cancel()
            await asyncio.gather(*owned, return_exceptions=True)

    # -- commands --------------------------------------------------------------------------

    def kind(self, name: str) -> Kind:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds))
            raise InvalidTask(f"unknown kind {name!r}; known kinds: {known}") from None

    @property
    def kinds(self) -> list[Kind]:
        return sorted(self._kinds.values(), key=lambda k: k.name)

    async def add(self, spec: NewTask) -> Task:
        """The new task as it stands once it is stored (with the adds of the same turn of the
        loop) and started if it runs at once; StoreError if it could not be stored."""
        kind = self.kind(spec.kind)
        if kind.requires_token and not self._allow_programs:
            raise Refused(
                f"{kind.name} tasks run programs, so they are refused while the server runs "
                "without a token (--no-auth); restart it with the token on"
            )
        raw = spec.params if spec.duration is None else {**spec.params, "duration": spec.duration}
        try:
            params = kind.validate(raw).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            raise InvalidParams(exc.errors(include_url=False, include_input=False)) from None
        missing = [d for d in spec.after if d not in self._tasks]
        if missing:
            raise InvalidTask(f"`after` names unknown task ids: {', '.join(missing)}")
        now = self._clock.now()
        run_at = spec.run_at
        if run_at is None and spec.delay:
            run_at = now + spec.delay
        # Order kept, duplicates dropped; a new id cannot be named, so no cycle can form.
        after = tuple(dict.fromkeys(spec.after))
        status = self._first_status(run_at, after)
        task = Task(
            task_id=self._new_id(),
            name=spec.name,
            kind=spec.kind,
            params=params,
            duration=params.get("duration"),
            status=status,
            created_at=now,
            priority=spec.priority,
            run_at=run_at,
            started_at=now if status is S.RUNNING else None,
            after=after,
            retry_of=spec.retry_of,
        )
        applied = self._stage(task)
        await asyncio.shield(applied)  # shared by the group: one add's cancellation is its own
        return self._tasks.get(task.task_id, task)  # (a task may end and be cleared that fast)

    def cancel(self, task_id: str) -> Task:
        """Immediate: the answer already says cancelled; the runner unwinds afterwards."""
        task = self.get(task_id)
        cancelled = transition(
            task, S.CANCELLED, finished_at=self._clock.now(), elapsed=self._elapsed(task)
        )
        self._commit(cancelled)
        self._end_run(task_id)  # only once the change is stored: a failed write changes nothing
        self._move_on()
        return self._tasks[task_id]

    def pause(self, task_id: str) -> Task:
        """Stop a running task part-way; it keeps its progress and frees its slot."""
        task = self.get(task_id)
        if task.status is S.RUNNING and not self.kind(task.kind).resumable:
            raise TaskConflict(f"tasks of kind {task.kind!r} cannot be paused")
        progress = self._progress.get(task_id, task.progress)
        paused = transition(task, S.PAUSED, elapsed=self._elapsed(task)).with_progress(progress)
        self._commit(paused)
        self._end_run(task_id)
        self._move_on()
        return paused

    def resume(self, task_id: str) -> Task:
        """Back in line; it continues where it stopped when a slot is free."""
        task = self.get(task_id)
        if task.status is not S.PAUSED:
            # The table allows scheduled -> queued too, but that is the scheduler's move.
            raise TaskConflict(f"task {task_id} is {task.status}; only paused tasks can resume")
        self._commit(transition(task, S.QUEUED))
        self._move_on()
        return self._tasks[task_id]

    async def retry(self, task_id: str) -> Task:
        """Run a finished task again, as a new task with the same parameters."""
        old = self.get(task_id)
        if not old.status.is_final:
            raise TaskConflict(
                f"task {task_id} is {old.status}; only finished tasks can be retried"
            )
        return await self.add(
            NewTask(
                kind=old.kind,
                params=old.params,
                name=old.name,
                priority=old.priority,
                retry_of=old.task_id,
            )
        )

    def set_priority(self, task_id: str, priority: int | None = None, front: bool = False) -> Task:
        """Re-rank a waiting task; `front` puts it ahead of everything waiting."""
        task = self.get(task_id)
        if task.status not in WAITING:
            raise TaskConflict(
                f"task {task_id} is {task.status}; only scheduled or queued tasks can be re-ranked"
            )
        if front:
            others = [
                t.priority for t in self._tasks.values() if t.status in WAITING and t is not task
            ]
            priority = max(task.priority, max(others, default=task.priority) + 1)
        if priority is None:
            raise InvalidTask("give a priority, or ask for the front of the line")
        self._commit(dataclasses.replace(task, priority=priority))
        return self._tasks[task_id]

    def configure(self, settings: QueueSettings) -> QueueSettings:
        """Change the limit or pause/resume the queue; tasks already running go on."""
        if settings.max_concurrent is not None and settings.max_concurrent < 1:
            raise InvalidTask("max_concurrent must be at least 1, or null for no limit")
        self._save_queue(settings)
        self._move_on()
        return self.queue

    def clear_finished(self) -> list[str]:
        """Forget every finished task that no waiting task still runs after; returns the ids."""
        waiting = itertools.chain((t for _, t in self._staged), self._tasks.values())
        needed = {d for t in waiting if not t.status.is_final for d in t.after}
        ids = [
            t.task_id for t in self._tasks.values() if t.status.is_final and t.task_id not in needed
        ]
        self._store.delete((self._order[i], i) for i in ids)
        for task_id in ids:
            self._counts[self._tasks.pop(task_id).status] -= 1
            del self._json[task_id]
            del self._order[task_id]
            self._dependents.pop(task_id, None)
            with contextlib.suppress(OSError):  # a log file that will not go is no reason
                self.logs.delete(task_id)  # to keep the rest of memory out of step
        if ids:
            self._hub.publish_removed(ids)
        return ids

    # -- queries ---------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskNotFound(task_id) from None

    def render(self, task: Task) -> bytes:
        """The JSON of a task's current version, with its place in line if it is queued; a
        task that is gone (cleared) as given."""
        task_id = task.task_id
        if task_id in self._line:
            return self._tasks[task_id].to_json(queue_position=self._line.position(task_id))
        return self._json.get(task_id) or task.to_json()

    def page(
        self,
        statuses: Iterable[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[list[bytes], int]:
        """Newest first: the JSON of each task on the page, and how many match in all."""
        end = None if limit is None else offset + limit
        if statuses:
            wanted = frozenset(statuses)
            matching = [t for t in reversed(self._tasks.values()) if t.status in wanted]
            return [self.render(t) for t in matching[offset:end]], len(matching)
        if not self._line:
            # The usual case: one pass over the stored JSON, not a Task object visited (and
            # values, not items: a tuple per task cost half as much again; bench/).
            newest_first = itertools.islice(reversed(self._json.values()), offset, end)
            return list(newest_first), len(self._json)
        tasks = itertools.islice(reversed(self._tasks.values()), offset, end)
        return [self.render(t) for t in tasks], len(self._tasks)

    def counts(self) -> dict[str, int]:
        return {s.value: self._counts[s] for s in S}

    def all_tasks(self) -> list[Task]:
        """Newest first, as the snapshot sends them."""
        return list(reversed(self._tasks.values()))

    # -- bookkeeping -----------------------------------------------------------------------

    def _remember(self, task: Task, seq: int | None = None) -> None:
        """Take a task's new version; `seq` is given for a task the index does not have."""
        task_id = task.task_id
        rendered = task.to_json()  # first: should it ever fail, nothing has changed yet
        old = self._tasks.get(task_id)
        if old is None:
            assert seq is not None
            self._order[task_id] = seq
            if not task.status.is_final:
                for dep in task.after:
                    if not (dep in self._tasks and self._tasks[dep].status.is_final):
                        self._dependents[dep].add(task_id)  # told when `dep` ends
        else:
            self._counts[old.status] -= 1
        self._tasks[task_id] = task
        self._json[task_id] = rendered
        self._counts[task.status] += 1
        # The waiting line follows the status: nothing else puts tasks in or takes them out.
        if task.status is S.QUEUED:
            self._line.put(task_id, task.priority, self._order[task_id])
        else:
            self._line.discard(task_id)

    def _publish(self, task: Task, seq: int | None = None) -> None:
        self._remember(task, seq)
        self._hub.publish(task.task_id, self.render(task).decode())
        if task.status.is_final:
            self._move_on(*self._dependents.pop(task.task_id, ()))

    def _commit(self, task: Task) -> None:
        self._store.update(self._order[task.task_id], task)
        self._publish(task)

    def _commit_many(self, tasks: Iterable[Task]) -> None:
        batch = list(tasks)
        self._store.update_many((self._order[t.task_id], t) for t in batch)
        for task in batch:
            self._publish(task)

    # -- adds, a turn of the loop at a time ------------------------------------------------

    def _stage(self, task: Task) -> asyncio.Future[None]:
        """Queue a new task for the group commit; the future is done once it is applied."""
        if self._staged_applied is None:
            loop = asyncio.get_running_loop()
            self._staged_applied = loop.create_future()
            loop.call_soon(self._apply_staged)
        self._staged.append((next(self._submitted), task))
        self._staged_counts[task.status] += 1
        return self._staged_applied

    def _apply_staged(self) -> None:
        """Write the staged tasks in one transaction; then index, publish and start them."""
        staged, applied = self._staged, self._staged_applied
        if applied is None:
            return
        self._staged, self._staged_applied = [], None
        self._staged_counts.clear()
        try:
            self._store.insert_many(staged)
        except Exception as exc:  # every add of the group answers with it (StoreError: 503)
            _fail(applied, exc)
            return
        try:
            # Every task of the group is indexed (so its slot counts) before anything moves.
            for seq, task in staged:
                self._publish(task, seq)
            for _, task in staged:
                if task.status is S.RUNNING:
                    self._launch(task)
        except Exception as exc:
            # A bug, not the database: the adds fail (500) rather than wait for ever.
            log.exception("could not take in the tasks just stored")
            _fail(applied, exc)
            return
        applied.set_result(None)
        self._move_on(*(t.task_id for _, t in staged if t.status is S.SCHEDULED))

    def _save_queue(self, settings: QueueSettings) -> None:
        self._store.save_settings(
            {"max_concurrent": settings.max_concurrent, "queue_paused": settings.paused}
        )
        self.queue = settings
        self._hub.publish_settings(settings.public)

    # -- waiting for time and for other tasks ----------------------------------------------

    def _first_status(self, run_at: float | None, after: tuple[str, ...]) -> TaskStatus:
        """Scheduled if a new task waits for its time or a dependency. Else running if
        nothing waits ahead of it and a slot is free: a task that runs at once costs one
        commit and one delta, not two of each. Else queued."""
        if self._starts_later(run_at) or any(
            self._tasks[d].status is not S.COMPLETED for d in after
        ):
            return S.SCHEDULED
        if self._line.first() is None and not self._staged_counts[S.QUEUED] and self._slot_free():
            return S.RUNNING
        return S.QUEUED

    def _scheduled(self) -> tuple[str, ...]:
        """Every scheduled task's id (a copy: releasing them changes what is scheduled)."""
        return tuple(t.task_id for t in self._tasks.values() if t.status is S.SCHEDULED)

    def _starts_later(self, run_at: float | None) -> bool:
        return run_at is not None and run_at > self._clock.now() + SLACK

    def _release_if_ready(self, *task_ids: str) -> None:
        """Move scheduled tasks on: to queued when their time has come and every task they
        run after has completed; to failed when one of those can no longer complete.

        A failure releases the failed task's own dependents in turn; they join the work list
        of the call already running instead of recursing, so long chains are fine."""
        if self._releasing is not None:
            self._releasing.extend(task_ids)
            return
        self._releasing = work = deque(task_ids)
        try:
            while work:
                task = self._tasks.get(work.popleft())
                if task is not None and task.status is S.SCHEDULED:
                    self._release(task)
        finally:
            self._releasing = None
        self._dispatch()

    def _release(self, task: Task) -> None:
        for dep_id in task.after:
            dep = self._tasks.get(dep_id)
            if dep is None or (dep.status.is_final and dep.status is not S.COMPLETED):
                why = BLOCKED_BECAUSE.get(dep.status if dep else None, "no longer exists")
                self._commit(
                    transition(
                        task,
                        S.FAILED,
                        finished_at=self._clock.now(),
                        error=f"dependency {dep_id} {why}",
                    )
                )
                self._end_run(task.task_id)  # its start-time wait, if any
                return
        if self._starts_later(task.run_at):
            if task.task_id not in self._timers:
                self._own(
                    self._timers,
                    task.task_id,
                    self._wait_for_start(task.task_id, task.run_at),
                    f"start-{task.task_id}",
                )
        elif all(self._tasks[d].status is S.COMPLETED for d in task.after):
            self._commit(transition(task, S.QUEUED))

    async def _wait_for_start(self, task_id: str, run_at: float) -> None:
        await self._clock.sleep(run_at - self._clock.now())
        self._timers.pop(task_id, None)  # done waiting: _release may start a new wait
        self._move_on(task_id)

    def _move_on(self, *scheduled: str) -> None:
        """Release these scheduled tasks if they may go on, and start what may start: what
        follows a change (a task ended, new tasks stored, a start time reached, the queue
        changed). Whether that change itself was stored decides its answer; these follow-up
        writes do not. One the database refuses leaves its task as it was, in memory and on
        disk, and the next call looks at every scheduled task again (a dependency's end or
        a start time would not come twice); the error goes to the log."""
        if self._look_again:
            self._look_again = False
            scheduled = self._scheduled()
        try:
            self._release_if_ready(*scheduled)  # and dispatches
        except StoreError:
            self._look_again = True
            log.exception("could not move the queue on")

    # -- running ---------------------------------------------------------------------------

    def _slot_free(self) -> bool:
        if self._stopping or self.queue.paused:
            return False
        limit = self.queue.max_concurrent
        return limit is None or self._counts[S.RUNNING] + self._staged_counts[S.RUNNING] < limit

    def _dispatch(self) -> None:
        """Start waiting tasks while there are free slots, highest priority first."""
        while (task_id := self._line.first()) is not None and self._slot_free():
            task = self._started(self._tasks[task_id])
            self._commit(task)
            self._launch(task)

    def _started(self, task: Task) -> Task:
        first_start = task.started_at  # a resumed task keeps its first start
        return transition(
            task, S.RUNNING, started_at=self._clock.now() if first_start is None else first_start
        )

    def _launch(self, task: Task) -> None:
        self._run_started[task.task_id] = self._clock.monotonic()
        self._own(self._runners, task.task_id, self._run(task), f"task-{task.task_id}")

    def _own(
        self, owned: dict[str, asyncio.Task[None]], task_id: str, work: Any, name: str
    ) -> asyncio.Task[None]:
        """Start `work` as an asyncio task kept in `owned` until it is done. The entry goes
        in a done callback: a task cancelled before its first step never runs its body."""
        job = asyncio.create_task(work, name=name)
        owned[task_id] = job
        # A partial, not a closure: fewer objects per task for the garbage collector to
        # walk, which 10,000 running tasks made a third of the cost of an add (bench/).
        job.add_done_callback(functools.partial(_disown, owned, task_id))
        return job

    async def _run(self, task: Task) -> None:
        ctx = TaskContext(
            task.task_id,
            self._clock,
            report=self._report,
            write_log=self._log_write,
            elapsed=task.elapsed,
        )
        try:
            await self.kind(task.kind).run(task.params, ctx)
        except asyncio.CancelledError:
            raise  # cancel(), pause() or stop() has already recorded what happened
        except Exception as exc:
            log.exception("task %s failed", task.task_id)
            # A kind's message may hold anything, even text UTF-8 cannot carry.
            error = (str(exc) or type(exc).__name__).encode("utf-8", "replace").decode()
            self._finish(task.task_id, S.FAILED, error=error)
        else:
            self._finish(task.task_id, S.COMPLETED, progress=1.0)
        finally:
            self.logs.close(task.task_id)
            self._move_on()

    def _finish(self, task_id: str, status: TaskStatus, **changes: object) -> None:
        task = self._tasks[task_id]
        if task.status is not S.RUNNING:
            return  # cancelled or paused meanwhile: that answer stands
        ended = transition(
            task, status, finished_at=self._clock.now(), elapsed=self._elapsed(task), **changes
        )
        try:
            self._commit(ended)
        except StoreError:
            # Still `running` in memory and on disk; cancelling it, or the next start
            # (interrupted), ends it. Raising here would only lose the error in a task
            # nobody awaits.
            log.exception("could not record that task %s ended", task_id)
            return
        self._end_run(task_id)

    def _elapsed(self, task: Task) -> float:
        """Seconds the task has run in all, the current run included."""
        started = self._run_started.get(task.task_id)
        return task.elapsed + (0.0 if started is None else self._clock.monotonic() - started)

    def _end_run(self, task_id: str) -> None:
        """Stop whatever runs or waits for this task (it unwinds in the background)."""
        self._progress.pop(task_id, None)
        self._run_started.pop(task_id, None)
        for owned in (self._runners, self._timers):
            job = owned.get(task_id)
            if job is not None and job is not asyncio.current_task():
                job.cancel()

    # -- progress --------------------------------------------------------------------------

    def _report_progress(self, task_id: str, fraction: float) -> None:
        self._progress[task_id] = min(1.0, max(0.0, fraction))

    def _write_log(self, task_id: str, text: str) -> None:
        task = self._tasks.get(task_id)
        if task is None or task.status is not S.RUNNING:
            return  # a worker thread that has not noticed its task ended yet
        try:
            self.logs.append(task_id, text.encode("utf-8", errors="replace"))
        except OSError:
            log.exception("could not write the log of task %s", task_id)

    def flush_progress(self) -> None:
        """Write the latest reported progress of each task in one transaction, then publish."""
        pending, self._progress = self._progress, {}
        changed = []
        for task_id, fraction in pending.items():
            task = self._tasks.get(task_id)
            if (
                task is not None
                and task.status is S.RUNNING
                and int(fraction / PROGRESS_STEP) != int(task.progress / PROGRESS_STEP)
            ):
                changed.append(task.with_progress(fraction))
        self._commit_many(changed)

    async def _flush_loop(self) -> None:
        while True:
            await self._clock.sleep(self._progress_interval)
            try:
                self.flush_progress()
            except StoreError:
                log.exception("could not save progress; will try again")


def _fail(applied: asyncio.Future[None], exc: Exception) -> None:
    """Every add of a group answers with `exc`."""
    applied.set_exception(exc)
    applied.exception()  # retrieved: adds whose callers gave up need not hear of it


def _disown(owned: dict[str, asyncio.Task[None]], task_id: str, job: asyncio.Task[None]) -> None:
    if owned.get(task_id) is job:
        del owned[task_id]
