"""TaskEngine: adds, runs, cancels and lists tasks; the single writer of task state.

Every change goes the same way: transition() makes the new Task, the store commits it,
the in-memory index takes it, and only then the hub publishes it (persist, then publish).
The engine owns every asyncio task it starts (runners, start-time waits, the progress
flusher) and cancels and awaits all of them in stop().
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from web.clock import Clock
from web.realtime import Hub
from web.store import Store, StoreError
from web.tasks.kinds import Kind, RunContext
from web.tasks.model import Task, TaskStatus, transition

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "the app stopped while this task was running"


class TaskNotFound(LookupError):
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"no task with id {task_id!r}")


class UnknownKind(ValueError):
    pass


@dataclass(frozen=True)
class NewTask:
    """What a caller asks for; validated by the API layer before it gets here."""

    duration: float
    name: str = ""
    kind: str = "timer"
    priority: int = 0
    delay: float | None = None
    run_at: float | None = None


def new_task_id() -> str:
    return uuid.uuid4().hex


class TaskEngine:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        *,
        clock: Clock,
        kinds: dict[str, Kind],
        new_id: Callable[[], str] = new_task_id,
        max_concurrent: int | None = None,
        progress_interval: float = 0.25,
    ) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock
        self._kinds = kinds
        self._new_id = new_id
        self.max_concurrent = max_concurrent
        self._progress_interval = progress_interval
        self._tasks: dict[str, Task] = {}  # insertion order = creation order
        self._counts: Counter[TaskStatus] = Counter()
        # Waiting tasks: (-priority, arrival, task_id); stale entries are skipped on pop.
        self._queue: list[tuple[int, int, str]] = []
        self._arrival = itertools.count()
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._progress: dict[str, float] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the history; what was running when the app stopped becomes interrupted."""
        now = self._clock.now()
        interrupted = []
        for task in self._store.load_all():
            if task.status is TaskStatus.RUNNING:
                task = transition(
                    task, TaskStatus.INTERRUPTED, finished_at=now, error=INTERRUPTED_ERROR
                )
                interrupted.append(task)
            self._remember(task)
        self._store.update_many(interrupted)
        for task in self._tasks.values():
            if task.status is TaskStatus.SCHEDULED:
                self._arm(task)
            elif task.status is TaskStatus.QUEUED:
                self._enqueue(task)
        self._flusher = asyncio.create_task(self._flush_loop(), name="progress-flusher")
        self._dispatch()

    async def stop(self) -> None:
        """Record running tasks as interrupted, then cancel and await everything we started."""
        self._stopping = True
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self.flush_progress()
        now = self._clock.now()
        self._commit_many(
            transition(t, TaskStatus.INTERRUPTED, finished_at=now, error=INTERRUPTED_ERROR)
            for t in self._tasks.values()
            if t.status is TaskStatus.RUNNING
        )
        owned = [*self._runners.values(), *self._timers.values()]
        for job in owned:
            job.cancel()
        await asyncio.gather(*owned, return_exceptions=True)

    # -- commands --------------------------------------------------------------------------

    def add(self, spec: NewTask) -> Task:
        if spec.kind not in self._kinds:
            raise UnknownKind(
                f"unknown kind {spec.kind!r}; known kinds: {', '.join(sorted(self._kinds))}"
            )
        now = self._clock.now()
        run_at = (
            spec.run_at if spec.run_at is not None else (now + spec.delay if spec.delay else None)
        )
        waiting = run_at is not None and run_at > now
        task = Task(
            task_id=self._new_id(),
            name=spec.name,
            kind=spec.kind,
            duration=spec.duration,
            status=TaskStatus.SCHEDULED if waiting else TaskStatus.QUEUED,
            created_at=now,
            priority=spec.priority,
            run_at=run_at,
        )
        self._store.insert(task)
        self._publish(task)
        if waiting:
            self._arm(task)
        else:
            self._enqueue(task)
            self._dispatch()
        return self._tasks[task.task_id]

    def cancel(self, task_id: str) -> Task:
        """Immediate: the answer already says cancelled; the runner unwinds afterwards."""
        task = transition(self.get(task_id), TaskStatus.CANCELLED, finished_at=self._clock.now())
        self._progress.pop(task_id, None)
        self._commit(task)
        for owned in (self._runners, self._timers):
            job = owned.get(task_id)
            if job is not None:
                job.cancel()
        self._dispatch()
        return task

    def clear_finished(self) -> list[str]:
        """Forget every task in a final state; returns their ids."""
        ids = [t.task_id for t in self._tasks.values() if t.status.is_final]
        self._store.delete(ids)
        for task_id in ids:
            self._counts[self._tasks.pop(task_id).status] -= 1
        if ids:
            self._hub.publish_removed(ids)
        return ids

    # -- queries ---------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskNotFound(task_id) from None

    def page(
        self, statuses: Iterable[TaskStatus] | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Task], int]:
        """Newest first; returns (the page, how many match in all)."""
        newest_first = reversed(self._tasks.values())
        if not statuses:
            page = itertools.islice(newest_first, offset, offset + limit)
            return list(page), len(self._tasks)
        wanted = frozenset(statuses)
        matching = [t for t in newest_first if t.status in wanted]
        return matching[offset : offset + limit], len(matching)

    def counts(self) -> dict[str, int]:
        return {s.value: self._counts[s] for s in TaskStatus}

    def all_tasks(self) -> list[Task]:
        """Newest first, as the snapshot sends them."""
        return list(reversed(self._tasks.values()))

    # -- internals -------------------------------------------------------------------------

    def _remember(self, task: Task) -> None:
        old = self._tasks.get(task.task_id)
        if old is not None:
            self._counts[old.status] -= 1
        self._tasks[task.task_id] = task
        self._counts[task.status] += 1

    def _publish(self, task: Task) -> None:
        self._remember(task)
        self._hub.publish(task.task_id, task.json)

    def _commit(self, task: Task) -> None:
        self._store.update(task)
        self._publish(task)

    def _commit_many(self, tasks: Iterable[Task]) -> None:
        batch = list(tasks)
        self._store.update_many(batch)
        for task in batch:
            self._publish(task)

    def _enqueue(self, task: Task) -> None:
        heapq.heappush(self._queue, (-task.priority, next(self._arrival), task.task_id))

    def _dispatch(self) -> None:
        """Start waiting tasks while there are free slots, highest priority first."""
        if self._stopping:
            return
        while self._queue and (
            self.max_concurrent is None or self._counts[TaskStatus.RUNNING] < self.max_concurrent
        ):
            task = self._tasks.get(heapq.heappop(self._queue)[2])
            if task is None or task.status is not TaskStatus.QUEUED:
                continue
            task = transition(task, TaskStatus.RUNNING, started_at=self._clock.now())
            self._commit(task)
            self._runners[task.task_id] = asyncio.create_task(
                self._run(task), name=f"task-{task.task_id}"
            )

    async def _run(self, task: Task) -> None:
        ctx = RunContext(task.task_id, self._clock, self._report_progress)
        try:
            await self._kinds[task.kind].run(task, ctx)
        except asyncio.CancelledError:
            raise  # cancel() or stop() has already recorded what happened
        except Exception as exc:
            log.exception("task %s failed", task.task_id)
            self._finish(task.task_id, TaskStatus.FAILED, error=str(exc) or type(exc).__name__)
        else:
            self._finish(task.task_id, TaskStatus.COMPLETED, progress=1.0)
        finally:
            self._runners.pop(task.task_id, None)
            self._dispatch()

    def _finish(self, task_id: str, status: TaskStatus, **changes: object) -> None:
        task = self._tasks.get(task_id)
        if task is None or task.status is not TaskStatus.RUNNING:
            return  # cancelled meanwhile: that answer stands
        self._progress.pop(task_id, None)
        self._commit(transition(task, status, finished_at=self._clock.now(), **changes))

    def _arm(self, task: Task) -> None:
        assert task.run_at is not None
        self._timers[task.task_id] = asyncio.create_task(
            self._wait_for_start(task.task_id, task.run_at), name=f"start-{task.task_id}"
        )

    async def _wait_for_start(self, task_id: str, run_at: float) -> None:
        try:
            await self._clock.sleep(run_at - self._clock.now())
            task = self._tasks.get(task_id)
            if task is not None and task.status is TaskStatus.SCHEDULED:
                self._commit(transition(task, TaskStatus.QUEUED))
                self._enqueue(task)
                self._dispatch()
        finally:
            self._timers.pop(task_id, None)

    def _report_progress(self, task_id: str, fraction: float) -> None:
        self._progress[task_id] = fraction

    def flush_progress(self) -> None:
        """Write the latest reported progress of each task in one transaction, then publish."""
        pending, self._progress = self._progress, {}
        changed = []
        for task_id, fraction in pending.items():
            task = self._tasks.get(task_id)
            if task is not None and task.status is TaskStatus.RUNNING:
                updated = task.with_progress(fraction)
                if updated.progress != task.progress:
                    changed.append(updated)
        self._commit_many(changed)

    async def _flush_loop(self) -> None:
        while True:
            await self._clock.sleep(self._progress_interval)
            try:
                self.flush_progress()
            except StoreError:
                log.exception("could not save progress; will try again")
