"""Ledger: every task as the engine has decided it, and the batches that make it durable.

A change takes effect in memory at once, so the engine's next decision sees it (a slot a
cancel frees can be given to the next task in the same turn of the loop). It also joins
the batch of this turn of the loop, which the database's writer (a process of its own)
commits in one transaction. Only once that batch is committed is the change published and
its follow-up run (start a runner, stop one): persist, then publish. Callers that answer
for a change await it.

Each batch goes to the writer as it is sealed; the writer commits those that queue up
while it is busy as one transaction (under load, fewer and bigger commits) and goes on to
the next without waiting for the loop (web/writer.py).

If a batch cannot be stored, it and every batch decided after it (they were built on it)
are undone in memory, newest first, and their callers hear the StoreError: memory and the
file stay equal and nothing was published. The writer refuses, unwritten, the later
batches of the same lineage already handed over, so the file never holds a change decided
on top of one it could not take; batches decided after the undo start a new lineage.

A finished task never changes again, so memory keeps only its JSON and its status (a
third of a Task's memory), and the history stores that JSON with it: a long history comes
into memory as it is (Store.load_finished), with no Task built or rendered. A start reads
only the newest part before it answers; the older part is paged in behind it (Paging).
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from web.store import Op, Ops
from web.tasks.model import Task, TaskStatus, finished_task
from web.tasks.queue import WaitingLine
from web.writer import Writer

log = logging.getLogger(__name__)
S = TaskStatus
# A status by its value without the enum's call (a tenth of a start-up's history load).
STATUS_OF = {s.value: s for s in TaskStatus}
Then = Callable[[], None]
Row = tuple[int, str, str, bytes]  # a finished task as the history keeps it: seq, id, status, JSON
T = TypeVar("T")


class _Batch:
    """The changes of one turn of the loop."""

    __slots__ = ("ops", "published", "then", "undo", "undo_also", "waiters")

    def __init__(self) -> None:
        # One future per caller waiting for it (Ledger.settled says why not one shared).
        self.waiters: list[asyncio.Future[None]] = []
        self.ops: Ops = []
        self.undo: dict[str, Task | None] = {}  # each task as it was before (None: new)
        self.undo_also: list[Then] = []  # undo of what is not a task (settings)
        self.published: list[Task] = []  # each version to publish once committed
        self.then: list[Then] = []  # follow-ups once committed, in order

    def answer(self, error: BaseException | None = None) -> None:
        """Tell each waiting caller that the batch is committed, or the error that undid it;
        a caller that gave up (its future cancelled) is told nothing."""
        for waiter in self.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)
                # Retrieved: a caller cancelled before it woke need not have asyncio say so.
                waiter.exception()

    def add(self, kind: str, row: object) -> None:
        if self.ops and self.ops[-1][0] == kind:
            self.ops[-1][1].append(row)
        else:
            self.ops.append((kind, [row]))  # type: ignore[arg-type]


class Ledger:
    def __init__(
        self,
        writer: Writer,
        publish: Callable[[Task], None],
        on_undone: Then,
    ) -> None:
        self._writer = writer
        self._publish = publish  # told of each committed version, in order
        self._on_undone = on_undone  # after an undo: the engine looks at its queue again
        self.tasks: dict[str, Task] = {}  # the tasks that can still change
        self.finished: dict[str, TaskStatus] = {}  # and those that cannot
        # Each task's JSON as of its last change, in submission order; queue_position is
        # left null (the engine fills it in). Lists and broadcasts are joined from these:
        # 10,000 of them in a dict's values cost far less to walk than 10,000 Task objects.
        self.json: dict[str, bytes] = {}
        # Each task's seq: its key in the store, and its place in submission order.
        self.order: dict[str, int] = {}
        self.counts: Counter[TaskStatus] = Counter()
        self.line = WaitingLine()
        self.dependents: defaultdict[str, set[str]] = defaultdict(set)
        self._open: _Batch | None = None
        self._in_flight: deque[_Batch] = deque()  # at the writer, not yet committed, in order
        self._lineage = 0  # a new one after each undo (web/writer.py)
        self.paging: Paging | None = None  # while the older history is being read in

    @property
    def total(self) -> int:
        """How many tasks there are, in memory or still to be paged in."""
        return len(self.json) + (self.paging.missing if self.paging is not None else 0)

    # -- deciding --------------------------------------------------------------------------

    def put(self, task: Task, seq: int | None = None, then: Then | None = None) -> _Batch:
        """Decide this version of a task (`seq` for a new one); durable with its batch."""
        batch = self._batch()
        task_id = task.task_id
        if task_id not in batch.undo:
            batch.undo[task_id] = None if seq is not None else self.get(task_id)
        self.remember(task, seq)
        rendered = self.json[task_id] if task.status.is_final else None
        if seq is None:
            batch.add("update", (self.order[task_id], task, rendered))
        else:
            batch.add("insert", (seq, task, rendered))
        batch.published.append(task)
        if then is not None:
            batch.then.append(then)
        return batch

    def save(self, op: Op, undo: Then, then: Then) -> _Batch:
        """Another kind of change (settings, deleting rows): `undo` puts memory back if it
        is not stored; `then` takes it in once it is. Deleted tasks leave memory only in
        `then`: undoing a delete could not put them back in submission order."""
        batch = self._batch()
        batch.ops.append(op)
        batch.undo_also.append(undo)
        batch.then.append(then)
        return batch

    @property
    def busy(self) -> bool:
        """Something decided is not committed (or undone) yet."""
        return self._open is not None or bool(self._in_flight)

    def settled(self) -> asyncio.Future[None] | None:
        """A future of the caller's own, done once everything decided so far is committed
        (or failed with the error that undid it); None if nothing is waiting. Its own, so
        that a caller that gives up (its future cancelled) takes nothing back: what
        asyncio.shield() does around a shared one, for a tenth of its cost (6 us an add)."""
        last = self._open or (self._in_flight[-1] if self._in_flight else None)
        if last is None:
            return None
        waiter = asyncio.get_running_loop().create_future()
        last.waiters.append(waiter)
        return waiter

    # -- memory ----------------------------------------------------------------------------

    def get(self, task_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        if task is None and task_id in self.finished:
            return finished_task(self.json[task_id])
        return task

    def status(self, task_id: str) -> TaskStatus | None:
        task = self.tasks.get(task_id)
        return task.status if task is not None else self.finished.get(task_id)

    def take_opening(self, finished: Sequence[Row], unsettled: Sequence[tuple[int, Task]]) -> None:
        """What a start read (Store.load_opening), into memory in submission order (each
        list is in it already): the finished rows between two unsettled tasks go in as one
        run, not one call per row."""
        for run, mark in _between(finished, unsettled):
            self.counts.update(_take(run, self.order, self.json, self.finished))
            if mark is not None:
                seq, task = mark
                self.remember(task, seq)

    def start_paging(self, floor: int, rest: Counter[str]) -> None:
        """The finished tasks below seq `floor` not in memory yet (`rest`, counted by
        status) are to be paged in: counted from now on, listed once paged in."""
        self.counts.update({STATUS_OF[status]: n for status, n in rest.items()})
        early = sorted((self.order[i], i) for i in self.json if self.order[i] < floor)
        self.paging = Paging(floor, rest.total(), early)

    def page_in(self, rows: Sequence[Row]) -> None:
        """The next rows of the older history, oldest first (Store.load_finished)."""
        assert self.paging is not None
        self.paging.take([row for row in rows if row[1] not in self.json])
        self.paging.read = rows[-1][0]

    def paged_in(self) -> None:
        """All of it is read: into memory it goes, in submission order."""
        paging, self.paging = self.paging, None
        assert paging is not None
        merged = paging.json
        for _, task_id in paging.early[paging.placed :]:
            merged[task_id] = b""
        for _, task_id in paging.early:
            if task_id not in self.json:  # gone meanwhile
                del merged[task_id]
        merged.update(self.json)  # the early ones keep their place; the newer ones follow
        self.order.update(paging.order)
        self.finished.update(paging.finished)
        self.json = merged

    def remember(self, task: Task, seq: int | None = None) -> None:
        """Take a task's new version; `seq` is given for a task memory does not have."""
        task_id = task.task_id
        rendered = task.to_json()  # first: should it ever fail, nothing has changed yet
        old = self.status(task_id)
        if old is None:
            assert seq is not None
            self.order[task_id] = seq
            if not task.status.is_final:
                for dep in task.after:
                    if dep not in self.finished:
                        self.dependents[dep].add(task_id)  # told when `dep` ends
        else:
            self.counts[old] -= 1
        if task.status.is_final:
            self.tasks.pop(task_id, None)
            self.finished[task_id] = task.status
        else:
            self.finished.pop(task_id, None)  # (an end undone)
            self.tasks[task_id] = task
        self.json[task_id] = rendered
        self.counts[task.status] += 1
        # The waiting line follows the status: nothing else puts tasks in or takes them out.
        if task.status is S.QUEUED:
            self.line.put(task_id, task.priority, self.order[task_id])
        else:
            self.line.discard(task_id)

    def forget(self, task_ids: Iterable[str]) -> None:
        for task_id in task_ids:
            task = self.tasks.pop(task_id, None)
            status = self.finished.pop(task_id) if task is None else task.status
            self.counts[status] -= 1
            del self.json[task_id]
            del self.order[task_id]
            self.line.discard(task_id)
            self.dependents.pop(task_id, None)
            for dep in task.after if task is not None else ():
                waiting = self.dependents.get(dep)
                if waiting is not None:
                    waiting.discard(task_id)
                    if not waiting:
                        del self.dependents[dep]

    # -- batches ---------------------------------------------------------------------------

    def _batch(self) -> _Batch:
        if self._open is None:
            self._open = _Batch()
            # Behind the callbacks already ready: a group commit.
            asyncio.get_running_loop().call_soon(self._seal)
        return self._open

    def _seal(self) -> None:
        batch, self._open = self._open, None
        if batch is None:
            return
        self._in_flight.append(batch)
        settle = functools.partial(self._written, batch, self._lineage)
        self._writer.write(batch.ops, settle, self._lineage)

    def _written(self, batch: _Batch, lineage: int, error: BaseException | None) -> None:
        if lineage != self._lineage:
            return  # undone already, with the batch that failed before it
        if error is not None:
            self._undo(error)  # it is the oldest in flight: the writer keeps their order
        else:
            self._settle(batch)

    def _settle(self, batch: _Batch) -> None:
        assert self._in_flight[0] is batch
        self._in_flight.popleft()
        try:
            for task in batch.published:
                self._publish(task)
            for then in batch.then:
                then()
        except Exception as exc:
            # A bug, not the database: the callers fail (500) rather than wait for ever.
            log.exception("could not take in a committed change")
            batch.answer(exc)
            return
        batch.answer()

    def _undo(self, error: BaseException) -> None:
        """Undo every batch not yet committed, newest first, and fail their callers."""
        undone = list(self._in_flight)
        if self._open is not None:
            undone.append(self._open)
        self._in_flight.clear()
        self._lineage += 1  # the writer refuses what is still queued of the old one
        self._open = None  # its seal finds nothing to send
        for batch in reversed(undone):
            for task_id, before in reversed(batch.undo.items()):
                if before is None:
                    self.forget([task_id])
                else:
                    self.remember(before)
            for undo in reversed(batch.undo_also):
                undo()
        for batch in undone:
            batch.answer(error)
        self._on_undone()


