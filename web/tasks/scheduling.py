"""Scheduler: which waiting task goes on, and when.

A new task starts at once if nothing waits ahead of it and a slot is free; else it waits,
scheduled (for its start time or the tasks it runs after) or queued (for a slot, highest
priority first). The scheduler only decides: every change it makes goes through the
engine's `change`, like any other (web/tasks/ledger.py).
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web.clock import SLACK, Clock
from web.tasks.ledger import Ledger, Then
from web.tasks.model import Task, TaskStatus, transition
from web.tasks.running import Runners

S = TaskStatus
BLOCKED_BECAUSE = {
    S.FAILED: "failed",
    S.CANCELLED: "was cancelled",
    S.INTERRUPTED: "was interrupted",
}
Change = Callable[[Task, Then | None], None]


@dataclass(frozen=True)
class QueueSettings:
    max_concurrent: int | None = None  # None: no limit
    paused: bool = False

    @property
    def public(self) -> dict[str, Any]:
        return {"max_concurrent": self.max_concurrent, "queue_paused": self.paused}


class Scheduler:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        runners: Runners,
        change: Change,
        launch: Callable[[Task], None],
        time_came: Callable[[str], None],
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._runners = runners
        self._change = change
        self._launch = launch
        self._time_came = time_came  # a start time was reached
        self.queue = QueueSettings()
        self.stopping = False  # no task starts once the engine is stopping
        self._releasing: deque[str] | None = None

    def first_status(self, run_at: float | None, after: tuple[str, ...]) -> TaskStatus:
        """Scheduled if a new task waits for its time or a dependency. Else running if
        nothing waits ahead of it and a slot is free: a task that runs at once costs one
        write and one delta, not two of each. Else queued."""
        status = self._ledger.status
        if self._starts_later(run_at) or any(status(d) is not S.COMPLETED for d in after):
            return S.SCHEDULED
        if self._ledger.line.first() is None and self._slot_free():
            return S.RUNNING
        return S.QUEUED

    def release_if_ready(self, *task_ids: str) -> None:
        """Move scheduled tasks on: to queued when their time has come and every task they
        run after has completed; to failed when one of those can no longer complete. Then
        start what may start.

        A failure releases the failed task's own dependents in turn; they join the work list
        of the call already running instead of recursing, so long chains are fine."""
        if self._releasing is not None:
            self._releasing.extend(task_ids)
            return
        self._releasing = work = deque(task_ids)
        try:
            while work:
                task = self._ledger.tasks.get(work.popleft())
                if task is not None and task.status is S.SCHEDULED:
                    self._release(task)
        finally:
            self._releasing = None
        self._dispatch()

    def _starts_later(self, run_at: float | None) -> bool:
        return run_at is not None and run_at > self._clock.now() + SLACK

    def _release(self, task: Task) -> None:
        status = self._ledger.status
        for dep_id in task.after:
            dep = status(dep_id)
            if dep is None or (dep.is_final and dep is not S.COMPLETED):
                why = BLOCKED_BECAUSE.get(dep, "no longer exists")
                failed = transition(
                    task,
                    S.FAILED,
                    finished_at=self._clock.now(),
                    error=f"dependency {dep_id} {why}",
                )
                # Its start-time wait, if any, ends with it.
                self._change(failed, functools.partial(self._runners.end, failed))
                return
        if task.run_at is not None and self._starts_later(task.run_at):
            self._runners.wait_for_start(task.task_id, task.run_at, self._time_came)
        elif all(status(d) is S.COMPLETED for d in task.after):
            self._change(transition(task, S.QUEUED), None)

    def _slot_free(self) -> bool:
        if self.stopping or self.queue.paused:
            return False
        limit = self.queue.max_concurrent
        return limit is None or self._ledger.counts[S.RUNNING] < limit

    def _dispatch(self) -> None:
        """Start waiting tasks while there are free slots, highest priority first."""
        line = self._ledger.line
        while (task_id := line.first()) is not None and self._slot_free():
            task = self._ledger.tasks[task_id]
            first_start = task.started_at  # a resumed task keeps its first start
            started = transition(
                task,
                S.RUNNING,
                started_at=self._clock.now() if first_start is None else first_start,
            )
            self._change(started, functools.partial(self._launch, started))
