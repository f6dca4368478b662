"""SQLite store: the durable history. One connection, one writer (the engine's loop).

WAL with synchronous=NORMAL survives a crash of the process (not of the OS) with every
committed write, and each change is committed before it is published.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from web.tasks.model import Task, TaskStatus


class StoreError(RuntimeError):
    """The database cannot be used; the message names the file and what to do."""


# Each entry moves the schema from version i to i+1; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE tasks (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        duration REAL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        run_at REAL,
        started_at REAL,
        finished_at REAL,
        error TEXT
    );
    CREATE INDEX tasks_status ON tasks(status);
    """,
    """
    ALTER TABLE tasks ADD COLUMN after TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN elapsed REAL NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN retry_of TEXT;
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # A third of the cost of an insert went to keeping AUTOINCREMENT's counter and an
    # index on status that no query used (the engine holds every task in memory). A plain
    # INTEGER PRIMARY KEY still orders by creation: a new row gets the largest seq + 1.
    """
    CREATE TABLE tasks_v3 (
        seq INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        duration REAL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        run_at REAL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        after TEXT NOT NULL DEFAULT '[]',
        elapsed REAL NOT NULL DEFAULT 0,
        retry_of TEXT
    );
    INSERT INTO tasks_v3 SELECT seq, task_id, name, kind, params, duration, status, progress,
        priority, created_at, run_at, started_at, finished_at, error, after, elapsed, retry_of
        FROM tasks;
    DROP TABLE tasks;
    ALTER TABLE tasks_v3 RENAME TO tasks;
    """,
    # The same without UNIQUE on task_id: keeping an index of random ids cost more than
    # the insert itself (bench/). Rows are found by seq instead, which the engine (the
    # only writer) hands out and keeps for every task; writes check the task_id too.
    """
    CREATE TABLE tasks_v4 (
        seq INTEGER PRIMARY KEY,
        task_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}',
        duration REAL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        priority INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        run_at REAL,
        started_at REAL,
        finished_at REAL,
        error TEXT,
        after TEXT NOT NULL DEFAULT '[]',
        elapsed REAL NOT NULL DEFAULT 0,
        retry_of TEXT
    );
    INSERT INTO tasks_v4 SELECT seq, task_id, name, kind, params, duration, status, progress,
        priority, created_at, run_at, started_at, finished_at, error, after, elapsed, retry_of
        FROM tasks;
    DROP TABLE tasks;
    ALTER TABLE tasks_v4 RENAME TO tasks;
    """,
    # For GET /stats (web/stats.py), which counts index ranges instead of sorting rows:
    # 100,000 tasks took 180-280 ms without these, under 50 with them. Only tasks_created
    # takes an entry per new task (+1-2 us per insert in bench); the others are partial
    # and hold tasks once they have started or ended.
    """
    CREATE INDEX tasks_started ON tasks(started_at, status, kind)
        WHERE started_at IS NOT NULL;
    CREATE INDEX tasks_ended ON tasks(status, finished_at, kind)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX tasks_ran ON tasks(finished_at - started_at, finished_at, started_at, status, kind)
        WHERE finished_at IS NOT NULL AND started_at IS NOT NULL;
    CREATE INDEX tasks_created ON tasks(status, created_at, kind);
    """,
)

COLUMNS = (
    "task_id",
    "name",
    "kind",
    "params",
    "duration",
    "status",
    "progress",
    "priority",
    "created_at",
    "run_at",
    "started_at",
    "finished_at",
    "error",
    "after",
    "elapsed",
    "retry_of",
)
_INSERT = f"INSERT INTO tasks (seq, {', '.join(COLUMNS)}) VALUES (?{', ?' * len(COLUMNS)})"
_UPDATE = (
    f"UPDATE tasks SET {', '.join(c + ' = ?' for c in COLUMNS[1:])} WHERE seq = ? AND task_id = ?"
)


def _row(task: Task) -> tuple:
    return (
        task.task_id,
        task.name,
        task.kind,
        json.dumps(task.params),
        task.duration,
        task.status.value,
        task.progress,
        task.priority,
        task.created_at,
        task.run_at,
        task.started_at,
        task.finished_at,
        task.error,
        json.dumps(task.after) if task.after else "[]",
        task.elapsed,
        task.retry_of,
    )


def _changed(seq: int, task: Task) -> tuple:
    """_UPDATE's parameters: every column but task_id, then the row's seq and task_id."""
    return (*_row(task)[1:], seq, task.task_id)


def _task(row: sqlite3.Row) -> Task:
    return Task(
        task_id=row["task_id"],
        name=row["name"],
        kind=row["kind"],
        params=json.loads(row["params"]),
        duration=row["duration"],
        status=TaskStatus(row["status"]),
        progress=row["progress"],
        priority=row["priority"],
        created_at=row["created_at"],
        run_at=row["run_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        error=row["error"],
        after=tuple(json.loads(row["after"])),
        elapsed=row["elapsed"],
        retry_of=row["retry_of"],
    )


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating if needed) and migrate; every failure becomes a StoreError."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the data folder {path.parent}: {exc.strerror}. "
                "Choose a writable folder with TASK_DASHBOARD_HOME."
            ) from exc
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the task database {path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        store = cls(conn, path)
        try:
            store._prepare()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(_explain(path, exc)) from exc
        return store

    def _prepare(self) -> None:
        c = self._conn
        c.execute("PRAGMA busy_timeout = 5000")
        # quick_check reads every page: a damaged file is caught here, not in a request.
        result = c.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {result}")
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        version = c.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this app understands "
                f"({len(MIGRATIONS)}); upgrade Task Dashboard"
            )
        for number in range(version, len(MIGRATIONS)):
            c.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(f"PRAGMA user_version = {number + 1}")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._conn.close()

    def load_all(self) -> Iterator[tuple[int, Task]]:
        """Every task with its seq, oldest first."""
        for row in self._conn.execute(f"SELECT seq, {', '.join(COLUMNS)} FROM tasks ORDER BY seq"):
            yield row["seq"], _task(row)

    def insert_many(self, rows: Iterable[tuple[int, Task]]) -> None:
        """New tasks, each with the seq it is to be found by, in one transaction."""
        self._write_many(_INSERT, [(seq, *_row(task)) for seq, task in rows])

    def update(self, seq: int, task: Task) -> None:
        self._write_one(_UPDATE, _changed(seq, task))

    def update_many(self, rows: Iterable[tuple[int, Task]]) -> None:
        """Several changes in one transaction (batched progress, shutdown, recovery)."""
        params = [_changed(seq, task) for seq, task in rows]
        if params:
            self._write_many(_UPDATE, params, each_one_row=True)

    def delete(self, rows: Iterable[tuple[int, str]]) -> None:
        """The rows of these (seq, task_id)."""
        sql = "DELETE FROM tasks WHERE seq = ? AND task_id = ?"
        self._write_many(sql, list(rows), each_one_row=True)

    def load_settings(self) -> dict[str, object]:
        rows = self._conn.execute("SELECT key, value FROM settings")
        return {key: json.loads(value) for key, value in rows}

    def save_settings(self, values: dict[str, object]) -> None:
        """All of them in one transaction."""
        self._write_many(
            "INSERT INTO settings (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(key, json.dumps(value)) for key, value in values.items()],
        )

    def _write_many(self, sql: str, rows: list[tuple], each_one_row: bool = False) -> None:
        """One statement for many rows, in one transaction. `each_one_row`: every row must
        change exactly one row of the table, or nothing is written (a change the engine
        would publish must not have missed its row)."""
        try:
            with self._conn:
                self._conn.execute("BEGIN")
                changed = self._conn.executemany(sql, rows).rowcount
                if each_one_row and changed != len(rows):
                    raise _Mismatch(changed, len(rows))  # rolls the others back
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        except _Mismatch as exc:
            raise StoreError(exc.explain(self.path)) from exc

    def _write_one(self, sql: str, params: tuple) -> None:
        """One statement that must change exactly one row (if it changed none, nothing was
        written, so there is nothing to roll back)."""
        try:
            changed = self._conn.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        if changed != 1:
            raise StoreError(_Mismatch(changed, 1).explain(self.path))


class _Mismatch(Exception):
    def __init__(self, changed: int, expected: int) -> None:
        self.changed, self.expected = changed, expected

    def explain(self, path: Path) -> str:
        return (
            f"task database {path}: {self.changed} rows matched where {self.expected} should "
            "have (it was changed behind the app's back; restart the app to read it again)"
        )


def _explain(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text or "unable to open" in text:
        hint = "make the file and its folder writable, or choose another with TASK_DASHBOARD_HOME"
    elif "locked" in text or "busy" in text:
        hint = "another program holds a lock on it; close that program and try again"
    elif "disk is full" in text or "full" in text:
        hint = "free some disk space and try again"
    else:
        hint = "it is damaged or not a Task Dashboard database; move it aside to start afresh"
    return f"task database {path}: {text} ({hint})"
