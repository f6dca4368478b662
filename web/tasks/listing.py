"""Listing: tasks as the API and the WebSocket show them, from the ledger's memory.

Each task's JSON is kept ready (web/tasks/ledger.py); a list is a walk over those, newest
first, with the filters the dashboard has (status, kind, a text in the name or at the start
of the id) and a task's place in line filled in where it is queued.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from web.tasks.errors import TaskNotFound
from web.tasks.ledger import Ledger
from web.tasks.model import FINAL_STATUSES, Task, TaskStatus
from web.tasks.search import fold, matching

S = TaskStatus


@dataclass(frozen=True)
class Wanted:
    """A page of the list, as GET /tasks/status and the WebSocket's snapshot ask for it.
    `kind` is matched exactly; `query` in the name (in any case) or at the start of the id
    (web/tasks/search.py); `line`: queued tasks first, in the order they will start."""

    statuses: frozenset[TaskStatus] = frozenset()
    limit: int | None = None
    offset: int = 0
    kind: str | None = None
    query: str = ""
    line: bool = False

    @property
    def filtered(self) -> bool:
        return bool(self.statuses or self.kind is not None or self.query or self.line)


class Listing:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._found: tuple[tuple[object, str], list[str]] | None = None  # the last search

    def task_json(self, task_id: str) -> bytes:
        """A task's JSON as it stands (a finished one's as kept, with nothing to build)."""
        if task_id in self._ledger.finished:
            return self._ledger.json[task_id]
        task = self._ledger.get(task_id)
        if task is None:
            raise TaskNotFound(task_id)
        return self.render(task)

    def render(self, task: Task) -> bytes:
        """The JSON of this version of a task, with its place in line if it is queued."""
        task_id = task.task_id
        ledger = self._ledger
        if task.status is S.QUEUED and task_id in ledger.line:
            return task.to_json(queue_position=ledger.line.position(task_id))
        if ledger.tasks.get(task_id) is task or (
            task.status.is_final and ledger.finished.get(task_id) is task.status
        ):
            return ledger.json[task_id]
        return task.to_json()

    def page(self, wanted: Wanted) -> tuple[list[bytes], int]:
        """Newest first: the JSON of each task on the page, and how many match in all."""
        assert not self.needs_history(wanted)
        end = None if wanted.limit is None else wanted.offset + wanted.limit
        ledger = self._ledger
        if wanted.filtered:
            ids = self._matching(wanted.statuses, wanted.kind, wanted.query)
            if wanted.line:
                waiting = sorted((i for i in ids if i in ledger.line), key=ledger.line.position)
                ids = waiting + [i for i in ids if i not in ledger.line]
            return [self._listed(i) for i in ids[wanted.offset : end]], len(ids)
        if not ledger.line:
            # The usual case: one pass over the stored JSON, not a Task object visited (and
            # values, not items: a tuple per task cost half as much again; bench/).
            newest_first = itertools.islice(reversed(ledger.json.values()), wanted.offset, end)
            return list(newest_first), ledger.total
        page = itertools.islice(reversed(ledger.json), wanted.offset, end)
        return [self._listed(i) for i in page], ledger.total

    def needs_history(self, wanted: Wanted) -> bool:
        """Whether this page would need the part of the history still being paged in
        (engine.whole_history()): anything but live tasks, or the newest ones."""
        paging = self._ledger.paging
        if paging is None:
            return False
        if wanted.statuses and FINAL_STATUSES.isdisjoint(wanted.statuses):
            return False
        if wanted.filtered or wanted.limit is None:
            return True
        return wanted.offset + wanted.limit > len(self._ledger.json) - len(paging.early)

    def _matching(self, wanted: frozenset[TaskStatus], kind: str | None, query: str) -> list[str]:
        """The ids that pass the filters, newest first."""
        ledger = self._ledger
        if wanted and wanted.isdisjoint(FINAL_STATUSES):  # only live ones: no need to walk history
            ids = [i for i, t in reversed(ledger.tasks.items()) if t.status in wanted]
            ids.sort(key=ledger.order.__getitem__, reverse=True)
            if kind is not None or query:
                ids = matching(ids, [ledger.json[i] for i in ids], kind, query)
            return ids
        ids = list(reversed(ledger.json))
        if kind is not None or query:
            # Kinds and names never change, so what matched stands until tasks come or go:
            # the page scrolling through one search pays for the scan once, and a search
            # typed further (a longer query) looks only at what the shorter one found.
            query = fold(query)
            tasks = (kind, len(ids), ids[0] if ids else None)
            last = self._found
            if last is None or last[0] != (tasks, query):
                if last is not None and last[0][0] == tasks and query.startswith(last[0][1]):
                    ids = last[1]
                    rows = [ledger.json[i] for i in ids]
                else:
                    rows = list(reversed(ledger.json.values()))
                self._found = last = ((tasks, query), matching(ids, rows, kind, query))
            ids = last[1]
        if wanted:
            ids = [i for i in ids if ledger.status(i) in wanted]
        return ids

    def _listed(self, task_id: str) -> bytes:
        task = self._ledger.tasks.get(task_id)
        return self._ledger.json[task_id] if task is None else self.render(task)
