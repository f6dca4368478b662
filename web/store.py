"""SQLite store: the durable history. One connection, used only by the database's writer
(web/committer.py, in a process of its own); the event loop never calls it.

WAL with synchronous=NORMAL survives a crash of the process (not of the OS) with every
committed write, and each change is committed before it is published.
"""

from __future__ import annotations

import functools
import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from web.tasks.model import Task, TaskStatus
from web.tasks.search import fold


@dataclass(frozen=True)
class Opening:
    """The part of the history a start reads before it answers (Store.load_opening)."""

    unsettled: list[tuple[int, Task]]  # every task that can still change, with its seq
    # (seq, task_id, status, JSON), oldest first: the newest finished tasks, and any older
    # one an unsettled task runs after.
    finished: list[tuple[int, str, str, bytes]]
    floor: int  # the other finished tasks are those below this seq (0: there are none)
    rest: Counter[str]  # and their count by status


class StoreError(RuntimeError):
    """The database cannot be used; the message names the file and what to do."""


# Changes in the order they were decided, each a kind and its rows:
#   ("insert", [(seq, Task, json)]), ("update", [(seq, Task, json)]),
#   ("delete", [(seq, task_id)]), ("settings", [(key, value)]);
# json: a finished task's JSON, None for one that can still change.
Op = tuple[Literal["insert", "update", "delete", "settings"], list]
Ops = list[Op]


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
    # A finished task's JSON as the API shows it (null while the task can still change):
    # start-up reads a long history as it is, with no Task built or rendered per row.
    """
    ALTER TABLE tasks ADD COLUMN json BLOB;
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
    # Where each task runs (web/cluster/): a task on a cluster outlives the app's run. The
    # JSON kept of finished tasks is sent as it is, so it gains the two fields too.
    """
    ALTER TABLE tasks ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE tasks ADD COLUMN worker TEXT;
    UPDATE tasks
        SET json = CAST(json_set(CAST(json AS TEXT), '$.executor', 'local', '$.worker', NULL)
                        AS BLOB)
        WHERE json IS NOT NULL;
    """,
    # For GET /stats with a name search, which no index on times can narrow: the name as a
    # search compares it (fold(), web/tasks/search.py; SQLite's lower() knows only ASCII),
    # and one narrow index holding all a search and the counts read, so a search is one
    # pass over it instead of over the wide rows. Led by created_at, a new task's entry
    # goes at its end; the task_id in it is not a key (an index keyed on random ids is
    # what migration 4 dropped).
    """
    ALTER TABLE tasks ADD COLUMN folded TEXT NOT NULL DEFAULT '';
    UPDATE tasks SET folded = fold(name);
    CREATE INDEX tasks_search
        ON tasks(created_at, folded, task_id, kind, status, started_at, finished_at);
    """,
    # Which of its writes the database's writer committed last (web/committer.py): if its
    # process dies between a commit and its answer, the next one can tell the app.
    """
    CREATE TABLE writer_marks (
        writer TEXT PRIMARY KEY,
        first INTEGER NOT NULL,
        last INTEGER NOT NULL
    );
    """,
    # GET /stats counts a copy of the history's columns in memory (web/columns.py), no
    # longer ranges of these indexes: nothing reads them, and every write kept them up to
    # date. tasks_created stays: a start counts the older history's statuses with it.
    """
    DROP INDEX tasks_started;
    DROP INDEX tasks_ended;
    DROP INDEX tasks_ran;
    DROP INDEX tasks_search;
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
    "executor",
    "worker",
    "json",
    "folded",
)
# Many rows per statement, not executemany: the sqlite3 module lets go of the GIL around
# every step, and under load a writer thread then waited for the event loop to hand it
# back, once per row (bench/; before the writer had a process of its own). A row of
# values is (seq, task_id, the other columns...).
_ROW = f"({', '.join('?' * (len(COLUMNS) + 1))})"
_ROWS_PER_STATEMENT = 32_766 // (len(COLUMNS) + 1)  # SQLite's limit on parameters
_SETS = ", ".join(f"{c} = v.column{i + 3}" for i, c in enumerate(COLUMNS[1:]))


