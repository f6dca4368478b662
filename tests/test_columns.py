"""GET /stats's copy of the history (web/columns.py) when bringing it up to date fails:
a read refused by SQLite, and columns that cannot grow. Either way the next request
counts what the file holds, as a copy read from scratch does."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from tests.browser.seed import history_task
from web import tally
from web.columns import Columns
from web.history import History, TaskFilter
from web.store import Store, StoreError
from web.tasks.model import Task, TaskStatus

T = 1_800_000_000.0
MINUTE = 60


def figures(columns: Columns) -> tally.Figures:
    """Everything counted by the minute over the hour before T (and one after)."""
    first, last = int(T - 3600) // MINUTE, int(T + 3600) // MINUTE
    with columns.current() as held:
        return tally.count(held, TaskFilter(), MINUTE, first, last)


def write(db: Path, kind: str, tasks: list[tuple[int, Task]]) -> None:
    store = Store.open(db)
    try:
        store.write(
            [(kind, [(seq, t, t.to_json() if t.status.is_final else None) for seq, t in tasks])]
        )
    finally:
        store.close()


class Refusing(History):
    """The history file, whose connections refuse json_each (the read of the tasks that
    could still change, after the read of the new ones) while `refuse` is set."""

    refuse = False

    def connect(self) -> sqlite3.Connection:
        conn = super().connect()
        if self.refuse:
            conn.set_authorizer(
                lambda action, table, *_: (
                    sqlite3.SQLITE_DENY
                    if action == sqlite3.SQLITE_READ and table == "json_each"
                    else sqlite3.SQLITE_OK
                )
            )
        return conn


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A finished task, and one running since T - 600."""
    path = tmp_path / "tasks.db"
    running = dataclasses.replace(
        history_task(1, T - 600), status=TaskStatus.RUNNING, finished_at=None, progress=0.5
    )
    write(path, "insert", [(1, history_task(0, T - 1200)), (2, running)])
    return path


def changes(db: Path) -> None:
    """The running task ends; a new one comes."""
    store = Store.open(db)
    try:
        (running,) = (t for _, t in store.load_all() if t.status is TaskStatus.RUNNING)
    finally:
        store.close()
    ended = dataclasses.replace(running, status=TaskStatus.COMPLETED, finished_at=T - 60)
    write(db, "update", [(2, ended)])
    write(db, "insert", [(3, history_task(2, T - 300))])


def test_a_read_that_fails_changes_nothing_and_the_next_one_catches_up(db: Path) -> None:
    history = Refusing(db)
    columns = Columns(history)
    before = figures(columns)
    changes(db)
    history.refuse = True
    with pytest.raises(StoreError, match="json_each"):
        figures(columns)
    history.refuse = False
    after = figures(columns)
    assert after == figures(Columns(History(db)))
    assert after != before


def test_columns_that_cannot_grow_are_read_again_whole(db: Path) -> None:
    columns = Columns(History(db))
    figures(columns)
    # A numpy view of a column that outlives its request (a traceback kept somewhere)
    # stops the column from growing: the copy must not go on with columns of different
    # lengths.
    view = memoryview(columns.keys(MINUTE)[0])
    changes(db)
    with pytest.raises(BufferError):
        figures(columns)
    view.release()
    assert figures(columns) == figures(Columns(History(db)))
