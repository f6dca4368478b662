"""The event loop's end of the task database's writer (Datasette's single-writer pattern,
with the writer in a process of its own: web/committer.py says why and what goes between).

The event loop never touches SQLite: it hands the writer changes to commit and is told,
through the loop, when they are committed or refused. A database locked by another process
then slows writes down, never a request that only reads memory, nor the WebSocket.

Changes are handed over as soon as they are decided (web/tasks/ledger.py); the writer
commits those that queue up while it is busy as one transaction. If the writer's process
ends unasked (killed, out of memory), a new one is started at once and tells, from the
mark of the last transaction, which of what the dead one had not answered was committed;
the rest fails with a StoreError (Writer._ended, Writer._taken_over).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, PIPE
from typing import Any

from web.committer import HEADER, REFUSED, serve
from web.frozen import COMMIT
from web.store import Ops, Store, StoreError

__all__ = ["Settle", "Writer"]
log = logging.getLogger(__name__)
Settle = Callable[[BaseException | None], None]


class Writer:
    def __init__(self, path: Path, busy_timeout: float, in_thread: bool) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._in_thread = in_thread
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count()
        # Writes handed over and not answered yet, with their lineage.
        self._settles: dict[int, tuple[Settle, int]] = {}
        self._calls: dict[int, asyncio.Future[Any]] = {}
        self._end: _End | None = None  # None: not started, or ended unasked
        self._closed = False
        # While a new end starts after one died: what is handed over meanwhile, in order.
        self._held: list[tuple[int, bytes]] | None = None
        # Its name in the database's marks: each process it starts commits under it.
        self.name = uuid.uuid4().hex
        self.store: Store | None = None  # in a thread only: tests make its writes fail

    @classmethod
    async def open(
        cls,
        path: Path,
        busy_timeout: float,
        *,
        in_thread: bool = False,
        ahead: Ahead | None = None,
    ) -> Writer:
        """Start the writer (its own process, or the one started `ahead` for this database;
        with `in_thread`, threads of this one, for tests that reach into its store) and
        open, check and migrate the database there; StoreError if it cannot be."""
        writer = cls(path, busy_timeout, in_thread)
        if ahead is not None and (ahead.path, ahead.busy_timeout) == (path, busy_timeout):
            writer.name = ahead.name
            end: _End = _ProcessEnd(writer, ahead.process)
            writer._end = end
        else:
            end = writer._started()
        error = await end.opened
        if error is not None:
            await writer.close()
            raise error
        return writer

    @property
    def pid(self) -> int | None:
        """The writer's process, once started (None in a thread, or between two)."""
        return self._end.pid if self._end is not None else None

    def write(self, ops: Ops, settle: Settle, lineage: int = 0) -> None:
        """Commit `ops` (in order, all or none; maybe in one transaction with the writes
        handed over just before or after it); `settle` is called on the loop with None once
        they are committed, else with why not. Refused unwritten if a write handed over
        earlier in the same or a newer lineage failed: lineages only grow, a new one after
        the loop has undone a failure."""
        write_id = next(self._ids)
        try:
            payload = self._pickled(("write", write_id, lineage, ops))
        except Exception as exc:  # the app is stopping, or (a bug) ops that cannot cross
            self._loop.call_soon(settle, exc)
            return
        self._settles[write_id] = (settle, lineage)
        self._send(write_id, payload)

    def call(self, method: str, **arguments: object) -> asyncio.Future[Any]:
        """The store's `method` with `arguments`, run by the writer after every write handed
        over before it (its answer crosses back by pickle)."""
        future: asyncio.Future[Any] = self._loop.create_future()
        call_id = next(self._ids)
        try:
            payload = self._pickled(("call", call_id, method, arguments))
        except Exception as exc:
            future.set_exception(exc)
            return future
        self._calls[call_id] = future
        self._send(call_id, payload)
        return future

    async def close(self) -> None:
        """Finish what was handed over, then close the database."""
        self._closed = True
        end, self._end = self._end, None
        if end is not None:
            end.finish()
            await end.closed

    # -- between the ends ------------------------------------------------------------------

    def _started(self) -> _End:
        end = _ThreadEnd(self) if self._in_thread else _ProcessEnd(self)
        self._end = end
        return end

    def _pickled(self, message: tuple) -> bytes:
        if self._closed:
            raise StoreError(f"task database {self._path}: the app is stopping")
        return pickle.dumps(message, pickle.HIGHEST_PROTOCOL)

    def _send(self, job_id: int, payload: bytes) -> None:
        if self._held is not None:  # a new end is yet to tell what the dead one wrote
            self._held.append((job_id, payload))
            return
        end = self._end or self._started()  # the one before ended cleanly unasked
        end.send(payload)

    def _received(self, end: _End, payload: bytes) -> None:
        try:
            message = pickle.loads(payload)
        except Exception:  # a bug: nothing it says can be trusted now, so it is ended
            log.exception("the database writer's answer could not be read")
            end.kill()
            return
        if message[0] == "settled":
            for write_id, error in message[1]:
                self._settles.pop(write_id)[0](error)
        elif message[0] == "answered":
            _, call_id, result, error = message
            _set(self._calls.pop(call_id), result, error)
        elif message[0] == "opened":
            _, error, mark = message
            if error is not None:
                log.error("%s", error)
            else:
                self._taken_over(end, mark or (0, -1))
            _set(end.opened, error, None)
        else:  # "closed": every write handed over was answered
            end.closed_cleanly = True

    def _taken_over(self, end: _End, mark: tuple[int, int]) -> None:
        """A new end is open: settle what the dead one was given and did not answer
        (committed if within the mark of its last transaction), then hand it what waited
        meanwhile, less what was decided on top of a write that turned out not written."""
        held, self._held = self._held, None
        if held is None:
            return
        waiting = {job_id for job_id, _ in held}
        first, last = mark
        failed = -1  # the newest lineage a write failed in
        for write_id in sorted(set(self._settles) - waiting):  # in order: the ledger's are
            settle, lineage = self._settles.pop(write_id)
            if first <= write_id <= last:
                settle(None)
            else:
                failed = max(failed, lineage)
                settle(_lost(self._path))
        for job_id, payload in held:
            if job_id in self._settles and self._settles[job_id][1] <= failed:
                self._settles.pop(job_id)[0](REFUSED)  # decided on top of a lost one
            else:
                end.send(payload)

    def _ended(self, end: _End, why: str) -> None:
        """The writer's end stopped. What it was given and did not answer waits for the
        next end, which tells from the mark of its last transaction (web/committer.py)
        what was committed; so does what comes meanwhile. A next end that cannot open is
        tried again, a few times, before all of it fails."""
        died = StoreError(f"task database {self._path}: its writer {why}")
        _set(end.opened, died, None)
        opened_error = end.opened.result()
        if not end.closed_cleanly:
            log.error("%s", died)
        error = opened_error or died
        held = {job_id for job_id, _ in self._held or ()}
        for call_id in [i for i in self._calls if i not in held]:  # reads: asked again
            _set(self._calls.pop(call_id), None, error)
        if self._end is end:
            self._end = None
        attempts = end.attempts + 1 if opened_error is not None else 0
        if (self._settles or held) and not self._closed and attempts < _ATTEMPTS:
            if self._held is None:
                self._held = []
            self._started().attempts = attempts
        else:  # what was given to a dead end may be written, what waited is not
            self._held = None
            for write_id in sorted(self._settles):
                settle, _ = self._settles.pop(write_id)
                settle(error if write_id in held else _unknown(self._path, why))
            for call_id in [i for i in self._calls if i in held]:
                _set(self._calls.pop(call_id), None, error)
        _set(end.closed, None, None)


