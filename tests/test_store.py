"""The SQLite store on real files: schema, recovery input, and clear start-up errors."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import pytest

from web.history import History, TaskFilter
from web.store import MIGRATIONS, Store, StoreError
from web.tasks.model import Task, TaskStatus


def task(task_id: str, status: TaskStatus = TaskStatus.QUEUED) -> Task:
    return Task(
        task_id=task_id, name="n", kind="timer", duration=3.0, status=status, created_at=1.0
    )


def test_new_database_is_wal_and_migrated(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "tasks.db"
    Store.open(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_round_trip_keeps_every_field_in_insertion_order(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tasks.db")
    original = [
        task("b"),
        dataclasses.replace(
            task("a", TaskStatus.RUNNING), after=("b",), elapsed=2.5, retry_of="z", priority=-3
        ),
    ]
    store.write([("insert", [(7, original[0], None), (9, original[1], None)])])
    store.write([("update", [(9, original[1].with_progress(0.5), None)])])
    store.close()
    rows = list(Store.open(tmp_path / "tasks.db").load_all())
    assert [(seq, t.task_id) for seq, t in rows] == [(7, "b"), (9, "a")]
    loaded = [t for _, t in rows]
    assert loaded[1].progress == 0.5
    assert loaded[0] == original[0]
    assert loaded[1] == original[1].with_progress(0.5)


def database_at(db: Path, version: int, insert: str, rows: list[tuple]) -> None:
    """A database as that version of the app left it, with `rows` put in by `insert`."""
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:version]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.executemany(insert, rows)


def test_upgrade_from_version_2_keeps_every_task_in_order(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    database_at(
        db,
        2,
        "INSERT INTO tasks (task_id, name, kind, status, created_at, after, elapsed) "
        "VALUES (?, 'n', 'timer', 'completed', 1.0, ?, 1.5)",
        [("old1", "[]"), ("old2", '["old1"]'), ("old3", "[]")],
    )
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM tasks WHERE task_id = 'old3'")  # the newest, cleared
    store = Store.open(db)
    store.write([("insert", [(3, task("new"), None)])])
    store.close()
    rows = list(Store.open(db).load_all())
    assert [(seq, t.task_id) for seq, t in rows] == [(1, "old1"), (2, "old2"), (3, "new")]
    assert rows[1][1].after == ("old1",) and rows[1][1].elapsed == 1.5
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Rows are found by seq: no index keyed on the random task ids is kept up to date
        # (the one index there counts the older history's statuses at a start).
        indexes = [row[1] for row in conn.execute("PRAGMA index_list(tasks)")]
        assert indexes == ["tasks_created"]
        for index in indexes:
            columns = [row[2] for row in conn.execute(f"PRAGMA index_info({index})")]
            assert columns[0] != "task_id"


def test_upgrade_folds_every_name_kept_before(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    names = ["Nightly BACKUP", "Été à Zürich", "\u212a and \u0130", ""]
    database_at(
        db,
        next(i for i, script in enumerate(MIGRATIONS) if "ADD COLUMN folded" in script),
        "INSERT INTO tasks (task_id, name, kind, status, created_at) "
        "VALUES (?, ?, 'timer', 'completed', 1.0)",
        [(f"old{i}", name) for i, name in enumerate(names)],
    )
    store = Store.open(db)
    store.write([("insert", [(9, dataclasses.replace(task("new"), name="NEW Ünï"), None)])])
    store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        folded = conn.execute("SELECT task_id, folded FROM tasks ORDER BY seq").fetchall()
    # Python's lower case beyond ASCII, but for the two letters whose lower case is ASCII.
    assert folded == [
        ("old0", "nightly backup"),
        ("old1", "été à zürich"),
        ("old2", "\u212a and \u0130"),
        ("old3", ""),
        ("new", "new ünï"),
    ]
    assert [t.name for _, t in Store.open(db).load_all()] == [*names, "NEW Ünï"]
    history = History(db)  # and the history's search reads them, old rows and new alike
    conn = history.connect()
    try:
        for query, found in [
            ("ZÜRICH", ["old1"]),
            ("n", ["new", "old2", "old0"]),
            ("OLD3", ["old3"]),
        ]:
            tasks = history.tasks_before(conn, TaskFilter(search=query), None, 10)
            assert [t.task_id for _, t in tasks] == found
    finally:
        conn.close()


def test_rows_are_changed_and_deleted_by_seq(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tasks.db")
    store.write([("insert", [(1, task("a"), None), (2, task("b"), None), (3, task("c"), None)])])
    store.write([("update", [(2, task("b", TaskStatus.CANCELLED), None)])])
    store.write([("delete", [(1, "a"), (3, "c")])])
    assert [(seq, t) for seq, t in store.load_all()] == [(2, task("b", TaskStatus.CANCELLED))]
    store.close()


def test_a_write_that_misses_its_row_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tasks.db")
    store.write([("insert", [(1, task("a"), None), (2, task("b"), None)])])
    with pytest.raises(StoreError, match="1 rows matched where 2 should have"):
        store.write(
            [("update", [(1, task("a", TaskStatus.CANCELLED), None), (2, task("c"), None)])]
        )
    with pytest.raises(StoreError, match="0 rows matched where 1 should have"):
        store.write(
            [("update", [(2, task("a", TaskStatus.FAILED), None)])]
        )  # seq 2 is not task a's row
    with pytest.raises(StoreError, match="restart the app"):
        store.write([("delete", [(1, "a"), (2, "a")])])
    assert [t for _, t in store.load_all()] == [task("a"), task("b")]
    store.close()


def test_a_group_that_cannot_be_written_leaves_no_row(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tasks.db")
    store.write([("insert", [(1, task("a"), None)])])
    with pytest.raises(StoreError):
        store.write(
            [("insert", [(2, task("b"), None), (1, task("clash"), None)])]
        )  # seq 1 is taken
    assert [t.task_id for _, t in store.load_all()] == ["a"]
    store.close()


def test_corrupt_file_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(db)
    assert str(db) in str(info.value)
    assert "move it aside" in str(info.value)
    assert db.read_bytes().startswith(b"this is not"), "the file must be left untouched"


def test_a_damaged_file_whose_error_quotes_bytes_that_are_not_text_is_named(
    tmp_path: Path,
) -> None:
    # Bytes scribbled over the schema can end up in SQLite's error message, which Python
    # then cannot decode (UnicodeDecodeError instead of sqlite3.DatabaseError): seen once
    # in about 200 starts of tests/reliability/test_environment.py's scribbled file.
    db = tmp_path / "tasks.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (a)")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute("UPDATE sqlite_master SET name = CAST(x'ff' AS TEXT), sql = 'CREATE TABLE ('")
    damaged = db.read_bytes()
    with pytest.raises(StoreError) as info:
        Store.open(db)
    assert str(db) in str(info.value) and "move it aside" in str(info.value)
    assert db.read_bytes() == damaged, "the file must be left untouched"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    with pytest.raises(StoreError, match="newer than this app"):
        Store.open(db)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_unwritable_folder_is_explained(tmp_path: Path) -> None:  # pragma: no cover
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(StoreError, match="writable"):
        Store.open(folder / "tasks.db")


def test_data_dir_that_is_a_file_is_explained(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=r"cannot create the data folder .*data"):
        Store.open(blocker / "tasks.db")


def test_upgrade_gives_the_kept_json_of_finished_tasks_their_executor(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    # The version before tasks had an executor.
    before = next(i for i, script in enumerate(MIGRATIONS) if "ADD COLUMN executor" in script)
    old = dataclasses.replace(task("done", TaskStatus.COMPLETED), name='Café "q"', elapsed=0.1)
    kept = old.to_json().replace(b',"executor":"local","worker":null', b"")
    assert b"executor" not in kept  # as the earlier version wrote it
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:before]:
            conn.executescript(script)
        conn.execute(f"PRAGMA user_version = {before}")
        conn.execute(
            "INSERT INTO tasks (seq, task_id, name, kind, status, created_at, json) "
            "VALUES (1, 'done', 'n', 'timer', 'completed', 1.0, ?)",
            (kept,),
        )
    store = Store.open(db)
    [(seq, task_id, status, upgraded)] = store.load_finished()
    store.close()
    assert (seq, task_id, status, type(upgraded)) == (1, "done", "completed", bytes)
    assert json.loads(upgraded) == json.loads(old.to_json())
