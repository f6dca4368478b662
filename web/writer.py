"""The one thread that owns the task database (Datasette's single-writer pattern).

The event loop never touches SQLite: it hands the writer changes to commit and is told,
through the loop, when they are committed or refused. A database locked by another process
then slows writes down, never a request that only reads memory, nor the WebSocket.

Changes are handed over as soon as they are decided (web/tasks/ledger.py), and the writes
that wait while one commits go together as the next transaction, taken straight from the
queue: the thread goes on from one commit to the next without a round trip through the
loop, which on two busy cores cost a thread wake-up and a wait for the GIL per commit
(bench/). Every write names its lineage: once a write fails, the writes of the same or an
older lineage still queued were decided on top of it, so they are refused unwritten; the
loop undoes them all and goes on with a new lineage.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from web.store import Ops, Store

T = TypeVar("T")
Settle = Callable[[BaseException | None], None]


@dataclass(slots=True)
class _Write:
    ops: Ops
    settle: Settle  # called on the loop: None once committed, else why it was not
    lineage: int


class Refused(Exception):
    """A write not tried: one handed over before it, in its lineage, failed."""


@dataclass(slots=True)
class _Call:
    work: Callable[[Store], Any]
    future: asyncio.Future[Any]


class Writer:
    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Write | _Call | object] = queue.SimpleQueue()
        self._failed = -1  # the newest lineage a write failed in (only the thread uses it)
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

    def write(self, ops: Ops, settle: Settle, lineage: int = 0) -> None:
        """Commit `ops` (in order, all or none; maybe in one transaction with the writes
        handed over just before or after it); `settle` is called on the loop. Refused
        unwritten if a write handed over earlier in the same or a newer lineage failed:
        lineages only grow, a new one after the loop has undone a failure."""
        self._jobs.put(_Write(ops, settle, lineage))

    def call(self, work: Callable[[Store], T]) -> asyncio.Future[T]:
        """Run `work(store)` in the writer's thread, after every write handed over before it."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Call(work, future))
        return future

    async def close(self) -> None:
        """Finish what was handed over, then close the database."""
        self._jobs.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    # -- the thread ------------------------------------------------------------------------

    def _work(self) -> None:
        held: _Write | _Call | object | None = None  # taken from the queue, not yet handled
        try:
            while (job := held or self._jobs.get()) is not _STOP:
                held = None
                if isinstance(job, _Call):
                    self._run(job)
                    continue
                assert isinstance(job, _Write)
                writes = [job]
                while True:  # the writes queued right behind it: the same transaction
                    try:
                        held = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(held, _Write):
                        break
                    writes.append(held)
                    held = None
                self._commit(writes)
        finally:
            self._store.close()

    def _commit(self, writes: list[_Write]) -> None:
        refused = [w for w in writes if w.lineage <= self._failed]
        taken = [w for w in writes if w.lineage > self._failed]
        error: BaseException | None = None
        if taken:
            try:
                self._store.write([op for w in taken for op in w.ops])
            except Exception as exc:  # StoreError, or a bug: either way nothing was written
                error = exc
                self._failed = taken[-1].lineage
        outcomes = [(w.settle, _REFUSED) for w in refused] + [(w.settle, error) for w in taken]
        self._loop.call_soon_threadsafe(_settle_all, outcomes)

    def _run(self, call: _Call) -> None:
        try:
            result = call.work(self._store)
        except BaseException as exc:
            self._loop.call_soon_threadsafe(_set, call.future, None, exc)
        else:
            self._loop.call_soon_threadsafe(_set, call.future, result, None)


_STOP = object()  # close(): what was handed over before it is done
_REFUSED = Refused("not written: a change decided before it could not be stored")


def _settle_all(outcomes: list[tuple[Settle, BaseException | None]]) -> None:
    for settle, error in outcomes:
        settle(error)


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