_ATTEMPTS = 3  # starts of a new writer in a row that may fail to open before giving up


def _lost(path: Path) -> StoreError:
    return StoreError(
        f"task database {path}: its writer stopped before it committed this; nothing of it "
        "was written: try again"
    )


def _unknown(path: Path, why: str) -> StoreError:
    return StoreError(
        f"task database {path}: its writer {why} before it could tell whether this was "
        "written; restart the app to see"
    )


class _End:
    """Where the writer runs, as the loop sees it."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.opened: asyncio.Future[StoreError | None] = writer._loop.create_future()
        self.closed: asyncio.Future[None] = writer._loop.create_future()
        self.closed_cleanly = False
        self.pid: int | None = None
        self.attempts = 0  # the ends before it that could not open, in a row

    def send(self, payload: bytes) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """End of input: the writer commits what it has, closes the database and stops."""
        raise NotImplementedError

    def kill(self) -> None:
        """Stop it now: what it has not answered fails."""
        raise NotImplementedError


class _ProcessEnd(_End, asyncio.SubprocessProtocol):
    def __init__(self, writer: Writer, ahead: subprocess.Popen[bytes] | None = None) -> None:
        super().__init__(writer)
        self._buffer = bytearray()
        self._transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._kill: Callable[[], None] = lambda: None
        self._early: list[bytes] | None = []  # sent while the process starts
        self._finish_early = False
        writer._loop.create_task(self._adopt(ahead) if ahead else self._start())

    async def _start(self) -> None:
        writer = self.writer
        try:
            await writer._loop.subprocess_exec(
                lambda: self,
                *_command(writer._path, writer._busy_timeout, writer.name),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                **_PROCESS_OPTIONS,
            )
        except OSError as exc:
            writer._ended(self, f"could not start: {exc}")

    async def _adopt(self, process: subprocess.Popen[bytes]) -> None:
        """Take over a process started ahead (start_ahead): its pipes onto the loop."""
        loop = self.writer._loop
        assert process.stdin is not None and process.stdout is not None
        try:
            stdin, _ = await loop.connect_write_pipe(asyncio.Protocol, process.stdin)
            await loop.connect_read_pipe(lambda: _Output(self, process), process.stdout)
        except (OSError, ValueError) as exc:  # its pipes closed already: it cannot be used
            process.kill()
            self.writer._ended(self, f"could not be taken over: {exc}")
            return
        self._took(stdin, process.pid, process.kill)  # type: ignore[arg-type]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's: not a subclass
        assert self._transport is not None
        stdin = self._transport.get_pipe_transport(0)
        self._took(stdin, self._transport.get_pid(), self._transport.kill)  # type: ignore[arg-type]

    def _took(self, stdin: asyncio.WriteTransport, pid: int, kill: Callable[[], None]) -> None:
        self._stdin, self.pid, self._kill = stdin, pid, kill
        early, self._early = self._early or [], None
        for payload in early:
            self.send(payload)
        if self._finish_early:
            self.finish()

    def send(self, payload: bytes) -> None:
        if self._early is not None:
            self._early.append(payload)
        elif self._stdin is not None and not self._stdin.is_closing():
            self._stdin.write(HEADER.pack(len(payload)) + payload)  # buffered: never blocks
        # Else the process is gone (uvloop closes the pipe then): what was sent to it is
        # settled with the rest of what it left, in order, once it is found ended.

    def finish(self) -> None:
        if self._early is not None:
            self._finish_early = True  # _took() finishes it
        else:
            assert self._stdin is not None
            self._stdin.close()

    def kill(self) -> None:
        self._kill()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        payloads, start = [], 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            if len(buffer) - start - HEADER.size < size:
                break
            start += HEADER.size
            payloads.append(bytes(buffer[start : start + size]))
            start += size
        del buffer[:start]
        for payload in payloads:
            self.writer._received(self, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        # The process ended and its output is drained: every answer it sent has been read.
        assert self._transport is not None
        code = self._transport.get_returncode()
        self._transport.close()
        self.writer._ended(self, f"stopped (exit code {code})")


class _Output(asyncio.Protocol):
    """The output of a process started ahead, read on the loop."""

    def __init__(self, end: _ProcessEnd, process: subprocess.Popen[bytes]) -> None:
        self._end, self._process = end, process

    def data_received(self, data: bytes) -> None:
        self._end.pipe_data_received(1, data)

    def connection_lost(self, exc: Exception | None) -> None:
        # Its answers are all read; once it has exited (at once: its output is closed),
        # it is reaped off the loop.
        self._end.writer._loop.create_task(self._reaped())

    async def _reaped(self) -> None:
        code = await asyncio.to_thread(self._process.wait)
        self._end.writer._ended(self._end, f"stopped (exit code {code})")


class _ThreadEnd(_End):
    def __init__(self, writer: Writer) -> None:
        super().__init__(writer)
        loop = writer._loop
        self._input: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

        def reply(payload: bytes) -> None:
            loop.call_soon_threadsafe(self._replied, payload)

        def keep(store: Store) -> None:
            writer.store = store

        frames = iter(self._input.get, None)
        args = (writer._path, writer._busy_timeout, writer.name, frames, reply, keep)
        threading.Thread(target=serve, args=args, name="committer-open", daemon=True).start()

    def _replied(self, payload: bytes) -> None:
        self.writer._received(self, payload)
        if self.closed_cleanly:
            self.writer._ended(self, "was closed")

    def send(self, payload: bytes) -> None:
        self._input.put(payload)

    def finish(self) -> None:
        self._input.put(None)

    def kill(self) -> None:  # threads cannot be stopped; only tests run the writer in one
        raise RuntimeError("the writer's thread gave an answer that could not be read")


@dataclass(frozen=True)
class Ahead:
    """A writer's process started before its app (start_ahead), for Writer.open."""

    process: subprocess.Popen[bytes]
    path: Path
    busy_timeout: float
    name: str


