"""GET /tasks/export's bodies: the matching tasks as CSV, a JSON array or NDJSON, streamed.

Read and encoded a page at a time in a worker thread, so 100,000 tasks take no more memory
than a page of them, the first bytes leave before the last rows are read, and the event
loop never waits on SQLite or on encoding.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio
from anyio.to_thread import run_sync

from web.history import History, TaskFilter
from web.tasks.model import Task, TaskStatus

PAGE = 500


@dataclass(frozen=True)
class Format:
    media_type: str
    head: bytes
    tail: bytes
    # A page of tasks as bytes; the flag says whether it is the first page.
    page: Callable[[list[Task], bool], bytes]


def _ndjson(tasks: list[Task], _first: bool) -> bytes:
    return b"".join(task.to_json() + b"\n" for task in tasks)


def _json(tasks: list[Task], first: bool) -> bytes:
    return (b"" if first else b",") + b",".join(task.to_json() for task in tasks)


# The task object's keys, in its order: the CSV columns.
FIELDS = tuple(json.loads(Task("", "", "", None, TaskStatus.QUEUED, 0.0).to_json()))


def _csv_line(values: object) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(values)  # type: ignore[arg-type]
    return out.getvalue().encode()


def _csv(tasks: list[Task], _first: bool) -> bytes:
    rows = ((_cell(wire[key]) for key in FIELDS) for wire in map(_wire, tasks))
    return _csv_line(rows)


def _wire(task: Task) -> dict[str, object]:
    # The task object itself, so a cell holds exactly what the JSON formats say.
    return json.loads(task.to_json())


def _cell(value: object) -> object:
    """Null is an empty cell; params and after are JSON text."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


FORMATS = {
    "csv": Format("text/csv; charset=utf-8", _csv_line([FIELDS]), b"", _csv),
    "json": Format("application/json", b"[", b"]\n", _json),
    "ndjson": Format("application/x-ndjson", b"", b"", _ndjson),
}


async def export(history: History, where: TaskFilter, name: str) -> AsyncIterator[bytes]:
    """The body, newest task first as the list shows them. The first piece comes once the
    file is open and the first page read, so a history that cannot be read is an error
    answer (503), not a cut-off body."""
    fmt = FORMATS[name]
    conn = await run_sync(history.connect)
    try:
        before: int | None = None
        first = True
        while True:
            before, piece = await run_sync(_page, history, conn, where, before, fmt, first)
            if first:
                piece = fmt.head + piece
            if before is None:
                yield piece + fmt.tail
                return
            yield piece
            first = False
    finally:
        with anyio.CancelScope(shield=True):  # also when the client went away mid-way
            await run_sync(conn.close)


def _page(
    history: History,
    conn: sqlite3.Connection,
    where: TaskFilter,
    before: int | None,
    fmt: Format,
    first: bool,
) -> tuple[int | None, bytes]:
    """The next page, encoded, and the seq to read on from (None: that was the last)."""
    found = history.tasks_before(conn, where, before, PAGE)
    body = fmt.page([task for _, task in found], first) if found else b""
    return (found[-1][0] if len(found) == PAGE else None), body
