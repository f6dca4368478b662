"""Reads of the task history straight from the SQLite file: the export's pages, and the
columns GET /stats counts (web/columns.py).

The engine holds the live tasks in memory and is the only writer; these reads never go
through it. Each runs in a worker thread (house rule 5: no SQLite call on the event loop)
on a read-only connection of its own, which WAL lets read beside the writer without
blocking it. Everything the engine publishes is committed first, so a read made after a
WebSocket delta arrived sees that change.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from web.store import COLUMNS, StoreError, _task
from web.tasks.model import Task
from web.tasks.search import fold


@dataclass(frozen=True)
class TaskFilter:
    """The dashboard list's filters: any of these statuses, any of these kinds, and a search
    that matches a name part (any case) or an id prefix, as the page's search box does."""

    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    search: str = ""

    def sql(self) -> tuple[str, dict[str, object]]:
        """A WHERE condition for the tasks table, and its named parameters (so a query can
        repeat the condition in several subqueries and pass them once)."""
        clauses: list[str] = []
        params: dict[str, object] = {}
        for column, values in (("status", self.statuses), ("kind", self.kinds)):
            if values:
                names = [f"{column}_{i}" for i in range(len(values))]
                clauses.append(f"{column} IN ({', '.join(':' + n for n in names)})")
                params.update(zip(names, values, strict=True))
        if self.search.strip():
            clause, found = self.search_sql()
            clauses.append(clause)
            params.update(found)
        return " AND ".join(clauses) or "1", params

    def search_sql(self) -> tuple[str, dict[str, object]]:
        """The search alone: a name part in any case, or an id prefix, as the list has it
        (web/tasks/search.py): the query folded as the stored names are (migration 8) and
        looked for literally; an id compared in any ASCII case (NOCASE), as the list does."""
        query = fold(self.search.strip())
        params: dict[str, object] = {"search": query, "search_len": len(query)}
        by_id = "substr(task_id, 1, :search_len) = :search COLLATE NOCASE"
        return f"(instr(folded, :search) > 0 OR {by_id})", params


class History:
    """The history file at `path`, read-only. Every method blocks: call it in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        """A read-only connection. Not tied to the thread that opened it, so a stream can
        read its chunks from whichever worker thread is free (one at a time)."""
        try:
            conn = sqlite3.connect(
                f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        return conn

    def tasks_before(
        self, conn: sqlite3.Connection, where: TaskFilter, before: int | None, limit: int
    ) -> list[tuple[int, Task]]:
        """Up to `limit` matching tasks older than seq `before` (None: the newest), newest
        first, with their seqs. Paging by seq keeps no read transaction
        open between pages, and a task added meanwhile cannot come twice."""
        condition, params = where.sql()
        if before is not None:
            condition += " AND seq < :before"
        # NOT INDEXED: down the table by seq, never through a status index and a sort of
        # every match for each page (an export of one status took four times as long).
        sql = (
            f"SELECT seq, {', '.join(COLUMNS)} FROM tasks NOT INDEXED WHERE {condition} "
            "ORDER BY seq DESC LIMIT :limit"
        )
        cursor = conn.cursor()
        cursor.row_factory = sqlite3.Row
        try:
            found = cursor.execute(sql, {**params, "before": before, "limit": limit}).fetchall()
        except sqlite3.Error as exc:
            raise self.error(exc) from exc
        return [(row["seq"], _task(row)) for row in found]

    def error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"cannot read the task history {self.path}: {exc} "
            "(another program may hold a lock on it; try again)"
        )