def start_ahead(path: Path, busy_timeout: float) -> Ahead | None:
    """Start the writer's process for `path` now: it then starts (some 70 ms) while the
    app is imported, not after. Its owner must hold the data folder's lock (it migrates
    the database). None where asyncio cannot adopt its pipes (Windows): Writer.open then
    starts it."""
    if sys.platform == "win32":
        return None
    name = uuid.uuid4().hex
    command = _command(path, busy_timeout, name)
    process = subprocess.Popen(command, stdin=PIPE, stdout=PIPE, **_PROCESS_OPTIONS)
    return Ahead(process, path, busy_timeout, name)


def _command(path: Path, busy_timeout: float, name: str) -> list[str]:
    arguments = [str(path), str(busy_timeout), name]
    # A frozen binary has no `python -m`: it runs the committer by a hidden first argument.
    if getattr(sys, "frozen", False):
        return [sys.executable, COMMIT, *arguments]
    return [sys.executable, "-m", "web.committer", *arguments]


def _has_stderr() -> bool:
    try:
        return sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        return False


_PROCESS_OPTIONS: dict[str, Any] = {
    # The app's: a crash of the writer is seen where the app's are (a windowed build may
    # have none).
    "stderr": None if _has_stderr() else DEVNULL,
    # Signals to the app's process group (Ctrl-C, a logout) are the app's to act on: the
    # writer stops at the end of its input, all of it committed.
    "start_new_session": sys.platform != "win32",
}


def _set(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
