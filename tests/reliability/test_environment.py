"""A bad environment: read-only or full data dir, a database locked by another process, a
corrupt database, a stale instance.json. Each must end in one clear line naming the
problem and what to do, never a bare traceback, and nothing already stored may be lost.

Read-only and full disks are real: a read-only bind mount and a tiny tmpfs (root ignores
file permissions, so chmod would prove nothing). Where mount is not allowed these skip.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.serving import ROOT, ServeProcess
from tests.waiting import until
from web.store import Store, StoreError


def mount(*args: str) -> None:
    run = subprocess.run(["mount", *args], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount here ({run.stderr.strip()}): needs root with CAP_SYS_ADMIN")


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Mount points to unmount after the test, last first."""
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", str(point)], check=True)


def seed(server: ServeProcess, crash: bool = False) -> dict[str, str]:
    """Some history: finished tasks and a long one; killed instead of stopped if `crash`."""
    server.start()
    with server.client() as http:
        ids = [http.post("/tasks/add", json={"duration": 0.01}).json()["task_id"] for _ in range(3)]
        ids.append(http.post("/tasks/add", json={"duration": 600}).json()["task_id"])
        until(
            lambda: http.get("/tasks/status", params={"status": "completed"}).json()["total"] == 3,
            15,
            "the short tasks to complete",
        )
        stored = {t["task_id"]: t["name"] for t in http.get("/tasks/status").json()["tasks"]}
    if crash:
        server.kill()  # the long task is still `running` in the database
    else:
        assert server.stop() == 0
    assert set(stored) == set(ids)
    return stored


def assert_all_there(server: ServeProcess, stored: dict[str, str]) -> None:
    """Start normally again: every task is back and the file is sound."""
    server.start()
    with server.client() as http:
        tasks = http.get("/tasks/status", params={"limit": 100_000}).json()["tasks"]
    assert set(stored) <= {t["task_id"] for t in tasks}
    assert server.stop() == 0
    with sqlite3.connect(server.home / "tasks.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def failed_start(server: ServeProcess) -> str:
    """The one line the user reads when serve refuses to start."""
    code, _out, err = server.run_to_exit()
    assert code != 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("task-dashboard: "), err[-2000:]
    return last


def test_read_only_data_dir(tmp_path: Path, mounts: list[Path]) -> None:
    server = ServeProcess(tmp_path / "home")
    stored = seed(server)
    mount("--bind", str(server.home), str(server.home))
    mounts.append(server.home)
    mount("-o", "remount,bind,ro", str(server.home))
    line = failed_start(server)
    assert str(server.home) in line
    assert "Read-only file system" in line and "make it writable" in line
    assert "TASK_DASHBOARD_HOME" in line
    # The store on its own says the same about its file.
    with pytest.raises(StoreError, match="writable"):
        Store.open(server.home / "tasks.db")
    subprocess.run(["umount", str(mounts.pop())], check=True)
    assert_all_there(server, stored)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    # Unbuffered: a buffered file keeps what did not fit and fails again when it is closed.
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass
    return filler


@pytest.fixture
def small_disk(tmp_path: Path, mounts: list[Path]) -> Path:
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    mounts.append(disk)
    return disk


def test_disk_full_while_running(tmp_path: Path, small_disk: Path) -> None:
    server = ServeProcess(small_disk / "home", output_dir=tmp_path).start()
    with server.client() as http:
        acked = [http.post("/tasks/add", json={"duration": 600}).json()["task_id"]]
        filler = fill(small_disk)
        refused = 0
        for _ in range(300):  # whatever space is left in SQLite's pages runs out
            answer = http.post("/tasks/add", json={"duration": 600, "name": "x" * 200})
            if answer.status_code == 201:
                acked.append(answer.json()["task_id"])
                continue
            assert answer.status_code == 503, answer.text
            assert "free some disk space" in answer.json()["detail"]
            refused += 1
        assert refused > 0, "the disk never filled up"
        assert http.get("/healthz").status_code == 200
        filler.unlink()
        answer = http.post("/tasks/add", json={"duration": 600})
        assert answer.status_code == 201, "adds work again once there is space"
        acked.append(answer.json()["task_id"])
    assert server.stop() == 0
    assert_all_there(server, dict.fromkeys(acked, ""))


def test_disk_full_at_start(tmp_path: Path, small_disk: Path) -> None:
    server = ServeProcess(small_disk / "home", output_dir=tmp_path)
    stored = seed(server, crash=True)  # recovery will have to write
    filler = fill(small_disk)
    line = failed_start(server)
    assert "disk is full" in line and "free some disk space" in line
    filler.unlink()
    assert_all_there(server, stored)


def hold_lock(db: Path) -> subprocess.Popen[str]:
    """Another process inside BEGIN EXCLUSIVE on the database, until its stdin closes."""
    code = (
        "import sqlite3, sys\n"
        f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.close()
    holder.wait(10)
    holder.stdout.close()


def test_database_locked_by_another_process(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "home")
    stored = seed(server, crash=True)
    holder = hold_lock(server.home / "tasks.db")
    try:
        line = failed_start(server)  # after SQLite's 5 s busy timeout
        assert "database is locked" in line and "close that program" in line
    finally:
        release(holder)
    server.start()
    holder = hold_lock(server.home / "tasks.db")
    try:
        with server.client(timeout=30) as http:
            answer = http.post("/tasks/add", json={"duration": 1})
            assert answer.status_code == 503
            assert "close that program" in answer.json()["detail"]
    finally:
        release(holder)
    with server.client() as http:
        assert http.post("/tasks/add", json={"duration": 1}).status_code == 201
    assert server.stop() == 0
    assert_all_there(server, stored)


@pytest.mark.parametrize("damage", ["garbage", "scribbled pages"])
def test_corrupt_database_is_named_and_left_alone(tmp_path: Path, damage: str) -> None:
    server = ServeProcess(tmp_path / "home")
    seed(server)
    db = server.home / "tasks.db"
    data = bytearray(db.read_bytes())
    if damage == "garbage":
        data = bytearray(b"not a database " * 400)
    else:
        data[200:4000] = os.urandom(3800)
    db.write_bytes(bytes(data))
    line = failed_start(server)
    assert str(db) in line and "move it aside" in line
    assert db.read_bytes() == bytes(data), "the damaged file must be left as it was"


def test_stale_instance_json(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "home")
    seed(server)
    env = server.env
    # A pid that is alive but is not an engine (as after a reboot reused it): this test.
    for pid in (os.getpid(), 2**22 + 12345):
        stale = {
            "url": "http://127.0.0.1:9",
            "port": 9,
            "pid": pid,
            "token_path": str(server.home / "token"),
            "version": "0",
        }
        (server.home / "instance.json").write_text(json.dumps(stale))
        for command in (["info"], ["status"]):
            run = subprocess.run(
                [sys.executable, "-m", "desktop_app", *command],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert run.returncode == 1, run.stdout
            assert "no Task Dashboard is running" in run.stderr
            assert "task-dashboard serve" in run.stderr
    server.start()  # and a new start simply replaces the file
    assert json.loads((server.home / "instance.json").read_text())["pid"] == server.pid
    assert server.stop() == 0
