"""Task kinds: how a task of each kind runs and reports progress.

A kind's run() is a coroutine that gets the task and a RunContext. It reports progress
through the context, notices cancellation as CancelledError (which it must let through),
and fails by raising: the message becomes the task's `error`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from web.clock import SLACK, Clock
from web.tasks.model import Task


class RunContext:
    def __init__(
        self,
        task_id: str,
        clock: Clock,
        report: Callable[[str, float], None],
        elapsed: float = 0.0,
    ) -> None:
        self.task_id = task_id
        self.clock = clock
        # Seconds this task already ran before (it was paused); resumable kinds go on from it.
        self.elapsed = elapsed
        self._report = report

    def progress(self, fraction: float) -> None:
        """Report progress 0..1; cheap, coalesced by the engine before it is stored and sent."""
        self._report(self.task_id, fraction)


class Kind(Protocol):
    name: str
    # Can stop part-way (its run() is cancelled) and later go on from ctx.elapsed.
    resumable: bool

    async def run(self, task: Task, ctx: RunContext) -> None: ...


class TimerKind:
    """The seed's task: wait `duration` seconds, reporting progress as time passes."""

    name = "timer"
    resumable = True

    async def run(self, task: Task, ctx: RunContext) -> None:
        duration = float(task.duration or 0)
        # About 100 steps, but never more than 4 wake-ups a second (thousands of timers can
        # run at once) and never less than one every 2 s (the bar must visibly move).
        step = min(2.0, max(0.25, duration / 100))
        start = ctx.clock.monotonic() - ctx.elapsed
        while (elapsed := ctx.clock.monotonic() - start) < duration - SLACK:
            ctx.progress(elapsed / duration)
            await ctx.clock.sleep(min(step, duration - elapsed))


def default_kinds() -> dict[str, Kind]:
    return {k.name: k for k in (TimerKind(),)}
