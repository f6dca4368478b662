"""Tasks on a real Dask cluster (tests/cluster/conftest.py), driven through the real API of
a real server: progress and logs come back live, cancel ends the remote work, and every
fault (a worker killed, the scheduler killed, the app restarted) ends in a clear state."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from distributed import Client
from websockets.sync.client import ClientConnection, connect

from bench.locked import held_lock
from tests.cluster.conftest import DaskCluster, connected, dask_executor
from tests.conftest import LiveServer, serving
from tests.test_command import TREE, all_gone, log_text, pids_when_ready
from tests.waiting import task_in, until
from web.cluster.executors import cluster_id
from web.settings import Settings


def add(http: httpx.Client, **body: object) -> dict:
    response = http.post("/tasks/add", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def worker_pid(http: httpx.Client, task_id: str) -> int:
    def pid() -> int | None:
        found = re.search(r"running in pid (\d+)", log_text(http, task_id))
        return int(found[1]) if found else None

    return until(pid, 30, "the kind to say where it runs")


class Watch:
    """One task as a WebSocket client sees it: its latest delta and its followed log (with
    what was written before the follow began, read from /logs, as a client would)."""

    def __init__(self, ws: ClientConnection, http: httpx.Client, task_id: str) -> None:
        self.ws, self.http, self.task_id = ws, http, task_id
        self.task: dict = {}
        self.log: str | None = None
        ws.send(json.dumps({"type": "follow", "task_id": task_id}))

    def until(self, done: Callable[[Watch], bool]) -> None:
        end = time.monotonic() + 30
        while not done(self):
            message = json.loads(self.ws.recv(timeout=max(0.1, end - time.monotonic())))
            if message.get("task_id", message.get("task", {}).get("task_id")) != self.task_id:
                continue
            if message["type"] == "log":
                if self.log is None:
                    self.log = self._written_before(message["offset"])
                self.log += message["text"]
            elif message["type"] == "task":
                self.task = message["task"]

    def _written_before(self, offset: int) -> str:
        if offset == 0:
            return ""
        where = {"offset": 0, "limit": offset}
        return self.http.get(f"/tasks/{self.task_id}/logs", params=where).json()["text"]


@pytest.mark.parametrize(
    ("body", "first", "last"),
    [
        (
            {
                "kind": "command",
                "shell": True,
                "command": 'echo "half way 50%"; '
                'while [ ! -e "$GATE" ]; do sleep 0.02; done; echo through the gate',
            },
            "half way 50%\n",
            "through the gate\n",
        ),
        ({"kind": "gated"}, "running in pid ", "through the gate\n"),
    ],
    ids=["command", "user-kind"],
)
def test_progress_and_logs_reach_a_websocket_client_live(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path, body: dict, first: str, last: str
) -> None:
    connected(live_server)
    gate = tmp_path / "go"
    body = {**body, "env": {"GATE": str(gate)}} if body["kind"] == "command" else {
        **body, "gate": str(gate)
    }  # fmt: skip
    with connect(live_server.ws_url, additional_headers=live_server.headers) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        task = add(http, **body)
        assert task["executor"] == "dask"
        watch = Watch(ws, http, task["task_id"])
        watch.until(lambda w: first in (w.log or "") and w.task.get("progress") == 0.5)
        watch.until(lambda w: bool(w.task["worker"]))
        assert watch.task["status"] == "running"
        assert watch.task["worker"].startswith("tcp://127.0.0.1:")
        gate.touch()
        watch.until(lambda w: w.task["status"] != "running")
    assert watch.task["status"] == "completed", watch.task["error"]
    assert watch.task["progress"] == 1.0
    assert watch.log is not None and watch.log.endswith(last)  # whole before the end was told
    assert log_text(http, task["task_id"]) == watch.log


def test_a_user_kind_is_shipped_to_a_worker(
    live_server: LiveServer, http: httpx.Client, cluster: DaskCluster, tmp_path: Path
) -> None:
    connected(live_server)
    gate = tmp_path / "go"
    task = add(http, kind="gated", gate=str(gate))
    pid = worker_pid(http, task["task_id"])
    assert pid != os.getpid()
    cluster.worker_with_pid(pid)  # one of the worker processes, not the app
    assert task_in(http, task["task_id"], "running")["worker"]
    gate.touch()
    done = task_in(http, task["task_id"], "completed", deadline=30)
    assert log_text(http, task["task_id"]).endswith("through the gate\n")
    assert done["progress"] == 1.0


def test_cancel_ends_the_remote_process_tree_before_it_answers(
    live_server: LiveServer, http: httpx.Client
) -> None:
    connected(live_server)
    task = add(http, kind="command", command=TREE, shell=True)
    pids = pids_when_ready(http, task["task_id"])
    cancelled = http.post("/tasks/cancel", json={"task_id": task["task_id"]}, timeout=30).json()
    assert (cancelled["status"], cancelled["error"]) == ("cancelled", None)
    assert all_gone(pids), "the worker confirmed the stop: its processes are gone"


def test_a_sync_kind_sees_its_cancel_flag_on_the_worker(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    connected(live_server)
    task = add(http, kind="gated", gate=str(tmp_path / "never"))
    worker_pid(http, task["task_id"])
    cancelled = http.post("/tasks/cancel", json={"task_id": task["task_id"]}, timeout=30).json()
    assert (cancelled["status"], cancelled["error"]) == ("cancelled", None)


def test_a_worker_killed_mid_task_fails_it_as_worker_lost(
    live_server: LiveServer, http: httpx.Client, cluster: DaskCluster, tmp_path: Path
) -> None:
    connected(live_server)
    task = add(http, kind="gated", gate=str(tmp_path / "never"))
    cluster.worker_with_pid(worker_pid(http, task["task_id"])).send_signal(signal.SIGKILL)
    failed = task_in(http, task["task_id"], "failed", deadline=30)
    assert failed["error"].startswith("worker lost:")
    assert "allowed-failures" in failed["error"]


def test_the_scheduler_killed_interrupts_its_tasks_and_the_app_goes_on(
    live_server: LiveServer, http: httpx.Client, cluster: DaskCluster, tmp_path: Path
) -> None:
    connected(live_server)
    task = add(http, kind="gated", gate=str(tmp_path / "never"))
    worker_pid(http, task["task_id"])
    port = int(cluster.address.rsplit(":", 1)[1])
    cluster.kill_scheduler()
    interrupted = task_in(http, task["task_id"], "interrupted", deadline=30)
    assert "lost the connection to the Dask scheduler" in interrupted["error"]
    dask = until(
        lambda: None if (now := dask_executor(http))["connected"] else now,
        30,
        "the executor to say it is disconnected",
    )
    assert dask["error"]
    # Local tasks go on, and adds to the absent cluster fail at once with the reason.
    local = add(http, kind="timer", duration=0.05, executor="local")
    assert task_in(http, local["task_id"], "completed")["executor"] == "local"
    orphan = add(http, kind="timer", duration=0.05)
    failed = task_in(http, orphan["task_id"], "failed")
    assert "could not reach the Dask scheduler" in failed["error"]
    # The scheduler comes back on its address: the app reconnects by itself.
    cluster.start_scheduler(port)
    until(lambda: dask_executor(http)["connected"], 30, "the app to reconnect")


def test_a_restarted_app_reattaches_to_tasks_still_running(
    live_server: LiveServer, cluster: DaskCluster, tmp_path: Path
) -> None:
    connected(live_server)
    gates = [tmp_path / "first", tmp_path / "second"]
    with live_server.client() as http:
        tasks = [add(http, kind="gated", gate=str(gate)) for gate in gates]
        for task in tasks:
            worker_pid(http, task["task_id"])
        workers = [task_in(http, t["task_id"], "running")["worker"] for t in tasks]
    live_server.stop()
    gates[0].touch()  # this one ends while the app is away
    live_server.start()
    with live_server.client() as http:
        first = task_in(http, tasks[0]["task_id"], "completed", deadline=30)
        assert first["worker"] == workers[0]
        assert task_in(http, tasks[1]["task_id"], "running")["worker"] == workers[1]
        gates[1].touch()
        task_in(http, tasks[1]["task_id"], "completed", deadline=30)


@pytest.mark.parametrize("allowed_failures", [1])
def test_dask_runs_it_again_when_its_worker_dies_as_allowed(
    live_server: LiveServer, http: httpx.Client, cluster: DaskCluster, tmp_path: Path
) -> None:
    connected(live_server)
    gate = tmp_path / "go"
    task = add(http, kind="gated", gate=str(gate))
    first = worker_pid(http, task["task_id"])
    was = task_in(http, task["task_id"], "running")["worker"]
    cluster.worker_with_pid(first).send_signal(signal.SIGKILL)

    def moved() -> dict | None:
        now = http.get(f"/tasks/{task['task_id']}").json()
        return now if now["worker"] not in (None, was) else None

    assert until(moved, 30, "the task to run on the other worker")["status"] == "running"
    log = until(lambda: "Dask runs the task again" in log_text(http, task["task_id"]), 30)
    assert log
    gate.touch()
    assert task_in(http, task["task_id"], "completed", deadline=30)["error"] is None


def test_pause_waits_for_the_worker_and_resume_runs_it_again(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    connected(live_server)
    gate = tmp_path / "go"
    task = add(http, kind="gated", gate=str(gate))
    worker_pid(http, task["task_id"])
    paused = http.post(f"/tasks/{task['task_id']}/pause", timeout=30).json()
    assert (paused["status"], paused["progress"]) == ("paused", 0.5)
    http.post(f"/tasks/{task['task_id']}/resume").raise_for_status()
    until(lambda: log_text(http, task["task_id"]).count("running in pid") == 2, 30, "a rerun")
    gate.touch()
    task_in(http, task["task_id"], "completed", deadline=30)


def busy_cluster(http: httpx.Client, gate: Path) -> list[dict]:
    """Every worker thread (2 workers of 2) taken by a task that waits for `gate`."""
    busy = [add(http, kind="gated", gate=str(gate)) for _ in range(4)]
    for task in busy:
        worker_pid(http, task["task_id"])
    return busy


def test_a_task_cancelled_before_a_worker_took_it_never_starts(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    connected(live_server)
    gate, never = tmp_path / "go", tmp_path / "never"
    busy = busy_cluster(http, gate)
    waiting = add(http, kind="gated", gate=str(never))
    assert task_in(http, waiting["task_id"], "running")["worker"] is None
    cancelled = http.post("/tasks/cancel", json={"task_id": waiting["task_id"]}, timeout=30)
    assert (cancelled.json()["status"], cancelled.json()["error"]) == ("cancelled", None)
    gate.touch()
    for task in busy:
        task_in(http, task["task_id"], "completed", deadline=30)
    # The threads are free: a task added now runs; the cancelled one had its turn before.
    task_in(http, add(http, kind="gated", gate=str(gate))["task_id"], "completed", deadline=30)
    assert not Path(f"{never}.ran").exists()


def test_paused_before_a_worker_took_it_then_resumed_it_runs(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    connected(live_server)
    gate = tmp_path / "go"
    busy = busy_cluster(http, gate)
    waiting = add(http, kind="gated", gate=str(gate))
    assert task_in(http, waiting["task_id"], "running")["worker"] is None
    paused = http.post(f"/tasks/{waiting['task_id']}/pause", timeout=30).json()
    assert paused["status"] == "paused"
    http.post(f"/tasks/{waiting['task_id']}/resume").raise_for_status()
    gate.touch()
    for task in [*busy, waiting]:
        task_in(http, task["task_id"], "completed", deadline=30)


def test_a_folder_is_checked_on_the_worker_that_runs_it(http: httpx.Client) -> None:
    task = add(http, kind="command", command=["pwd"], cwd="/no/such/folder/anywhere")
    failed = task_in(http, task["task_id"], "failed", deadline=30)
    assert "no such folder: /no/such/folder/anywhere" in failed["error"]


def test_the_queue_rules_hold_across_executors(
    live_server: LiveServer, http: httpx.Client, tmp_path: Path
) -> None:
    connected(live_server)
    http.put("/settings", json={"max_concurrent": 1}).raise_for_status()
    gate = tmp_path / "go"
    remote = add(http, kind="gated", gate=str(gate))
    local = add(http, kind="timer", duration=0.01, executor="local", priority=5)
    after = add(http, kind="command", command=["true"], after=[local["task_id"]])
    worker_pid(http, remote["task_id"])
    assert http.get(f"/tasks/{local['task_id']}").json()["status"] == "queued"  # one slot
    gate.touch()
    task_in(http, remote["task_id"], "completed", deadline=30)
    done = task_in(http, local["task_id"], "completed")
    ran = task_in(http, after["task_id"], "completed", deadline=30)
    assert ran["executor"] == "dask" and ran["started_at"] >= done["finished_at"]


def test_a_chatty_command_s_log_comes_back_whole(http: httpx.Client) -> None:
    script = "for i in $(seq 1 20000); do echo line $i of some output; done"
    task = add(http, kind="command", command=script, shell=True)
    task_in(http, task["task_id"], "completed", deadline=60)
    lines = log_text(http, task["task_id"]).splitlines()
    assert lines == [f"line {i} of some output" for i in range(1, 20001)]


def test_a_waiting_task_fails_clearly_once_its_cluster_is_unset(
    live_server: LiveServer, http: httpx.Client
) -> None:
    connected(live_server)
    later = add(http, kind="timer", duration=0.01, delay=1.0)
    http.put("/settings", json={"scheduler": None, "executor": "local"}).raise_for_status()
    assert [e["name"] for e in http.get("/executors").json()] == ["local"]
    failed = task_in(http, later["task_id"], "failed")
    assert "the dask executor it was added for is gone" in failed["error"]


def test_the_app_stops_cleanly_while_its_scheduler_is_gone(
    live_server: LiveServer, http: httpx.Client, cluster: DaskCluster
) -> None:
    connected(live_server)
    cluster.kill_scheduler()
    until(lambda: not dask_executor(http)["connected"], 30, "the executor to see the loss")
    live_server.stop()  # fails unless the server thread ends (within 15 s)


def test_a_cancel_the_database_refused_is_recorded_once_it_can_be(
    settings: Settings, cluster: DaskCluster, tmp_path: Path
) -> None:
    """The worker stopped the work, then the cancel could not be stored (another process
    locks the file): the task must not stay `running` with nothing behind it."""
    with serving(replace(settings, db_busy_timeout=0.5)) as server, server.client() as http:
        connected(server)
        task = add(http, kind="gated", gate=str(tmp_path / "never"))
        worker_pid(http, task["task_id"])
        with held_lock(settings.db_path):
            refused = http.post("/tasks/cancel", json={"task_id": task["task_id"]}, timeout=30)
            assert refused.status_code == 503 and "locked" in refused.json()["detail"]
        assert task_in(http, task["task_id"], "cancelled")["error"] is None


def test_a_stop_the_worker_never_confirms_ends_the_task_with_the_reason(
    settings: Settings, cluster: DaskCluster, tmp_path: Path
) -> None:
    with serving(replace(settings, cluster_stop_timeout=1.0)) as server, server.client() as http:
        connected(server)
        task = add(http, kind="gated", gate=str(tmp_path / "never"), stubborn=True)
        worker_pid(http, task["task_id"])
        cancelled = http.post("/tasks/cancel", json={"task_id": task["task_id"]}, timeout=30)
        assert cancelled.json()["status"] == "cancelled"
        assert "did not confirm the stop within 1 s" in cancelled.json()["error"]
        with Client(cluster.address, timeout=10) as client:
            until(lambda: not client.list_datasets(), 30, "the scheduler to drop the task")


def test_what_an_earlier_run_of_the_app_left_on_the_cluster_is_swept(
    settings: Settings, cluster: DaskCluster
) -> None:
    ours = f"task-dashboard-{cluster_id(str(settings.db_path.resolve()))}-gone-0123abcd"
    theirs = "someone-elses-dataset"
    with Client(cluster.address, timeout=10) as client:
        client.publish_dataset(client.scatter(1), name=ours)
        client.publish_dataset(client.scatter(2), name=theirs)
        with serving(settings) as server:
            connected(server)
            until(lambda: client.list_datasets() == (theirs,), 30, "our leftover to go")
