"""TaskEngine: adds, runs, pauses, cancels and lists tasks; the single writer of task state.

Every change goes the same way: transition() (or a plain field change) makes the new
Task, the ledger takes it in memory at once and into the batch of this turn of the loop,
the database's writer commits the batch, and only then is it published and are its follow-ups
run: a runner started or stopped (persist, then publish; web/tasks/ledger.py). Commands
answer once their change is committed; a change that cannot be stored is undone with
everything decided after it, and the command answers with the StoreError (503).

The engine owns every asyncio task it starts (through Runners, and the progress flusher)
and cancels and awaits all of them in stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from web.clock import Clock, settle
from web.cluster import WITHOUT_TOKEN
from web.realtime import Hub
from web.store import StoreError
from web.tasks.errors import InvalidParams, InvalidTask, Refused, TaskNotFound
from web.tasks.kinds import Kind
from web.tasks.ledger import Ledger, Then
from web.tasks.listing import Listing
from web.tasks.logs import LogBook
from web.tasks.model import Task, TaskConflict, TaskStatus, transition
from web.tasks.running import Executor, LocalExecutor, Runners
from web.tasks.scheduling import QueueSettings, Scheduler
from web.writer import Writer

log = logging.getLogger(__name__)
S = TaskStatus

INTERRUPTED_ERROR = "the app stopped while this task was running"
WAITING = frozenset({S.SCHEDULED, S.QUEUED})
# Progress is stored and sent only when it crosses one of these steps: the dashboard shows
# whole percents and moves a timer's bar on its own between reports. Finer steps cost every
# client a frame: 10,000 running hour-long timers made 5,000 deltas a second (bench/).
PROGRESS_STEP = 0.01
PAGE_IN_ROWS = 5_000  # finished tasks per read when the older history is paged in
__all__ = ["InvalidParams", "InvalidTask", "NewTask", "QueueSettings", "Refused", "TaskEngine"]
__all__ += ["TaskNotFound", "new_task_id"]


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
    executor: str | None = None  # None: the settings' default


def new_task_id() -> str:
    """A random (version 4) UUID as 32 hex digits, as uuid.uuid4().hex, without making the
    UUID object on the way, and with the system's randomness read 256 ids at a time (one
    system call per id, and the object, were a twentieth of an add; bench/)."""
    with _RANDOM_LOCK:  # engines of several apps in one process, each in its own thread
        random = next(_random)
    return f"{int.from_bytes(random) & _UUID_CLEAR | _UUID_V4:032x}"


def _random_16() -> Iterator[bytes]:
    while True:
        block = os.urandom(16 * 256)
        for start in range(0, len(block), 16):
            yield block[start : start + 16]


def _read_afresh() -> None:
    global _random
    _random = _random_16()


_random = _random_16()
_RANDOM_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child reads its own (no fork on Windows)
    os.register_at_fork(after_in_child=_read_afresh)
_UUID_CLEAR = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits...
_UUID_V4 = (0x4 << 76) | (0x2 << 62)  # ...set to version 4, RFC 4122's variant


class TaskEngine:
    def __init__(
        self,
        writer: Writer,
        hub: Hub,
        logs: LogBook,
        *,
        clock: Clock,
        kinds: dict[str, Kind],
        new_id: Callable[[], str] = new_task_id,
        max_concurrent: int | None = None,
        progress_interval: float = 0.25,
        allow_programs: bool = True,
        executors: dict[str, Executor] | None = None,
        default_executor: str = "local",
        history_window: int = 1000,
    ) -> None:
        self._writer = writer
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
        self._ledger = Ledger(writer, self._published, self._undone)
        self.listing = Listing(self._ledger)  # what lists and single tasks look like
        self._runners = Runners(
            clock,
            logs,
            self.kind,
            self._is_running,
            self._ended,
            {"local": LocalExecutor(), **(executors or {})},
        )
        self.default_executor = default_executor
        self._scheduler = Scheduler(
            self._ledger, clock, self._runners, self._change, self._launch, self._move_on
        )
        # Runs that ended but whose end is not stored yet: tried again after an undo.
        self._endings: dict[str, tuple[TaskStatus, dict[str, Any]]] = {}
        self._clearing: set[str] = set()  # deleted once their delete is committed
        self.stored_settings: dict[str, object] = {}  # as start() found them
        self._flusher: asyncio.Task[None] | None = None
        self._history_window = history_window
        self._paging: asyncio.Task[None] | None = None  # reading in the older history
        self._paging_error: StoreError | None = None
        self._submitted = itertools.count(1)
        self._look_again = False  # after an undo: _move_on looks at every scheduled task

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the history; what was running when the app stopped becomes interrupted."""
        self.stored_settings = stored = await self._writer.call("load_settings")
        self._scheduler.queue = QueueSettings(
            max_concurrent=stored.get("max_concurrent"),  # type: ignore[arg-type]
            paused=bool(stored.get("queue_paused", False)),
        )
        # The newest part of the history now, the rest behind the first answers (_page_in):
        # a start on 100,000 finished tasks spent half a second reading them (bench/).
        opening = await self._writer.call("load_opening", newest=self._history_window)
        finished, unsettled = opening.finished, opening.unsettled
        ledger = self._ledger
        ledger.take_opening(finished, unsettled)
        last = max(finished[-1][0] if finished else 0, unsettled[-1][0] if unsettled else 0)
        self._submitted = itertools.count(last + 1)
        if opening.floor:
            ledger.start_paging(opening.floor, opening.rest)
        # Tasks finished before the history kept their JSON: stored with it, once.
        for _, task in unsettled:
            if task.status.is_final:
                ledger.put(task)
        if self._initial_limit is not None:
            self._save_queue(dataclasses.replace(self.queue, max_concurrent=self._initial_limit))
        now = self._clock.now()
        for task in self._with_status(S.RUNNING):
            if self._runners.outlives_app(task):
                self._runners.launch(task, reattach=True)  # it may still run on the cluster
                continue
            error = INTERRUPTED_ERROR
            if task.executor not in self._runners.executors:
                error = f"the app restarted without the {task.executor} executor it ran on"
            self._change(transition(task, S.INTERRUPTED, finished_at=now, error=error))
        self._move_on(*(t.task_id for t in self._with_status(S.SCHEDULED)))
        try:
            await self.settled()  # a locked or full database fails the start here
        except BaseException:
            await self._runners.stop_all()  # start-time waits already under way
            raise
        if ledger.paging is not None:
            self._paging = asyncio.create_task(self._page_in(), name="history-paging")
        self._flusher = asyncio.create_task(self._flush_loop(), name="progress-flusher")

    async def _page_in(self) -> None:
        """Read the older history into memory, a chunk at a time through the writer
        (writes wait for one chunk at most; a chunk is a few ms of the loop's time)."""
        paging = self._ledger.paging
        assert paging is not None
        try:
            while rows := await self._writer.call(
                "load_finished", after=paging.read, below=paging.floor, limit=PAGE_IN_ROWS
            ):
                self._ledger.page_in(rows)
        except StoreError as exc:
            log.error("could not read the older history (tried again when asked): %s", exc)
            self._paging_error = exc  # what needs it answers 503 with this
            return
        self._ledger.paged_in()

    async def whole_history(self) -> None:
        """Returns once every task of the history is in memory (see start()); StoreError
        if it could not be read (the next call tries again from where it stopped)."""
        if self._paging is None:
            return
        if self._paging.done() and self._paging_error is not None:
            self._paging_error = None
            self._paging = asyncio.create_task(self._page_in(), name="history-paging")
        await asyncio.shield(self._paging)
        if self._paging_error is not None:
            raise self._paging_error

    async def find(self, task_id: str) -> Task:
        """get(), for a task that may be in the history still being paged in."""
        if self._ledger.status(task_id) is None:
            await self.whole_history()
        return self.get(task_id)

    async def stop(self) -> None:
        """Record running tasks as interrupted, then cancel and await everything we started."""
        self._scheduler.stopping = True
        if self._paging is not None:
            self._paging.cancel()
            await asyncio.gather(self._paging, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        try:
            self.flush_progress()
            now = self._clock.now()
            for task in self._with_status(S.RUNNING):
                if not self._runners.outlives_app(task):  # else start() reattaches to it
                    self._change(
                        transition(task, S.INTERRUPTED, finished_at=now, error=INTERRUPTED_ERROR)
                    )
            await self.settled()
        finally:
            # Even when the database cannot take that last write (a full disk), every runner
            # is stopped, and with it every process a command task started. The next start
            # records what was running as interrupted anyway.
            await self._runners.stop_all()

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
        """The new task as it stands once it is stored (with the other changes of the same
        turn of the loop) and started if it runs at once; StoreError if it was not stored."""
        if spec.after and any(d not in self._ledger.json for d in spec.after):
            await self.whole_history()  # it may be in the part still being paged in
        kind = self.kind(spec.kind)
        if kind.requires_token and not self._allow_programs:
            raise Refused(
                f"{kind.name} tasks run programs, so they are refused while the server runs "
                "without a token (--no-auth); restart it with the token on"
            )
        executor = self._executor(spec.executor or self.default_executor)
        raw = spec.params if spec.duration is None else {**spec.params, "duration": spec.duration}
        try:
            params = kind.validate(raw, executor).model_dump(mode="json", exclude_none=True)
        except ValidationError as exc:
            raise InvalidParams(exc.errors(include_url=False, include_input=False)) from None
        ledger = self._ledger
        missing = [d for d in spec.after if d not in ledger.json or d in self._clearing]
        if missing:
            raise InvalidTask(f"`after` names unknown task ids: {', '.join(missing)}")
        now = self._clock.now()
        run_at = spec.run_at
        if run_at is None and spec.delay:
            run_at = now + spec.delay
        # Order kept, duplicates dropped; a new id cannot be named, so no cycle can form.
        after = tuple(dict.fromkeys(spec.after))
        status = self._scheduler.first_status(run_at, after)
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
            executor=executor,
        )
        launch = functools.partial(self._launch, task) if status is S.RUNNING else None
        self._ledger.put(task, next(self._submitted), launch)
        if status is S.SCHEDULED:
            self._move_on(task.task_id)
        await self.settled()
        # As it stands once stored (it may even have ended, or been cleared, that fast).
        return ledger.get(task.task_id) or task

    async def cancel(self, task_id: str) -> Task:
        """Answers once the cancel is stored; local work unwinds afterwards, work on a
        cluster has stopped before (or the error says that its worker did not answer)."""
        await self.find(task_id)
        task, error = await self._stop_work(task_id)
        cancelled = self._cancel(task, error)
        await self.settled()
        return cancelled

    async def pause(self, task_id: str) -> Task:
        """Stop a running task part-way; it keeps its progress and frees its slot."""
        task = await self.find(task_id)
        if task.status is S.RUNNING and not self.kind(task.kind).resumable:
            raise TaskConflict(f"tasks of kind {task.kind!r} cannot be paused")
        task, error = await self._stop_work(task_id)
        if error is not None:  # its work may go on: it cannot be resumed later
            cancelled = self._cancel(task, error)
            await self.settled()
            return cancelled
        progress = self._runners.progress.get(task_id, task.progress)
        self._record_stop(task, S.PAUSED, elapsed=self._runners.elapsed(task), progress=progress)
        await self.settled()
        return self.get(task_id)

    async def _stop_work(self, task_id: str) -> tuple[Task, str | None]:
        """The task as it is once its work has stopped (a cluster's worker confirmed, or
        did not answer: then the error to record); it may have ended meanwhile."""
        task = self.get(task_id)
        if task.status is not S.RUNNING:
            return task, None
        error = await self._runners.stop(task)
        return self.get(task_id), error

    def _cancel(self, task: Task, error: str | None) -> Task:
        return self._record_stop(
            task,
            S.CANCELLED,
            finished_at=self._clock.now(),
            elapsed=self._runners.elapsed(task),
            error=error,
        )

    def _record_stop(self, task: Task, status: TaskStatus, **changes: Any) -> Task:
        stopped = transition(task, status, **changes)
        if task.status is S.RUNNING and task.executor != "local":
            # Its work stopped before this change was decided, so no run's end will come:
            # should the database refuse the change (undone), it is applied again later,
            # as a run's unstored end is (_endings, _move_on).
            self._endings[task.task_id] = (status, changes)
        self._change(stopped, then=functools.partial(self._runners.end, stopped))
        self._move_on()
        return stopped

    async def resume(self, task_id: str) -> Task:
        """Back in line; it continues where it stopped when a slot is free."""
        task = await self.find(task_id)
        if task.status is not S.PAUSED:
            # The table allows scheduled -> queued too, but that is the scheduler's move.
            raise TaskConflict(f"task {task_id} is {task.status}; only paused tasks can resume")
        self._change(transition(task, S.QUEUED))
        self._move_on()
        await self.settled()
        return self.get(task_id)

    async def retry(self, task_id: str) -> Task:
        """Run a finished task again, as a new task with the same parameters."""
        old = await self.find(task_id)
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
                executor=old.executor if old.executor in self._runners.executors else None,
            )
        )

    async def set_priority(
        self, task_id: str, priority: int | None = None, front: bool = False
    ) -> Task:
        """Re-rank a waiting task; `front` puts it ahead of everything waiting."""
        task = await self.find(task_id)
        if task.status not in WAITING:
            raise TaskConflict(
                f"task {task_id} is {task.status}; only scheduled or queued tasks can be re-ranked"
            )
        if front:
            others = [
                t.priority
                for t in self._ledger.tasks.values()
                if t.status in WAITING and t is not task
            ]
            priority = max(task.priority, max(others, default=task.priority) + 1)
        if priority is None:
            raise InvalidTask("give a priority, or ask for the front of the line")
        self._change(dataclasses.replace(task, priority=priority))
        await self.settled()
        return self.get(task_id)

    async def configure(self, settings: QueueSettings) -> QueueSettings:
        """Change the limit or pause/resume the queue; tasks already running go on."""
        if settings.max_concurrent is not None and settings.max_concurrent < 1:
            raise InvalidTask("max_concurrent must be at least 1, or null for no limit")
        self._save_queue(settings)
        self._move_on()
        await self.settled()
        return settings

    async def clear_finished(self) -> list[str]:
        """Forget every finished task that no waiting task still runs after; returns the ids."""
        await self.whole_history()
        ledger = self._ledger
        needed = {d for t in ledger.tasks.values() for d in t.after}
        ids = [
            i
            for i in ledger.json
            if i in ledger.finished and i not in needed and i not in self._clearing
        ]
        if not ids:
            return ids
        self._clearing.update(ids)
        rows = [(self._ledger.order[i], i) for i in ids]
        self._ledger.save(
            ("delete", rows),
            undo=functools.partial(self._clearing.difference_update, ids),
            then=functools.partial(self._cleared, ids),
        )
        await self.settled()
        return ids

    async def save_settings(self, values: dict[str, object], then: Then) -> None:
        """Store settings that are not the engine's own (notifications) through the same
        writer; `then` takes them in once they are stored."""
        self._ledger.save(("settings", list(values.items())), undo=_nothing, then=then)
        await self.settled()

    def _cleared(self, ids: list[str]) -> None:
        self._clearing.difference_update(ids)
        self._ledger.forget(ids)
        for task_id in ids:
            with contextlib.suppress(OSError):  # a log file that will not go is no reason
                self.logs.delete(task_id)  # to keep the rest of memory out of step
        self._hub.publish_removed(ids)

    # -- queries ---------------------------------------------------------------------------

    def get(self, task_id: str) -> Task:
        task = self._ledger.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def counts(self) -> dict[str, int]:
        return {s.value: self._ledger.counts[s] for s in S}

    def finished_ids(self) -> Iterable[str]:
        return self._ledger.finished.keys()

    def all_tasks(self) -> list[Task]:
        """Newest first, as lists give them."""
        return [self.get(task_id) for task_id in reversed(self._ledger.json)]

    # -- changes ---------------------------------------------------------------------------

    @property
    def queue(self) -> QueueSettings:
        return self._scheduler.queue

    def _change(self, task: Task, then: Then | None = None) -> None:
        """Decide a new version of a known task (web/tasks/ledger.py says what follows)."""
        self._ledger.put(task, then=then)
        if task.status.is_final:
            self._move_on(*self._ledger.dependents.get(task.task_id, ()))

    async def settled(self) -> None:
        """Wait until everything decided so far is committed; StoreError if it was not.
        A caller that gives up does not take the change back (Ledger.settled)."""
        settled = self._ledger.settled()
        if settled is not None:
            await settled

    @property
    def quiet(self) -> bool:
        """Nothing decided is waiting to be committed or published: what the file holds is
        what the WebSocket has sent (a read of the file can be matched to a seq)."""
        return not self._ledger.busy

    async def idle(self) -> None:
        """Wait until nothing is being written, including what the writes set off (tests
        with a manual clock step through time this way). Failures are their callers'."""
        while (settled := self._ledger.settled()) is not None:
            with contextlib.suppress(Exception):
                await settled
            await settle()

    def _published(self, task: Task) -> None:
        """A version is committed: out it goes to every client."""
        task_id = task.task_id
        self._hub.publish(task_id, self.listing.render(task).decode())
        if task.status is not S.RUNNING:
            self._endings.pop(task_id, None)  # a run's end that lost to a cancel or pause
        if task.status.is_final:
            self._ledger.dependents.pop(task_id, None)

    def _undone(self) -> None:
        # A release or a run's end may have been undone: look again at the next change
        # or progress flush, whichever comes first.
        self._look_again = True

    def _save_queue(self, settings: QueueSettings) -> None:
        scheduler = self._scheduler
        old, scheduler.queue = scheduler.queue, settings
        values = {"max_concurrent": settings.max_concurrent, "queue_paused": settings.paused}
        self._ledger.save(
            ("settings", list(values.items())),
            undo=functools.partial(setattr, scheduler, "queue", old),
            then=functools.partial(self._hub.publish_settings, settings.public),
        )

    def _with_status(self, status: TaskStatus) -> list[Task]:
        """A copy: changing them changes what has the status."""
        return [t for t in self._ledger.tasks.values() if t.status is status]

    # -- moving on ------------------------------------------------------------------------

    def _move_on(self, *scheduled: str) -> None:
        """Release these scheduled tasks if they may go on, and start what may start: what
        follows a change (a task ended, new tasks, a start time reached, the queue
        changed). After an undo, every scheduled task and every run's unstored end is
        looked at again (a dependency's end or a start time would not come twice)."""
        if self._look_again:
            self._look_again = False
            scheduled = tuple(t.task_id for t in self._with_status(S.SCHEDULED))
            for task_id, (status, changes) in list(self._endings.items()):
                self._finish(task_id, status, changes)
        self._scheduler.release_if_ready(*scheduled)  # and starts what may start

    def _launch(self, task: Task) -> None:
        if not self._scheduler.stopping:  # stop() is recording it as interrupted
            self._runners.launch(task)

    def _executor(self, name: str) -> str:
        if name != "local" and not self._allow_programs:
            raise Refused(f"{WITHOUT_TOKEN}; restart it with the token on")
        if name not in self._runners.executors:
            known = ", ".join(sorted(self._runners.executors))
            raise InvalidTask(
                f"unknown executor {name!r}; this server has: {known} (set a scheduler first)"
            )
        return name

    def set_executor(self, name: str, executor: Executor | None) -> None:
        """Add (or with None, remove) an executor: tasks added from now on may name it."""
        if executor is None:
            self._runners.executors.pop(name, None)
        else:
            self._runners.executors[name] = executor

    def all_running(self) -> list[Task]:
        return self._with_status(S.RUNNING)

    def running_on(self, task_id: str, executor: str) -> bool:
        task = self._ledger.tasks.get(task_id)
        return task is not None and task.status is S.RUNNING and task.executor == executor

    def on_worker(self, task_id: str, worker: str) -> None:
        """A cluster task's worker is known (or it moved to another one)."""
        task = self._ledger.tasks.get(task_id)
        if task is not None and task.status is S.RUNNING and task.worker != worker:
            self._change(dataclasses.replace(task, worker=worker))

    def _is_running(self, task_id: str) -> bool:
        task = self._ledger.tasks.get(task_id)
        return task is not None and task.status is S.RUNNING

    def _ended(self, task_id: str, status: TaskStatus, changes: dict[str, Any]) -> None:
        """A run's outcome: kept until it is stored, then recorded."""
        self._endings[task_id] = (status, changes)
        self._finish(task_id, status, changes)

    def _finish(self, task_id: str, status: TaskStatus, changes: dict[str, Any]) -> None:
        task = self._ledger.tasks.get(task_id)
        if task is None or task.status is not S.RUNNING:
            return  # cancelled or paused meanwhile: that answer stands once stored
        ended = transition(task, status, **changes)
        self._change(ended, then=functools.partial(self._runners.end, ended))
        self._move_on()  # its slot is free

    # -- progress --------------------------------------------------------------------------

    def flush_progress(self) -> None:
        """Take the latest reported progress of each task into the batch of this turn."""
        pending, self._runners.progress = self._runners.progress, {}
        for task_id, fraction in pending.items():
            task = self._ledger.tasks.get(task_id)
            if (
                task is not None
                and task.status is S.RUNNING
                and int(fraction / PROGRESS_STEP) != int(task.progress / PROGRESS_STEP)
            ):
                self._ledger.put(task.with_progress(fraction))

    async def _flush_loop(self) -> None:
        while True:
            await self._clock.sleep(self._progress_interval)
            self.flush_progress()
            if self._look_again:
                self._move_on()


def _nothing() -> None:
    pass
