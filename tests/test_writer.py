"""The database's writer in its own process (web/writer.py, web/committer.py): real
processes, real files, real signals to the processes started here, by pid."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.reliability.serving import ServeProcess
from tests.waiting import until
from web import writer as writer_module
from web.committer import Refused
from web.store import StoreError
from web.tasks.model import Task, TaskStatus
from web.writer import Writer

pytestmark = pytest.mark.anyio


def task(task_id: str) -> Task:
    return Task(
        task_id=task_id, name="n", kind="timer", duration=3.0, status=TaskStatus.QUEUED,
        created_at=1.0,
    )  # fmt: skip


def insert(writer: Writer, seq: int, task_id: str, lineage: int = 0) -> asyncio.Future[None]:
    """Hand over one insert; the future says how it settled."""
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(error: BaseException | None) -> None:
        if error is None:
            settled.set_result(None)
        else:
            settled.set_exception(error)

    writer.write([("insert", [(seq, task(task_id), None)])], settle, lineage)
    return settled


def stored_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        ids = [row[0] for row in conn.execute("SELECT task_id FROM tasks ORDER BY seq")]
    conn.close()
    return ids


async def stopped_with_a_write(writer: Writer) -> tuple[int, asyncio.Future[None]]:
    """ "kept" committed, then the writer's process stopped and "lost" handed to it (it
    cannot answer now): its pid, and how "lost" settles."""
    await insert(writer, 1, "kept")
    pid = writer.pid
    assert pid is not None
    stop(pid)
    return pid, insert(writer, 2, "lost")


def stop(pid: int) -> None:
    """SIGSTOP `pid` and wait until all of it is stopped (kill() returns before that)."""
    os.kill(pid, signal.SIGSTOP)
    until(lambda: _state(pid) == "T", 10, f"process {pid} to stop")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # ours, so a zombie until reaped: /proc says whether it still runs
        return _state(pid) == "Z"
    except FileNotFoundError:
        return True


async def test_writes_are_committed_by_a_process_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "tasks.db"
    writer = await Writer.open(db, busy_timeout=5.0)
    try:
        assert writer.pid is not None and writer.pid != os.getpid()
        await asyncio.gather(insert(writer, 1, "a"), insert(writer, 2, "b"))
        assert stored_ids(db) == ["a", "b"]  # committed before they settled
        assert await writer.call("load_settings") == {}
    finally:
        await writer.close()
    assert writer.pid is None


async def test_a_killed_writer_fails_what_it_had_not_answered_and_the_next_write_starts_another(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tasks.db"
    writer = await Writer.open(db, busy_timeout=5.0)
    try:
        first, lost = await stopped_with_a_write(writer)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(StoreError, match="its writer stopped before it committed this"):
            await lost
        await insert(writer, 3, "after", lineage=1)  # a new process took over
        assert writer.pid not in (None, first)
        assert stored_ids(db) == ["kept", "after"]
    finally:
        await writer.close()


# A committer that commits, then dies before it can answer, when it inserts a task whose
# id starts with "die" (as if killed between the two).
DIES_AFTER_COMMIT = """
import os, signal, sys
from web import committer
from web.store import Store

write = Store.write

def write_then_die(self, ops, mark=None):
    write(self, ops, mark)
    inserted = [row[1].task_id for kind, rows in ops if kind == "insert" for row in rows]
    if any(task_id.startswith("die") for task_id in inserted):
        os.kill(os.getpid(), signal.SIGKILL)

Store.write = write_then_die
sys.exit(committer.main(sys.argv[1:]))
"""


async def test_a_writer_that_dies_between_a_commit_and_its_answer_is_not_taken_at_its_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write was committed: it must settle as committed (a 503 would have the user
    add it again, and it would come back at the next start), and what was handed over
    after it and never committed must fail."""
    monkeypatch.setattr(
        writer_module,
        "_command",
        lambda *args: [sys.executable, "-c", DIES_AFTER_COMMIT, *map(str, args)],
    )
    db = tmp_path / "tasks.db"
    writer = await Writer.open(db, busy_timeout=5.0)
    try:
        await insert(writer, 1, "before")
        first = writer.pid
        committed = insert(writer, 2, "die-1")
        await committed  # not a StoreError
        assert writer.pid not in (None, first)  # a new process told it
        await insert(writer, 3, "after")
        assert stored_ids(db) == ["before", "die-1", "after"]
    finally:
        await writer.close()


async def test_a_database_that_cannot_be_opened_fails_the_open(tmp_path: Path) -> None:
    (tmp_path / "tasks.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a Task Dashboard database"):
        await Writer.open(tmp_path / "tasks.db", busy_timeout=5.0)


