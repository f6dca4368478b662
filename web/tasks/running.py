"""Runners: the asyncio tasks that run tasks and wait for start times, and what they report.

Each is owned here until it is done, and stop_all() cancels and awaits every one. A run's
outcome goes to `on_end`; progress is only noted here, and the engine takes it in batches.

Where a task's work happens is its executor's business: `local` runs the kind in this
process; another executor (web/cluster/executor.py) runs it elsewhere and reports through
the same context. Stopping local work is immediate (its runner is cancelled); remote work
is asked to stop, and the engine records the stop once the executor has an answer.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from web.clock import Clock
from web.tasks.kinds import Kind, TaskContext
from web.tasks.logs import LogBook
from web.tasks.model import Task, TaskStatus

log = logging.getLogger(__name__)
S = TaskStatus
OnEnd = Callable[[str, TaskStatus, dict[str, Any]], None]


class Ended(Exception):
    """A run that ended otherwise than by its kind's own doing (e.g. its worker was lost)."""

    def __init__(self, status: TaskStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class Stopped(Exception):
    """The work stopped because Runners.stop asked it to: the command that asked records
    the task's end (and the engine re-applies it should that change be undone)."""


class Executor(Protocol):
    name: str
    # Whether its work goes on when the app stops (the next start reattaches to it).
    outlives_app: bool

    def run(self, task: Task, kind: Kind, ctx: TaskContext, reattach: bool) -> Awaitable[None]:
        """The task's work: returns when it completed; raises what it failed with, Ended
        or Stopped. `reattach`: the work was started by an earlier run of the app."""

    async def stop(self, task_id: str) -> str | None:
        """Stop the task's work; None when it has stopped (or stops with its runner),
        else the error the task ends with."""

    def forget(self, task_id: str) -> None:
        """The task's end is recorded: let go of whatever still holds its work."""


class LocalExecutor:
    """Runs the kind in this process."""

    name = "local"
    outlives_app = False

    def run(self, task: Task, kind: Kind, ctx: TaskContext, reattach: bool) -> Awaitable[None]:
        # The kind's own awaitable, not a coroutine around it (Kind.run says why).
        return kind.run(task.params, ctx)

    async def stop(self, task_id: str) -> str | None:
        return None  # cancelling its runner stops it

    def forget(self, task_id: str) -> None:
        pass


class Runners:
    def __init__(
        self,
        clock: Clock,
        logs: LogBook,
        kind: Callable[[str], Kind],
        is_running: Callable[[str], bool],
        on_end: OnEnd,
        executors: dict[str, Executor],
    ) -> None:
        self._clock = clock
        self._logs = logs
        self._kind = kind
        self._is_running = is_running
        self._on_end = on_end
        self.executors = executors
        self.runs: dict[str, asyncio.Task[None]] = {}
        self._waits: dict[str, asyncio.Task[None]] = {}
        self._run_started: dict[str, float] = {}  # monotonic start of the current run
        self.progress: dict[str, float] = {}  # reported since the engine last took it
        # Bound once: every running task's context holds these, and a bound method made per
        # task is one more object per task for the garbage collector to walk (bench/).
        self._report, self._log_write = self._report_progress, self._write_log

    def launch(self, task: Task, reattach: bool = False) -> None:
        """Run the task; `reattach`: wait for work an earlier run of the app started."""
        self._run_started[task.task_id] = self._clock.monotonic()
        self._own(self.runs, task.task_id, self._run(task, reattach), f"task-{task.task_id}")

    def wait_for_start(self, task_id: str, run_at: float, then: Callable[[str], None]) -> None:
        """Call `then(task_id)` at `run_at`, unless a wait for it is already under way."""
        if task_id not in self._waits:
            self._own(self._waits, task_id, self._wait(task_id, run_at, then), f"start-{task_id}")

    def elapsed(self, task: Task) -> float:
        """Seconds the task has run in all, the current run included."""
        started = self._run_started.get(task.task_id)
        return task.elapsed + (0.0 if started is None else self._clock.monotonic() - started)

    def outlives_app(self, task: Task) -> bool:
        executor = self.executors.get(task.executor)
        return executor is not None and executor.outlives_app

    async def stop(self, task: Task) -> str | None:
        """Before a running task is recorded as stopped: its executor's answer (see there)."""
        executor = self.executors.get(task.executor)
        if task.task_id not in self.runs or executor is None:
            return None
        return await executor.stop(task.task_id)

    def end(self, task: Task) -> None:
        """Stop whatever runs or waits for this task (it unwinds in the background)."""
        task_id = task.task_id
        if (executor := self.executors.get(task.executor)) is not None:
            executor.forget(task_id)
        self.progress.pop(task_id, None)
        self._run_started.pop(task_id, None)
        for owned in (self.runs, self._waits):
            job = owned.get(task_id)
            if job is not None and job is not asyncio.current_task():
                job.cancel()

    async def stop_all(self) -> None:
        owned = [*self.runs.values(), *self._waits.values()]
        for job in owned:
            job.cancel()
        await asyncio.gather(*owned, return_exceptions=True)

    # -- inside a run ----------------------------------------------------------------------

    async def _run(self, task: Task, reattach: bool) -> None:
        ctx = TaskContext(
            task.task_id,
            self._clock,
            report=self._report,
            write_log=self._log_write,
            elapsed=task.elapsed,
        )
        try:
            await self._executor(task).run(task, self._kind(task.kind), ctx, reattach)
        except asyncio.CancelledError:
            raise  # cancel(), pause() or stop() has already recorded what happened
        except Stopped:
            pass  # the same, once the executor had the work stopped
        except Ended as end:
            self._ended(task, end.status, error=str(end))
        except Exception as exc:
            log.exception("task %s failed", task.task_id)
            # A kind's message may hold anything, even text UTF-8 cannot carry.
            error = (str(exc) or type(exc).__name__).encode("utf-8", "replace").decode()
            self._ended(task, S.FAILED, error=error)
        else:
            self._ended(task, S.COMPLETED, progress=1.0)
        finally:
            self._logs.close(task.task_id)

    def _executor(self, task: Task) -> Executor:
        try:
            return self.executors[task.executor]
        except KeyError:
            raise Ended(
                S.FAILED,
                f"the {task.executor} executor it was added for is gone: "
                "the settings no longer name a scheduler",
            ) from None

    def _ended(self, task: Task, status: TaskStatus, **changes: Any) -> None:
        changes.update(finished_at=self._clock.now(), elapsed=self.elapsed(task))
        self._on_end(task.task_id, status, changes)

    async def _wait(self, task_id: str, run_at: float, then: Callable[[str], None]) -> None:
        await self._clock.sleep(run_at - self._clock.now())
        self._waits.pop(task_id, None)  # done waiting: a new wait may start
        then(task_id)

    def _report_progress(self, task_id: str, fraction: float) -> None:
        self.progress[task_id] = min(1.0, max(0.0, fraction))

    def _write_log(self, task_id: str, text: str) -> None:
        if not self._is_running(task_id):
            return  # a worker thread that has not noticed its task ended yet
        try:
            self._logs.append(task_id, text.encode("utf-8", errors="replace"))
        except OSError:
            log.exception("could not write the log of task %s", task_id)

    def _own(
        self,
        owned: dict[str, asyncio.Task[None]],
        task_id: str,
        work: Coroutine[Any, Any, None],
        name: str,
    ) -> None:
        """Start `work` as an asyncio task kept in `owned` until it is done. The entry goes
        in a done callback: a task cancelled before its first step never runs its body."""
        job = asyncio.create_task(work, name=name)
        owned[task_id] = job
        # A partial, not a closure: fewer objects per task for the garbage collector to
        # walk, which 10,000 running tasks made a third of the cost of an add (bench/).
        job.add_done_callback(functools.partial(_disown, owned, task_id))


def _disown(owned: dict[str, asyncio.Task[None]], task_id: str, job: asyncio.Task[None]) -> None:
    if owned.get(task_id) is job:
        del owned[task_id]
