"""instance.json and the engine lock: written privately, read back, stale when the pid is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from desktop_app import discovery
from desktop_app.discovery import EngineLock, Instance


def instance(pid: int, tmp_path: Path) -> Instance:
    token_path = tmp_path / "token"
    token_path.write_text("secret-token\n")
    return Instance("http://127.0.0.1:4321", 4321, pid, str(token_path), "0.1.0")


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_published_instance_is_private_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    mine = instance(os.getpid(), tmp_path)
    discovery.publish(path, mine)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lock = EngineLock(tmp_path)  # as the running engine holds it
    assert lock.acquire()
    assert discovery.read(path) == mine
    lock.release()
    assert mine.dashboard_url() == "http://127.0.0.1:4321/dashboard?token=secret-token"
    assert list(tmp_path.glob(".*tmp")) == []


def test_a_dead_pid_makes_the_file_stale(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    discovery.publish(path, instance(dead_pid(), tmp_path))
    assert discovery.read(path) is None
    assert discovery.wait_for(path, timeout=0.1) is None


def test_missing_or_garbled_files_are_no_instance(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    assert discovery.read(path) is None
    path.write_text("{not json")
    assert discovery.read(path) is None
    path.write_text('{"url": "http://127.0.0.1:1"}')
    assert discovery.read(path) is None


def test_withdraw_removes_only_our_own_file(tmp_path: Path) -> None:
    path = tmp_path / "instance.json"
    discovery.publish(path, instance(os.getpid(), tmp_path))
    discovery.withdraw(path, pid=os.getpid() + 1)
    assert path.exists()
    discovery.withdraw(path, pid=os.getpid())
    assert not path.exists()


def test_the_engine_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first, second = EngineLock(tmp_path), EngineLock(tmp_path)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()