def writer_of(server_pid: int) -> int:
    """The committer process a `serve` process started."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[1]) == server_pid and b"web.committer" in command:
                return int(entry.name)
    raise AssertionError(f"serve (pid {server_pid}) has no writer process")


def test_the_writer_outlives_a_killed_app_only_to_commit_what_it_was_given(
    tmp_path: Path,
) -> None:
    """SIGKILL of the app: its writer reads the end of its input, commits what it has,
    and exits; nothing is left running."""
    server = ServeProcess(tmp_path / "home")
    server.start()
    try:
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=10) as http:
            added = http.post("/tasks/add", json={"duration": 3600, "name": "kept"}).json()
        assert server.proc is not None
        child = writer_of(server.proc.pid)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
        until(lambda: gone(child), 10, "the writer to exit after the app was killed")
        assert added["task_id"] in stored_ids(server.home / "tasks.db")
    finally:
        server.stop()


def test_the_committer_ignores_ctrl_c_and_stops_at_the_end_of_its_input(tmp_path: Path) -> None:
    """A Ctrl-C in a terminal reaches the writer too: the app's shutdown, not the signal,
    ends it (after the last write the app hands over)."""
    db = tmp_path / "tasks.db"
    with subprocess.Popen(
        [sys.executable, "-m", "web.committer", str(db), "5", "by-hand"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        header = proc.stdout.read(4)  # ("opened", None): the handlers are in place
        proc.stdout.read(int.from_bytes(header, "big"))
        proc.send_signal(signal.SIGINT)
        proc.stdin.close()
        assert proc.wait(10) == 0


class TwoPartError(Exception):
    """Pickles, but cannot be unpickled (its __init__ wants two arguments)."""

    def __init__(self, what: str, count: int) -> None:
        super().__init__(f"{what} x{count}")


async def test_an_error_or_answer_that_cannot_cross_still_settles(tmp_path: Path) -> None:
    writer = await Writer.open(tmp_path / "tasks.db", busy_timeout=5.0, in_thread=True)
    try:
        assert writer.store is not None

        def broken(ops: object, mark: object = None) -> None:
            raise TwoPartError("disk", 3)

        write = writer.store.write
        writer.store.write = broken  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="TwoPartError: disk x3"):
            await asyncio.wait_for(insert(writer, 1, "a"), 10)  # not: waits for ever
        writer.store.write = write  # type: ignore[method-assign]
        writer.store.load_settings = lambda: {"lock": threading.Lock()}  # type: ignore[method-assign]
        with pytest.raises(TypeError, match="pickle"):
            await asyncio.wait_for(writer.call("load_settings"), 10)
        await insert(writer, 2, "b", lineage=1)  # the writer goes on
        assert stored_ids(tmp_path / "tasks.db") == ["b"]
    finally:
        await writer.close()
    with pytest.raises(StoreError, match="stopping"):
        await insert(writer, 3, "c", lineage=1)  # after close: refused, not lost in a queue


def test_the_writer_starts_when_the_app_has_no_stderr(tmp_path: Path) -> None:
    """A windowed build has no stderr; the writer's process must start all the same."""
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from web.writer import Writer\n"
        "async def main():\n"
        "    writer = await Writer.open(Path(sys.argv[1]), 5.0)\n"
        "    await writer.close()\n"
        "asyncio.run(main())\n"
        "open(sys.argv[2], 'w').write('ok')\n"
    )
    done = tmp_path / "done"
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "tasks.db"), str(done)],
        stderr=subprocess.DEVNULL,
        pass_fds=(),
        timeout=30,
        check=True,
        preexec_fn=lambda: os.close(2),
    )
    assert done.read_text() == "ok"


async def until_true(probe: Callable[[], object], what: str) -> None:
    """Poll `probe` on the loop until it is true (the writer works on the loop meanwhile),
    for at most 10 s."""
    deadline = asyncio.get_running_loop().time() + 10
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # a poll interval: the loop runs the writer meanwhile


def lock_held(db: Path) -> sqlite3.Connection:
    """Another connection inside BEGIN EXCLUSIVE: a new writer cannot open until it ends."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


async def test_what_waits_for_a_new_writer_is_not_written_on_top_of_a_lost_write(
    tmp_path: Path,
) -> None:
    """A write the dead writer never committed fails; what the app decided meanwhile was
    decided on top of it, so it is refused unwritten, never committed by the next one."""
    db = tmp_path / "tasks.db"
    writer = await Writer.open(db, busy_timeout=5.0)
    try:
        first, lost = await stopped_with_a_write(writer)
        lock = lock_held(db)  # the next writer waits to open
        os.kill(first, signal.SIGKILL)
        await until_true(lambda: writer.pid not in (None, first), "a new writer to start")
        after = insert(writer, 3, "after")  # decided before the app hears of the loss
        lock.close()
        with pytest.raises(StoreError, match="before it committed this"):
            await lost
        with pytest.raises(Refused):
            await after
        await insert(writer, 4, "later", lineage=1)
        assert stored_ids(db) == ["kept", "later"]
    finally:
        await writer.close()


async def test_a_new_writer_that_cannot_open_at_once_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer died right after committing, and the next one fails before it opens:
    another is started, and the write is still told as committed (not a 503 for a change
    that is in the file)."""
    flag = tmp_path / "next-start-fails"
    fails_once = f"import os, sys\nif os.path.exists({str(flag)!r}):\n"
    fails_once += f"    os.remove({str(flag)!r})\n    sys.exit(3)\n"
    monkeypatch.setattr(
        writer_module,
        "_command",
        lambda *args: [sys.executable, "-c", fails_once + DIES_AFTER_COMMIT, *map(str, args)],
    )
    db = tmp_path / "tasks.db"
    writer = await Writer.open(db, busy_timeout=5.0)
    try:
        await insert(writer, 1, "before")
        flag.touch()  # the next start fails
        await insert(writer, 2, "die-1")  # committed, then the process died, and so did the next
        assert not flag.exists()
        await insert(writer, 3, "after")
        assert stored_ids(db) == ["before", "die-1", "after"]
    finally:
        await writer.close()
