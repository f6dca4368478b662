"""The one thread that owns the task database (Datasette's single-writer pattern).

The event loop never touches SQLite: it hands the writer batches of changes and is told,
through the loop, when each is committed or refused. A database locked by another process
then slows writes down, never a request that only reads memory, nor the WebSocket.

Batches that queue up while a commit is under way are written together in one transaction
(a group commit that costs the loop nothing). Each batch carries the epoch in which the
engine made it: once a write of an epoch fails, every later batch of that epoch is refused
unwritten, because it was decided on top of the change that failed. The engine undoes
them all in memory and carries on in a new epoch (web/tasks/ledger.py).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from web.store import Ops, Store, StoreError

T = TypeVar("T")
Settle = Callable[[BaseException | None], None]


@dataclass(slots=True)
class _Write:
    epoch: int
    ops: Ops
    settle: Settle  # called on the loop: None once committed, else why it was not


@dataclass(slots=True)
class _Call:
    work: Callable[[Store], Any]
    future: asyncio.Future[Any]


class Writer:
    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Write | _Call | None] = queue.SimpleQueue()
        self._failed_epoch = -1  # writes of this epoch (or older) are refused unwritten
        self._failure = ""  # why the write that failed that epoch failed
        self._thread = threading.Thread(target=self._work, name="sqlite-writer", daemon=True)
        self._thread.start()

    @classmethod
    async def open(cls, path: Path, busy_timeout: float) -> Writer:
        """Open (and check and migrate) the database in the writer's own thread."""
        loop = asyncio.get_running_loop()
        store = await asyncio.to_thread(Store.open, path, busy_timeout)
        return cls(store, loop)

    @property
    def store(self) -> Store:
        """For tests that make writes fail; only the writer's thread may call it."""
        return self._store

    def write(self, epoch: int, ops: Ops, settle: Settle) -> None:
        """Commit `ops` (in order, one transaction); `settle` is called on the loop."""
        self._jobs.put(_Write(epoch, ops, settle))

    def call(self, work: Callable[[Store], T]) -> asyncio.Future[T]:
        """Run `work(store)` in the writer's thread, after every write handed over before it."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Call(work, future))
        return future

    async def close(self) -> None:
        """Finish what was handed over, then close the database."""
        self._jobs.put(None)
        await asyncio.to_thread(self._thread.join)

    # -- the thread ------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                jobs = [self._jobs.get()]
                while not self._jobs.empty():  # everything that queued meanwhile
                    jobs.append(self._jobs.get_nowait())
                writes: list[_Write] = []
                for job in jobs:
                    if isinstance(job, _Write):
                        writes.append(job)
                        continue
                    self._commit(writes)
                    writes = []
                    if job is None:
                        return
                    self._run(job)
                self._commit(writes)
        finally:
            self._store.close()

    def _commit(self, writes: list[_Write]) -> None:
        if not writes:
            return
        fresh = [w for w in writes if w.epoch > self._failed_epoch]
        stale = [w for w in writes if w.epoch <= self._failed_epoch]
        error: BaseException | None = None
        if fresh:
            try:
                self._store.write([op for w in fresh for op in w.ops])
            except Exception as exc:  # StoreError, or a bug: either way nothing was written
                error = exc
                self._failed_epoch = max(w.epoch for w in fresh)
                self._failure = str(exc)
        # Refused for the reason the change it was decided on top of failed: to its caller,
        # that is the reason (a lock, a full disk).
        refused = StoreError(self._failure)
        settled = [(w.settle, refused) for w in stale] + [(w.settle, error) for w in fresh]
        self._loop.call_soon_threadsafe(_settle_all, settled)

    def _run(self, call: _Call) -> None:
        try:
            result = call.work(self._store)
        except BaseException as exc:
            self._loop.call_soon_threadsafe(_set, call.future, None, exc)
        else:
            self._loop.call_soon_threadsafe(_set, call.future, result, None)


def _settle_all(settled: list[tuple[Settle, BaseException | None]]) -> None:
    for settle, error in settled:
        settle(error)


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
