"""Kinds that users define: found by entry point and by file, validated, live, cancellable."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from desktop_app.server import ServerStartError
from tests.conftest import LiveServer
from tests.waiting import task_in, until
from web.settings import Settings

KINDS_FILE = Path(__file__).parent / "kinds" / "spinning.py"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, kinds_file=KINDS_FILE)


def test_kinds_are_listed_with_their_parameter_schemas(http: httpx.Client) -> None:
    kinds = {k["name"]: k for k in http.get("/kinds").json()}
    assert {"timer", "command", "hash-folder", "spin"} <= set(kinds)
    assert kinds["hash-folder"]["params"]["required"] == ["folder"]
    assert kinds["hash-folder"]["description"].startswith("Hash every file in a folder")
    assert kinds["command"]["requires_token"] is True
    assert kinds["timer"]["resumable"] is True
    assert kinds["spin"]["params"]["properties"]["rounds"]["maximum"] == 10_000_000


def test_entry_point_kind_validates_its_parameters(http: httpx.Client, tmp_path: Path) -> None:
    missing = http.post("/tasks/add", json={"kind": "hash-folder", "folder": str(tmp_path / "x")})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "folder"]
    assert "no such folder" in missing.json()["detail"][0]["msg"]
    wrong = http.post(
        "/tasks/add", json={"kind": "hash-folder", "folder": str(tmp_path), "algorithm": "crc"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "algorithm"]


def test_entry_point_kind_does_real_work(http: httpx.Client, tmp_path: Path) -> None:
    tmp_path /= "files"
    files = {"a.txt": b"alpha\n", "sub/b.bin": bytes(range(256)) * 5000}
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    task = http.post("/tasks/add", json={"kind": "hash-folder", "folder": str(tmp_path)}).json()
    done = task_in(http, task["task_id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert done["params"] == {"folder": str(tmp_path), "algorithm": "sha256", "pattern": "**/*"}
    log = http.get(f"/tasks/{task['task_id']}/logs").json()["text"].splitlines()
    expected = [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items()]
    assert log[:2] == expected
    assert log[2].startswith("# 2 files")


def test_progress_and_logs_reach_a_websocket_client_then_cancel(
    live_server: LiveServer, http: httpx.Client
) -> None:
    with connect(live_server.ws_url, additional_headers=live_server.headers) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        # 10,000 rounds of 10 ms: progress moves a whole percent (what is sent) each second.
        task = http.post("/tasks/add", json={"kind": "spin", "rounds": 10_000}).json()
        ws.send(json.dumps({"type": "follow", "task_id": task["task_id"]}))
        logged, progressed = "", 0.0
        end = time.monotonic() + 60  # generous: a loaded CI machine, three threads, one GIL
        while ("round 3\n" not in logged or progressed == 0) and time.monotonic() < end:
            message = json.loads(ws.recv(timeout=max(0.1, end - time.monotonic())))
            if message["type"] == "log" and message["task_id"] == task["task_id"]:
                logged += message["text"]
            elif message["type"] == "task" and message["task"]["task_id"] == task["task_id"]:
                progressed = message["task"]["progress"]
        assert "round 3\n" in logged and progressed > 0
        assert (
            http.post("/tasks/cancel", json={"task_id": task["task_id"]}).json()["status"]
            == "cancelled"
        )

    def worker_gone() -> bool:
        return not any(t.name == f"kind-{task['task_id']}" for t in threading.enumerate())

    until(worker_gone, what="the kind's worker thread to notice the cancel and end")
    assert http.get(f"/tasks/{task['task_id']}").json()["status"] == "cancelled"


def test_a_busy_sync_kind_does_not_block_the_server(http: httpx.Client) -> None:
    task = http.post("/tasks/add", json={"kind": "spin", "rounds": 100_000}).json()
    task_in(http, task["task_id"], "running")
    # The kind spins in a thread of this very process (LiveServer runs in-process), so the
    # server shares the GIL with it: answers may be slow on a busy machine, but a blocked
    # loop would not answer at all.
    with httpx.Client(base_url=str(http.base_url), headers=http.headers, timeout=20) as quick:
        for _ in range(20):
            assert quick.get("/healthz").status_code == 200
            assert quick.get(f"/tasks/{task['task_id']}").json()["status"] == "running"
    http.post("/tasks/cancel", json={"task_id": task["task_id"]})


def test_a_follow_request_for_an_unknown_task_gets_an_error(live_server: LiveServer) -> None:
    with connect(live_server.ws_url, additional_headers=live_server.headers) as ws:
        ws.recv(timeout=10)
        ws.send(json.dumps({"type": "follow", "task_id": "nope"}))
        assert json.loads(ws.recv(timeout=10)) == {
            "type": "error",
            "detail": "no task with id 'nope'",
        }
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10))["type"] == "error"


def test_a_broken_kinds_file_stops_the_start_with_its_name(
    settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "kinds.py"
    broken.write_text("raise RuntimeError('oops')\n")
    with pytest.raises(ServerStartError, match=f"kinds file {re.escape(str(broken))} failed"):
        LiveServer(replace(settings, kinds_file=broken)).start()