@functools.lru_cache(maxsize=64)
def _insert(rows: int) -> str:
    return f"INSERT INTO tasks (seq, {', '.join(COLUMNS)}) VALUES {', '.join([_ROW] * rows)}"


@functools.lru_cache(maxsize=64)
def _update(rows: int) -> str:
    return (
        f"UPDATE tasks SET {_SETS} FROM (VALUES {', '.join([_ROW] * rows)}) AS v "
        "WHERE tasks.seq = v.column1 AND tasks.task_id = v.column2"
    )


@functools.lru_cache(maxsize=64)
def _delete(rows: int) -> str:
    pairs = ", ".join(["(?, ?)"] * rows)
    return f"DELETE FROM tasks WHERE (seq, task_id) IN (VALUES {pairs})"


_MARK = (
    "INSERT INTO writer_marks (writer, first, last) VALUES (?, ?, ?) "
    "ON CONFLICT (writer) DO UPDATE SET first = excluded.first, last = excluded.last"
)
_SAVE_SETTING = (
    "INSERT INTO settings (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _row(task: Task, rendered: bytes | None = None) -> tuple:
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
        task.executor,
        task.worker,
        rendered,
        fold(task.name),
    )


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
        executor=row["executor"],
        worker=row["worker"],
    )


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path, busy_timeout: float = 5.0) -> Store:
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
            store._prepare(busy_timeout)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(_explain(path, exc)) from exc
        except UnicodeDecodeError as exc:
            # SQLite's message quoted the damaged bytes (a name in a scribbled schema), and
            # Python could not read the message itself as text.
            conn.close()
            damaged = sqlite3.DatabaseError("malformed database schema (unreadable bytes)")
            raise StoreError(_explain(path, damaged)) from exc
        return store

    def _prepare(self, busy_timeout: float) -> None:
        c = self._conn
        # How long a write waits for another process's lock before it is refused (503).
        c.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        # quick_check reads every page: a damaged file is caught here, not in a request.
        result = c.execute("PRAGMA quick_check").fetchone()[0]
        if result != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {result}")
        c.execute("PRAGMA journal_mode = WAL")
        c.execute("PRAGMA synchronous = NORMAL")
        c.create_function("fold", 1, fold, deterministic=True)  # for migration 8
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
        yield from self._load("")

    def load_unsettled(self) -> list[tuple[int, Task]]:
        """Every task without its final JSON (one that can still change, or one finished
        before the app kept the JSON), with its seq, oldest first."""
        return list(self._load("WHERE json IS NULL"))

    def load_opening(self, newest: int) -> Opening:
        """What a start needs before it answers (web/tasks/engine.py): the rest of the
        history is read in behind it with load_finished(). One read transaction, so the
        counts of the rest and the rows read agree."""
        try:
            self._conn.execute("BEGIN")
            try:
                return self._opening(newest)
            finally:
                self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc

    def _opening(self, newest: int) -> Opening:
        unsettled = self.load_unsettled()
        finished = self._finished("WHERE json IS NOT NULL ORDER BY seq DESC LIMIT ?", newest)
        finished.reverse()
        if len(finished) < newest:
            return Opening(unsettled, finished, 0, Counter())
        floor = finished[0][0]
        known = {row[1] for row in finished} | {task.task_id for _, task in unsettled}
        needed = {d for _, task in unsettled for d in task.after} - known
        if needed:  # older finished tasks that waiting ones run after (no index: rare)
            finished[:0] = self._finished_named(sorted(needed), floor)
        # The rest, by status: every row below the floor (a pass over a narrow index
        # instead of the wide rows), less those read now.
        below = "SELECT status, count(*) FROM tasks INDEXED BY tasks_created WHERE seq < ? "
        rest = Counter(dict(self._conn.execute(below + "GROUP BY status", (floor,))))
        rest.subtract(row[2] for row in finished if row[0] < floor)
        rest.subtract(task.status.value for seq, task in unsettled if seq < floor)
        return Opening(unsettled, finished, floor, +rest)

    def load_finished(
        self, after: int = 0, below: int | None = None, limit: int = -1
    ) -> list[tuple[int, str, str, bytes]]:
        """(seq, task_id, status, JSON) of tasks finished with their JSON and `after` <
        seq < `below`, oldest first, at most `limit` of them."""
        return self._finished(
            "WHERE json IS NOT NULL AND seq > ? AND seq < ? ORDER BY seq LIMIT ?",
            after,
            below if below is not None else 2**63 - 1,
            limit,
        )

    def _finished_named(self, ids: list[str], below: int) -> list[tuple[int, str, str, bytes]]:
        rows = []
        for start in range(0, len(ids), 500):  # within SQLite's limit on parameters
            chunk = ids[start : start + 500]
            where = (
                f"WHERE json IS NOT NULL AND seq < ? AND task_id IN ({', '.join('?' * len(chunk))})"
            )
            rows += self._finished(where, below, *chunk)
        return sorted(rows)

    def _finished(self, where: str, *params: object) -> list[tuple[int, str, str, bytes]]:
        self._conn.row_factory = None  # tuples: a tenth of the time for 100,000 rows
        try:
            sql = f"SELECT seq, task_id, status, json FROM tasks {where}"
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        finally:
            self._conn.row_factory = sqlite3.Row

    def _load(self, where: str) -> Iterator[tuple[int, Task]]:
        sql = f"SELECT seq, {', '.join(COLUMNS)} FROM tasks {where} ORDER BY seq"
        for row in self._conn.execute(sql):
            yield row["seq"], _task(row)

    def load_settings(self) -> dict[str, object]:
        rows = self._conn.execute("SELECT key, value FROM settings")
        return {key: json.loads(value) for key, value in rows}

    def take_mark(self, writer: str) -> tuple[int, int] | None:
        """The ids of the writes `writer` committed last (see write()); the marks of
        writers before it go."""
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                row = self._conn.execute(
                    "SELECT first, last FROM writer_marks WHERE writer = ?", (writer,)
                ).fetchone()
                self._conn.execute("DELETE FROM writer_marks WHERE writer != ?", (writer,))
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        return None if row is None else (row[0], row[1])

    def write(self, ops: Ops, mark: tuple[str, int, int] | None = None) -> None:
        """Every change in one transaction, in order. Updates and deletes must each hit
        exactly their row, or nothing is written (a change the engine would publish must
        not have missed its row). `mark`: (writer, first, last), the ids of the writes
        these ops are, kept in the same transaction (take_mark)."""
        try:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                if mark is not None:
                    self._conn.execute(_MARK, mark)
                for kind, rows in ops:
                    if kind == "insert":
                        self._many(_insert, [(seq, *_row(t, js)) for seq, t, js in rows])
                    elif kind == "update":
                        # Each row once, as last changed (one statement cannot set a row
                        # twice; the file only needs where the batch left it).
                        latest = {seq: (seq, *_row(t, js)) for seq, t, js in rows}
                        self._many(_update, list(latest.values()), each_one_row=True)
                    elif kind == "delete":
                        self._many(_delete, rows, each_one_row=True)
                    else:
                        params = [(key, json.dumps(value)) for key, value in rows]
                        self._conn.executemany(_SAVE_SETTING, params)
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from exc
        except _Mismatch as exc:
            raise StoreError(exc.explain(self.path)) from exc

    def _many(
        self, sql: Callable[[int], str], rows: list[tuple], each_one_row: bool = False
    ) -> None:
        """`rows` through statements of many rows each; `each_one_row`: each must change
        exactly one row of the table."""
        changed = 0
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            flat = [value for row in chunk for value in row]
            changed += self._conn.execute(sql(len(chunk)), flat).rowcount
        if each_one_row and changed != len(rows):
            raise _Mismatch(changed, len(rows))  # rolls the others back


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
        hint = (
            "another process holds a lock on it, such as a backup tool or sqlite3 opened by "
            "hand; nothing was changed: close that program and try again"
        )
    elif "full" in text or _no_space(path):
        # Also "disk I/O error": SQLite's word when its shared-memory file cannot grow.
        text = text if "full" in text else f"{text}: the disk is full"
        hint = "free some disk space and try again"
    else:
        hint = "it is damaged or not a Task Dashboard database; move it aside to start afresh"
    return f"task database {path}: {text} ({hint})"


def _no_space(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < 1024 * 1024
    except OSError:
        return False
