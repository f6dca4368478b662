"""The few columns of the history that GET /stats counts, held in arrays (web/stats.py).

SQLite could not count a name search over 100,000 tasks within the 50 ms GET /stats has:
its pass over the names alone took 14 ms, and handing each figure's numbers back cost
more than counting them (the README's stats section has the figures). Held here, each
figure of any query is one histogram (web/tally.py) of a column of numbers.

Each task gets, per bucket size asked for, four numbers that say at once where it counts
(its "keys"): the bucket it started in; the bucket it ended in, with how it ended; the
bucket it ended in, with how long it ran; the bucket it was added in, with its status
now. A bucket is a time's whole seconds divided in whole numbers: the bucket i with
i * size <= time < (i + 1) * size (times are after 1970, so truncating floors).

The copy is read from the file, never from the engine's memory (house rule 5: in a
worker thread, on a read-only connection). The first request reads all of it (a third
to half a second for 100,000 tasks); each later one first reads what may have changed, in one read
transaction, which is one state of the file:
- the tasks after the newest seq held (new tasks get larger seqs);
- again, the tasks held that had not finished: a finished task never changes again
  (web/tasks/ledger.py), it can only be cleared;
- how many tasks there are. Fewer than held means some were cleared; then all of it is
  read again (clearing is rare, and a seq is not given twice).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import sqlite3
import threading
from array import array
from collections.abc import Iterator, Sequence

from web.history import History
from web.tasks.model import TaskStatus

# Upper edges (seconds) of the duration classes; the last class is everything longer.
DURATION_EDGES = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
CLASSES = len(DURATION_EDGES) + 1
STATUSES = len(TaskStatus)
CODE = {s.value: i for i, s in enumerate(TaskStatus)}
ENDED = tuple(s for s in TaskStatus if s.is_final)  # the series of ended tasks, in this order
ENDED_CODES = tuple(CODE[s.value] for s in ENDED)
NOWHERE = -1  # the key of a task that does not count in a figure (no bucket is negative)
# Every id the engine makes is 32 hex digits (web/tasks/engine.py, new_task_id): ids are
# held in one bytes of 32 a task, which numpy reads as a table (an id prefix search).
ID_WIDTH = 32
_READ = "SELECT seq, created_at, started_at, finished_at, status, kind, folded, task_id FROM tasks"
# A task that could still change, as it is now: seq, started_at, finished_at, status.
_READ_OPEN = (
    "SELECT seq, started_at, finished_at, status FROM tasks "
    "WHERE seq IN (SELECT value FROM json_each(?))"
)
Row = tuple[int, float, float | None, float | None, str, str, str, str]
Change = tuple[int, float | None, float | None, str]
Keys = tuple[array, array, array, array]  # started, ended, ran, added: one number per task


class Columns:
    """The history's tasks, oldest first, as columns: place i of each is the i-th task.
    Blocking: call it in a thread; read the columns inside `current()` only."""

    def __init__(self, history: History) -> None:
        self.history = history
        self._lock = threading.Lock()  # one request at a time reads and counts
        self._empty()

    def _empty(self) -> None:
        self.seqs = array("q")
        self.created = array("d")
        self.started = array("d")  # NaN: not started
        self.finished = array("d")  # NaN: not finished
        self.status = array("b")  # CODE
        self.kinds = array("H")  # a code per kind, in kind_codes
        self.kind_codes: dict[str, int] = {}
        self.names: list[str] = []  # folded as the search compares them (migration 8)
        self.ids = bytearray()  # ID_WIDTH bytes a task, in lower case (ASCII)
        self._open: dict[int, int] = {}  # seq -> place, of each task that can still change
        self._keys: dict[int, Keys] = {}  # by bucket size, for the sizes asked for so far

    @contextlib.contextmanager
    def current(self) -> Iterator[Columns]:
        """The columns as the file holds them now, for as long as the block lasts."""
        with self._lock:
            conn = self.history.connect()
            try:
                changes = self._read(conn)
            except sqlite3.Error as exc:
                raise self.history.error(exc) from exc  # nothing was changed here yet
            finally:
                conn.close()
            try:
                self._apply(*changes)
            except BaseException:
                self._empty()  # columns of different lengths: read it all next time
                raise
            yield self

    @property
    def oldest(self) -> float | None:
        """When the first task still in the history was added."""
        return self.created[0] if self.created else None

    def keys(self, size: int) -> Keys:
        """Per task, for buckets of `size` seconds: the bucket it started in; its ended
        bucket * STATUSES + its status; its ended bucket * CLASSES + its duration class (if
        it ran); its added bucket * STATUSES + its status. NOWHERE where it has none."""
        if size not in self._keys:
            self._keys[size] = self._keys_of(size, 0, len(self.seqs))
        return self._keys[size]

    # -- reading ---------------------------------------------------------------------------

    def _read(self, conn: sqlite3.Connection) -> tuple[list[Row], list[Change], bool]:
        """What changed in the file since the last read: the tasks added, the tasks that
        could change (as they are now), and whether some were cleared."""
        conn.execute("BEGIN")  # every read below sees the same state of the file
        try:
            (total,) = conn.execute("SELECT count(*) FROM tasks").fetchone()
            newest = self.seqs[-1] if self.seqs else 0
            added = conn.execute(f"{_READ} WHERE seq > ? ORDER BY seq", (newest,)).fetchall()
            if total != len(self.seqs) + len(added):  # some were cleared
                return conn.execute(f"{_READ} ORDER BY seq").fetchall(), [], True
            if not self._open:
                return added, [], False
            changed = conn.execute(_READ_OPEN, (json.dumps(list(self._open)),)).fetchall()
            return added, changed, False
        finally:
            conn.rollback()

    def _apply(self, added: list[Row], changed: list[Change], cleared: bool) -> None:
        if cleared:
            self._empty()
        for seq, started, finished, status in changed:
            place = self._open[seq]
            held = (_none(self.started[place]), _none(self.finished[place]), self.status[place])
            if (started, finished, CODE[status]) != held:  # most are as they were
                self._put(place, seq, _nan(started), _nan(finished), CODE[status])
        self._append(added)

    def _append(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        start = len(self.seqs)
        seqs, created, started, finished, statuses, kinds, names, ids = zip(*rows, strict=True)
        self.seqs.extend(seqs)
        self.created.extend(created)
        self.started.extend(map(_nan, started))
        self.finished.extend(map(_nan, finished))
        self.status.extend(CODE[s] for s in statuses)
        codes = self.kind_codes
        self.kinds.extend(codes.setdefault(k, len(codes)) for k in kinds)
        self.names.extend(names)
        self.ids += _ids(ids)
        for place in range(start, len(self.seqs)):
            if self.status[place] not in ENDED_CODES:
                self._open[self.seqs[place]] = place
        for size, keys in self._keys.items():
            new = self._keys_of(size, start, len(self.seqs))
            for column, values in zip(keys, new, strict=True):
                column.extend(values)

    def _put(self, place: int, seq: int, started: float, finished: float, status: int) -> None:
        """A task held that changed (its name and kind do not change)."""
        self.started[place] = started
        self.finished[place] = finished
        self.status[place] = status
        if status in ENDED_CODES:
            del self._open[seq]
        for size, keys in self._keys.items():
            new = self._keys_of(size, place, place + 1)
            for column, (value,) in zip(keys, new, strict=True):
                column[place] = value

    def _keys_of(self, size: int, start: int, stop: int) -> Keys:
        """The keys, for buckets of `size` seconds, of the tasks from place `start` to `stop`."""
        started = self.started[start:stop]
        finished = self.finished[start:stop]
        status = self.status[start:stop]
        ended_in = _buckets(finished, size)
        ran = (
            # NaN compares false: a task that has not both started and ended.
            bisect.bisect_right(DURATION_EDGES, int(f - s)) if f >= s else NOWHERE
            for s, f in zip(started, finished, strict=True)
        )
        return (
            array("q", _buckets(started, size)),
            array(
                "q",
                [
                    b * STATUSES + c if c in ENDED_CODES and b != NOWHERE else NOWHERE
                    for b, c in zip(ended_in, status, strict=True)
                ],
            ),
            array(
                "q",
                [
                    b * CLASSES + c if c != NOWHERE else NOWHERE
                    for b, c in zip(ended_in, ran, strict=True)
                ],
            ),
            array(
                "q",
                [
                    b * STATUSES + c
                    for b, c in zip(_buckets(self.created[start:stop], size), status, strict=True)
                ],
            ),
        )


def _ids(ids: Sequence[str]) -> bytes:
    if set(map(len, ids)) == {ID_WIDTH}:  # as always: in one go (a third of a first read)
        return "".join(ids).lower().encode("ascii", "replace")
    return b"".join(
        i.lower().encode("ascii", "replace")[:ID_WIDTH].ljust(ID_WIDTH, b"\0") for i in ids
    )


def bucket(time: float, size: int) -> int:
    """The bucket of `size` seconds a time is in: the i with i * size <= time < (i + 1) *
    size. Exact where a float division could round a time just below an edge up to it."""
    return int(time) // size


def _buckets(times: array, size: int) -> list[int]:
    return [bucket(t, size) if t == t else NOWHERE for t in times]  # NaN != NaN


def _nan(time: float | None) -> float:
    """A time as a column holds it (NaN for none)."""
    return math.nan if time is None else time


def _none(time: float) -> float | None:
    return None if time != time else time