class Paging:
    """The older part of the history as it is read in behind the start (start_paging).

    Listing needs every task's JSON in one dict in submission order, so the older part is
    gathered here in that order and takes the place of the newer part only once it is all
    read: the tasks memory already had below the floor (waiting ones, and the finished
    ones they run after) are put in their places among it as it comes."""

    def __init__(self, floor: int, missing: int, early: list[tuple[int, str]]) -> None:
        self.floor = floor
        self.missing = missing  # finished tasks counted, listed once all are read
        self.early = early  # (seq, task_id) of what memory has below the floor, in order
        self.placed = 0  # how many of them have their place
        self.read = 0  # the seq read up to
        self.json: dict[str, bytes] = {}
        self.order: dict[str, int] = {}
        self.finished: dict[str, TaskStatus] = {}

    def take(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        last = rows[-1][0]
        due = list(itertools.takewhile(lambda m: m[0] < last, self.early[self.placed :]))
        self.placed += len(due)
        for run, mark in _between(rows, due):
            _take(run, self.order, self.json, self.finished)
            if mark is not None:
                self.json[mark[1]] = b""  # its place; its JSON comes with the newer part


def _between(
    rows: Sequence[Row], marks: Sequence[tuple[int, T]]
) -> Iterator[tuple[Sequence[Row], tuple[int, T] | None]]:
    """`rows` cut at each of `marks` ((seq, x); both in seq order): each mark with the
    rows before it, then the rows after the last one (with None)."""
    seqs = [row[0] for row in rows]
    taken = 0
    for mark in marks:
        upto = bisect.bisect_left(seqs, mark[0], lo=taken)
        yield rows[taken:upto], mark
        taken = upto
    yield rows[taken:], None


def _take(
    rows: Sequence[Row],
    order: dict[str, int],
    json: dict[str, bytes],
    finished: dict[str, TaskStatus],
) -> list[TaskStatus]:
    """Rows of finished tasks into the three maps, column by column through C-level
    updates (a start-up took 100,000 of them); their statuses."""
    if not rows:
        return []
    seqs, ids, statuses, rendered = zip(*rows, strict=True)
    states = list(map(STATUS_OF.__getitem__, statuses))
    order.update(zip(ids, seqs, strict=True))
    json.update(zip(ids, rendered, strict=True))
    finished.update(zip(ids, states, strict=True))
    return states
