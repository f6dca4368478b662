"""The task database's own process: it commits what the event loop decided (web/writer.py).

The server's event loop and this writer used to share one process, and so one GIL: under
load every commit cost the loop a thread wake-up and a wait for the GIL, and the Python
work around SQLite ran while the loop could not (a third of the add rate; bench/). Here
SQLite has a process of its own; the loop only pickles each batch onto a pipe and reads
one answer per transaction from another.

What goes over the pipes, each a pickled tuple behind its length (4 bytes, big-endian):
  to here:   ("write", id, lineage, ops) | ("call", id, a method of Store, its arguments);
             end of input: finish what came and stop
  from here: ("opened", error, mark) first, then ("settled", [(id, error), ...]) per
             transaction and ("answered", id, result, error) per call; ("closed",) last.
(Pickle, because both ends are this app: the pipes are private to the two processes and
carry nothing from outside that was not checked by the API first.)

Writes that queue up while one commits go together as the next transaction. Every write
names its lineage: once a write fails, the writes of the same or an older lineage still
queued were decided on top of it, so they are refused unwritten; the loop undoes them all
and goes on with a new lineage.

Each transaction also keeps the first and last id of its writes (Store.take_mark), under
the name of the app's writer: if this process dies between a commit and its answer, the
next one the app starts tells it (the "mark" it opens with) which of its writes were in.

Tests run the same loop in a thread (web/writer.py `in_thread`), to make writes fail.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from web.store import Ops, Store, StoreError

HEADER = struct.Struct(">I")  # a frame's length
Reply = Callable[[bytes], None]  # sends one frame's payload back to the loop


class Refused(Exception):
    """A write not tried: one handed over before it, in its lineage, failed."""


REFUSED = Refused("not written: a change decided before it could not be stored")
_STOP = ("stop",)


def serve(
    path: Path,
    busy_timeout: float,
    writer: str,
    frames: Iterator[bytes],
    reply: Reply,
    opened: Callable[[Store], None] = lambda store: None,
) -> threading.Thread | None:
    """Open the store, then commit and answer what `frames` bring, in threads of their own,
    until they end; returns the committing thread. `opened` is given the store before the
    loop hears that it is open (tests reach into it)."""
    try:
        store = Store.open(path, busy_timeout)
    except StoreError as exc:
        reply(_payload(("opened", exc, None)))
        reply(_payload(("closed",)))
        return None
    try:
        mark = store.take_mark(writer)
    except StoreError as exc:
        store.close()
        reply(_payload(("opened", exc, None)))
        reply(_payload(("closed",)))
        return None
    opened(store)
    reply(_payload(("opened", None, mark)))
    jobs: queue.SimpleQueue[tuple] = queue.SimpleQueue()
    # A thread of its own reads the frames as they come, so a loop that hands over many
    # writes while one commits is never held up by a full pipe.
    threading.Thread(target=_take, args=(frames, jobs), name="committer-input", daemon=True).start()
    committing = threading.Thread(
        target=Committer(store, writer, jobs, reply).run, name="committer", daemon=True
    )
    committing.start()
    return committing


def _take(frames: Iterator[bytes], jobs: queue.SimpleQueue[tuple]) -> None:
    try:
        for payload in frames:
            jobs.put(pickle.loads(payload))
    finally:
        jobs.put(_STOP)


class Committer:
    def __init__(
        self, store: Store, writer: str, jobs: queue.SimpleQueue[tuple], reply: Reply
    ) -> None:
        self._store = store
        self._writer = writer
        self._jobs = jobs
        self._reply = reply
        self._failed = -1  # the newest lineage a write failed in

    def run(self) -> None:
        held: tuple | None = None  # taken from the queue, not yet handled
        try:
            while (job := held or self._jobs.get())[0] != "stop":
                held = None
                if job[0] == "call":
                    self._call(*job[1:])
                    continue
                writes = [job]
                while True:  # the writes queued right behind it: the same transaction
                    try:
                        held = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if held[0] != "write":
                        break
                    writes.append(held)
                    held = None
                self._commit(writes)
        finally:
            self._store.close()
        self._reply(_payload(("closed",)))  # not after a bug: the app then fails what waits

    def _commit(self, writes: list[tuple]) -> None:
        refused = [(w[1], REFUSED) for w in writes if w[2] <= self._failed]
        taken = [w for w in writes if w[2] > self._failed]
        error: BaseException | None = None
        if taken:
            ops: Ops = [op for w in taken for op in w[3]]
            try:
                self._store.write(ops, (self._writer, taken[0][1], taken[-1][1]))
            except Exception as exc:  # StoreError, or a bug: either way nothing was written
                error = exc
                self._failed = taken[-1][2]
        self._reply(_payload(("settled", refused + [(w[1], error) for w in taken])))

    def _call(self, call_id: int, method: str, arguments: dict[str, Any]) -> None:
        try:
            answer = _payload(
                ("answered", call_id, getattr(self._store, method)(**arguments), None)
            )
        except Exception as exc:  # the call's own error, or a result that cannot cross
            answer = _payload(("answered", call_id, None, exc))
        self._reply(answer)


def _payload(message: tuple) -> bytes:
    """`message` pickled; an error in it that could not be unpickled on the other side (a
    bug's, of any class) crosses as a RuntimeError with its text."""
    try:
        payload = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        if any(_has_error(part) for part in message[1:]):
            pickle.loads(payload)  # rare: some exceptions pickle but cannot be rebuilt
        return payload
    except Exception:
        return pickle.dumps(tuple(_portable(part) for part in message))


def _has_error(part: object) -> bool:
    if isinstance(part, list):
        return any(error is not None for _, error in part)
    return isinstance(part, BaseException)


def _portable(part: object) -> object:
    if isinstance(part, BaseException):
        return RuntimeError(f"{type(part).__name__}: {part}")
    if isinstance(part, list):
        return [tuple(_portable(p) for p in item) for item in part]
    return part


def _read_frames(stream: BinaryIO) -> Iterator[bytes]:
    while len(header := stream.read(HEADER.size)) == HEADER.size:
        (size,) = HEADER.unpack(header)
        payload = stream.read(size)
        if len(payload) < size:
            return  # the loop's end was closed mid-frame: it is gone
        yield payload


def main(argv: list[str]) -> int:
    """`python -m web.committer DB BUSY_TIMEOUT WRITER` (the frozen binary: web/frozen.py)."""
    # Ctrl-C in a terminal reaches the whole process group: the app's own shutdown ends
    # this process (by closing its input) once every write handed over is committed.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The answers go out on what was standard output; anything printed goes to stderr
    # (the app's, or nowhere when it has none: web/writer.py).
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    if sys.platform == "linux":  # a page of the older history (~3 MB) in 3 hand-overs
        import fcntl  # instead of 50 of the default 64 KiB

        with contextlib.suppress(OSError):
            fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, 1024 * 1024)
    lock = threading.Lock()  # the committer answers writes, and a failed open the caller

    def reply(payload: bytes) -> None:
        with lock:
            try:
                out.write(HEADER.pack(len(payload)) + payload)
                out.flush()
            except BrokenPipeError:
                pass  # the app is gone; what it handed over is still committed

    frames = _read_frames(sys.stdin.buffer)
    committing = serve(Path(argv[0]), float(argv[1]), argv[2], frames, reply)
    if committing is None:
        return 1  # it could not open the database; the app was told why
    committing.join()
    return 0  # also if it died of a bug: the app then fails what it was not told of


if __name__ == "__main__":
    # Run as `-m`, this file is __main__: what it pickles (Refused) must name web.committer.
    from web.committer import main as run

    sys.exit(run(sys.argv[1:]))
