"""`TaskDashboard serve`, the frozen binary headless: driven with the README's curl commands
and a WebSocket client, stopped with SIGTERM, started again on the same data dir."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from bench.procs import free_port
from tests.binary.conftest import ROOT
from tests.binary.readme import ReadmeCommands
from tests.waiting import alive, until

pytestmark = [
    pytest.mark.binary,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

README = ReadmeCommands(ROOT / "README.md")
Message = dict[str, Any]


class Served:
    """`TaskDashboard serve --port N` as a subprocess, answering when constructed."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.port = free_port()
        self.log = home.parent / f"serve-{self.port}.log"
        with self.log.open("w") as sink:
            self.proc = subprocess.Popen(
                [binary, "serve", "--port", str(self.port)],
                env={**os.environ, "TASK_DASHBOARD_HOME": str(home)},
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        until(self._healthy, 30, f"a 200 from /healthz\n{self.log}")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False  # not listening yet

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(15)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def serve(binary: Path, home: Path) -> Iterator[Callable[[], Served]]:
    started: list[Served] = []

    def start() -> Served:
        started.append(Served(binary, home))
        return started[-1]

    yield start
    for served in started:
        served.kill()


def next_message(ws: ClientConnection, matches: Callable[[Message], bool], what: str) -> Message:
    deadline = time.monotonic() + 10
    while (left := deadline - time.monotonic()) > 0:
        message = json.loads(ws.recv(timeout=left))
        if matches(message):
            return message
    raise AssertionError(f"no {what} on /ws within 10 s")


def delta(ws: ClientConnection, task_id: str, status: str) -> Message:
    def matches(m: Message) -> bool:
        return m["type"] == "task" and (m["task"]["task_id"], m["task"]["status"]) == (
            task_id,
            status,
        )

    return next_message(ws, matches, f"delta {task_id} {status}")


def test_serve_answers_the_readme_curl_commands_and_pushes_ws_deltas(
    serve: Callable[[], Served], home: Path
) -> None:
    served = serve()
    token = (home / "token").read_text().strip()
    ws_url = f"ws://localhost:{served.port}/ws"
    headers = {"Authorization": f"Bearer {token}"}
    with connect(ws_url, additional_headers=headers, open_timeout=10) as ws:
        snapshot = next_message(ws, lambda m: True, "snapshot")
        assert (snapshot["type"], snapshot["tasks"]) == ("snapshot", [])

        added = README.run(README.command("POST", "/tasks/add"), served.port, home)
        assert added.status == 201, added
        task_id = added.body["task_id"]
        assert (added.body["name"], added.body["status"]) == ("backup", "running")
        delta(ws, task_id, "running")

        listed = README.run(README.command("GET", "/tasks/status"), served.port, home)
        assert listed.status == 200
        assert [t["task_id"] for t in listed.body["tasks"]] == [task_id]
        filtered = "/tasks/status?status=running,queued&limit=20&offset=0"
        running = README.run(README.command("GET", filtered), served.port, home)
        assert running.body["total"] == 1
        one = README.run(README.command("GET", "/tasks/TASK_ID"), served.port, home, task_id)
        assert (one.status, one.body["task_id"]) == (200, task_id)

        cancel = README.command("POST", "/tasks/cancel")
        cancelled = README.run(cancel, served.port, home, task_id)
        assert (cancelled.status, cancelled.body["status"]) == (200, "cancelled")
        delta(ws, task_id, "cancelled")
        assert README.run(cancel, served.port, home, task_id).status == 409

        cleared = README.run(README.command("DELETE", "/tasks/finished"), served.port, home)
        assert cleared.body["task_ids"] == [task_id]
        removed = next_message(ws, lambda m: m["type"] == "removed", "removed")
        assert removed["task_ids"] == [task_id]

    health = README.run(README.command("GET", "/healthz"), served.port, home)
    assert (health.status, health.body["status"]) == (200, "ok")
    assert served.terminate() in (0, -signal.SIGTERM), served.output()


def test_history_survives_sigterm_and_a_restart_of_the_binary(
    binary: Path, serve: Callable[[], Served], home: Path
) -> None:
    first = serve()
    add = README.command("POST", "/tasks/add")
    done_id = README.run(add, first.port, home).body["task_id"]
    README.run(README.command("POST", "/tasks/cancel"), first.port, home, done_id)
    running_id = README.run(add, first.port, home).body["task_id"]

    # serve stops cleanly on SIGTERM (uvicorn re-raising it would give -15: fine too).
    assert first.terminate() in (0, -signal.SIGTERM), first.output()
    assert not (home / "instance.json").exists(), "instance.json left behind"

    second = serve()
    listed = README.run(README.command("GET", "/tasks/status"), second.port, home)
    statuses = {t["task_id"]: t["status"] for t in listed.body["tasks"]}
    assert statuses == {done_id: "cancelled", running_id: "interrupted"}
    # GET /stats counts with numpy (web/tally.py), which the bundle must carry.
    token = (home / "token").read_text().strip()
    request = urllib.request.Request(
        f"http://127.0.0.1:{second.port}/stats?range=day&search=BACK",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        counted = json.load(answer)["statuses"]
    assert (counted["cancelled"], counted["interrupted"], sum(counted.values())) == (1, 1, 2)

    # The binary's own CLI finds this instance, as `task-dashboard` does.
    def cli(*args: str) -> str:
        env = {**os.environ, "TASK_DASHBOARD_HOME": str(home)}
        run = subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, f"{args}: {run.stderr}"
        return run.stdout

    assert json.loads(cli("info", "--json"))["port"] == second.port
    new_id = cli("add", "30", "--name", "from the cli").strip()
    assert cli("cancel", new_id).split() == [new_id, "cancelled"]
    assert f"{done_id}  cancelled" in cli("status")

    # A command task runs in the user's environment, not the bundle's (web/frozen.py).
    env_id = cli("add", "--", "sh", "-c", "env").strip()
    log = cli("logs", env_id, "--follow")  # until the task ends; exit 0: it completed
    assert "PATH=" in log
    assert str(binary.parent) not in log and "_PYI_" not in log, log

    # Cancel ends the command's whole tree through the frozen supervisor (`__supervise__`).
    tree_id = cli("add", "--", "sh", "-c", "sleep 301 & echo pid $!; wait").strip()

    def child_pid() -> int | None:
        found = re.search(r"pid (\d+)", cli("logs", tree_id))
        return int(found[1]) if found else None

    pid = until(child_pid, what="the command to start its child")
    assert alive(pid)
    assert cli("cancel", tree_id).split() == [tree_id, "cancelled"]
    until(lambda: not alive(pid), what="the cancelled command's child to be gone")
    assert second.terminate() in (0, -signal.SIGTERM), second.output()
