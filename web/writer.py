"""The one thread that owns the task database (Datasette's single-writer pattern).

The event loop never touches SQLite: it hands the writer changes to commit in one
transaction and is told, through the loop, when they are committed or refused
(web/tasks/ledger.py decides what goes together). A database locked by another process
then slows writes down, never a request that only reads memory, nor the WebSocket.
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


@dataclass(slots=True)
class _Call:
    work: Callable[[Store], Any]
    future: asyncio.Future[Any]


class Writer:
    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self._store = store
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Write | _Call | None] = queue.SimpleQueue()
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

    def write(self, ops: Ops, settle: Settle) -> None:
        """Commit `ops` (in order, one transaction); `settle` is called on the loop."""
        self._jobs.put(_Write(ops, settle))

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
            while (job := self._jobs.get()) is not None:
                if isinstance(job, _Write):
                    self._commit(job)
                else:
                    self._run(job)
        finally:
            self._store.close()

    def _commit(self, write: _Write) -> None:
        error: BaseException | None = None
        try:
            self._store.write(write.ops)
        except Exception as exc:  # StoreError, or a bug: either way nothing was written
            error = exc
        self._loop.call_soon_threadsafe(write.settle, error)

    def _run(self, call: _Call) -> None:
        try:
            result = call.work(self._store)
        except BaseException as exc:
            self._loop.call_soon_threadsafe(_set, call.future, None, exc)
        else:
            self._loop.call_soon_threadsafe(_set, call.future, result, None)


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
