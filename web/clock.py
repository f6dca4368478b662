"""Time as an injected dependency, so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

# Waits that are this close to their end count as over. Subtracting float timestamps
# leaves slivers of time that a clock cannot actually sleep for (with a manual clock,
# none at all), and a loop waiting for them would never end.
SLACK = 1e-3


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock seconds since the epoch (for timestamps users see)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for measuring durations)."""

    def sleep(self, seconds: float) -> Awaitable[None]: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> Awaitable[None]:
        # asyncio's own coroutine, not one wrapped around it: every running timer holds
        # its sleep's frame, and the garbage collector walks them all (bench/).
        return asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when a test calls advance().

    Sleepers wake in deadline order, and the loop is given a chance to run after each
    wake-up, so a coroutine that sleeps again in a loop is stepped through correctly.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        # Work that finishes outside the loop and that each step waits for as well: the
        # engine's writes, which the database's writer commits (TaskEngine.idle).
        self.also_wait: Callable[[], Awaitable[None]] | None = None
        self._now = start
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._order), fut))
        await fut

    def _move(self, delta: float) -> None:
        self._now += delta
        self._mono += delta

    async def advance(self, seconds: float) -> None:
        target = self._mono + seconds
        await self._settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, fut = heapq.heappop(self._sleepers)
            if deadline > self._mono:
                self._move(deadline - self._mono)
            if not fut.done():
                fut.set_result(None)
            await self._settle()
        self._move(target - self._mono)
        await self._settle()

    async def _settle(self) -> None:
        await settle()
        if self.also_wait is not None:
            await self.also_wait()


async def settle(rounds: int = 20) -> None:
    """Let every ready callback run (a few loop iterations)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
