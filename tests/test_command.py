"""Command tasks: real subprocesses under a real server, checked in the process table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import TOKEN, LiveServer
from tests.waiting import alive, task_in, until
from web.settings import Settings

# A process tree: the shell, a child, a subshell and its own child (a grandchild).
TREE = (
    "echo pid $$; sleep 301 & echo pid $!; "
    "(sleep 302 & echo pid $!; wait) & echo pid $!; echo ready; wait"
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, kill_grace=1.0, task_log_max_bytes=8192)


def add(http: httpx.Client, **body: object) -> dict:
    response = http.post("/tasks/add", json={"kind": "command", **body})
    assert response.status_code == 201, response.text
    return response.json()


def log_text(http: httpx.Client, task_id: str) -> str:
    return http.get(f"/tasks/{task_id}/logs", params={"limit": 1024 * 1024}).json()["text"]


def log_once_ready(http: httpx.Client, task_id: str) -> str:
    def check() -> str | None:
        text = log_text(http, task_id)
        return text if "ready" in text else None

    return until(check, what="the command to say it is ready")


def pids_when_ready(http: httpx.Client, task_id: str) -> list[int]:
    """The four pids TREE prints (the subshell prints its child's pid when it gets to it)."""

    def four_pids() -> list[int] | None:
        pids = [int(p) for p in re.findall(r"pid (\d+)", log_text(http, task_id))]
        return pids if len(pids) == 4 else None

    pids = until(four_pids, what="the process tree to start")
    assert all(alive(p) for p in pids)
    return pids


def all_gone(pids: list[int]) -> bool:
    return not any(alive(p) for p in pids)


def test_success_captures_output(http: httpx.Client) -> None:
    task = add(http, command=[sys.executable, "-c", "print('hello'); print('world')"])
    assert task["kind"] == "command" and task["duration"] is None
    done = task_in(http, task["task_id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert done["progress"] == 1
    assert log_text(http, task["task_id"]) == "hello\nworld\n"


def test_non_zero_exit_fails_with_code_and_last_lines(http: httpx.Client) -> None:
    script = "import sys\nfor i in range(9): print('line', i)\nsys.exit(3)"
    task = add(http, command=[sys.executable, "-c", script])
    failed = task_in(http, task["task_id"], "failed", "completed")
    assert failed["status"] == "failed"
    assert failed["error"].startswith("exit code 3: line 4\n")
    assert failed["error"].endswith("line 8")


def test_stderr_env_and_cwd(http: httpx.Client, tmp_path: Path) -> None:
    script = "import os, sys; print(os.getcwd()); print(os.environ['GREETING'], file=sys.stderr)"
    task = add(
        http, command=[sys.executable, "-c", script], cwd=str(tmp_path), env={"GREETING": "hi"}
    )
    task_in(http, task["task_id"], "completed")
    assert log_text(http, task["task_id"]) == f"{tmp_path}\nhi\n"


def test_shell_only_when_asked(http: httpx.Client) -> None:
    task = add(http, command="echo one && echo two", shell=True)
    task_in(http, task["task_id"], "completed")
    assert log_text(http, task["task_id"]) == "one\ntwo\n"
    refused = http.post("/tasks/add", json={"kind": "command", "command": "echo one && echo two"})
    assert refused.status_code == 422
    assert "shell" in refused.text


def test_missing_program_fails_clearly(http: httpx.Client) -> None:
    task = add(http, command=["no-such-program-xyz"])
    failed = task_in(http, task["task_id"], "failed")
    assert "exit code 127" in failed["error"]
    assert "cannot start" in failed["error"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "command", "Field required"),
        ({"command": []}, "command", "must name a program"),
        ({"command": ["ls"], "cwd": "/no/such/folder"}, "cwd", "no such folder"),
        ({"command": ["ls"], "timeout": -1}, "timeout", "greater than 0"),
        ({"command": ["ls"], "progress_pattern": "("}, "progress_pattern", "regular expression"),
        ({"command": ["ls"], "progress_pattern": "\\d+%"}, "progress_pattern", "group"),
        ({"command": ["ls"], "duration": 5}, "duration", "Extra inputs"),
    ],
)
def test_bad_parameters_are_422(http: httpx.Client, body: dict, field: str, message: str) -> None:
    response = http.post("/tasks/add", json={"kind": "command", **body})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][:2] == ["body", field] and message in e["msg"] for e in errors), errors


def test_timeout_fails_and_ends_the_process_tree(http: httpx.Client) -> None:
    task = add(http, command=TREE, shell=True, timeout=3)
    pids = pids_when_ready(http, task["task_id"])
    failed = task_in(http, task["task_id"], "failed")
    assert failed["error"] == "timed out after 3 s"
    until(lambda: all_gone(pids), what="the process tree to be gone")


def test_cancel_ends_children_and_grandchildren(http: httpx.Client) -> None:
    task = add(http, command=TREE, shell=True)
    pids = pids_when_ready(http, task["task_id"])
    cancelled = http.post("/tasks/cancel", json={"task_id": task["task_id"]}).json()
    assert cancelled["status"] == "cancelled"
    until(lambda: all_gone(pids), what="the process tree to be gone")


def test_stubborn_process_is_killed_after_the_grace(http: httpx.Client) -> None:
    stubborn = "trap '' TERM; echo pid $$; echo pid 0; echo pid 0; echo pid 0; echo ready; " + (
        "while :; do sleep 0.1; done"
    )
    task = add(http, command=stubborn, shell=True)
    text = log_once_ready(http, task["task_id"])
    pid = int(re.findall(r"pid (\d+)", text)[0])
    http.post("/tasks/cancel", json={"task_id": task["task_id"]})
    until(lambda: not alive(pid), what="SIGKILL after the grace period")


def test_background_leftovers_end_with_the_command(http: httpx.Client) -> None:
    task = add(http, command="sleep 303 & echo pid $!; echo done", shell=True)
    task_in(http, task["task_id"], "completed")
    pid = int(re.findall(r"pid (\d+)", log_text(http, task["task_id"]))[0])
    until(lambda: not alive(pid), what="the background process to be ended")


def test_shutdown_ends_running_commands(live_server: LiveServer, http: httpx.Client) -> None:
    task = add(http, command=TREE, shell=True)
    pids = pids_when_ready(http, task["task_id"])
    live_server.stop()
    assert all_gone(pids), "stop() returned while the task's processes were still running"
    live_server.start()
    with live_server.client() as again:
        assert again.get(f"/tasks/{task['task_id']}").json()["status"] == "interrupted"


def test_progress_from_percentages(http: httpx.Client) -> None:
    script = "import sys\nprint('epoch 1: 37.5% done', flush=True)\nimport time; time.sleep(120)"
    task = add(http, command=[sys.executable, "-c", script])
    until(lambda: http.get(f"/tasks/{task['task_id']}").json()["progress"] == 0.375)
    http.post("/tasks/cancel", json={"task_id": task["task_id"]})


def test_custom_progress_pattern(http: httpx.Client) -> None:
    script = "print('step 3 of 4 (75 pct)', flush=True)\nimport time; time.sleep(120)"
    task = add(http, command=[sys.executable, "-c", script], progress_pattern=r"\((\d+) pct\)")
    until(lambda: http.get(f"/tasks/{task['task_id']}").json()["progress"] == 0.75)
    http.post("/tasks/cancel", json={"task_id": task["task_id"]})


def test_log_cap_drops_the_oldest_lines_with_a_marker(http: httpx.Client) -> None:
    script = "for i in range(3000): print(f'line {i:05d}')"
    task = add(http, command=[sys.executable, "-c", script])
    task_in(http, task["task_id"], "completed")
    chunk = http.get(f"/tasks/{task['task_id']}/logs").json()
    assert chunk["dropped"] > 0
    assert chunk["text"].startswith(f"[task-dashboard: {chunk['dropped']} earlier bytes dropped]")
    assert chunk["text"].endswith("line 02999\n")
    assert len(chunk["text"]) < 8192 + 100
    assert chunk["complete"]
    assert chunk["next_offset"] == 3000 * len("line 00000\n")


def test_incremental_reads_never_repeat_or_skip(http: httpx.Client) -> None:
    script = "for i in range(500): print(f'line {i:03d}')"
    task = add(http, command=[sys.executable, "-c", script])
    task_in(http, task["task_id"], "completed")
    offset, pieces = 0, []
    while True:
        chunk = http.get(
            f"/tasks/{task['task_id']}/logs", params={"offset": offset, "limit": 1000}
        ).json()
        pieces.append(chunk["text"])
        offset = chunk["next_offset"]
        if chunk["complete"]:
            break
    assert "".join(pieces) == "".join(f"line {i:03d}\n" for i in range(500))


def test_log_of_unknown_task_is_404(http: httpx.Client) -> None:
    assert http.get("/tasks/nope/logs").status_code == 404


def test_refused_without_a_token(settings: Settings) -> None:
    live_server = LiveServer(replace(settings, auth=False)).start()
    try:
        with httpx.Client(base_url=live_server.url) as http:
            response = http.post("/tasks/add", json={"kind": "command", "command": ["ls"]})
            assert response.status_code == 403
            assert "--no-auth" in response.json()["detail"]
            assert http.get("/tasks/status").json()["total"] == 0
            assert http.post("/tasks/add", json={"duration": 1}).status_code == 201
    finally:
        live_server.stop()


def test_app_crash_leaves_no_process_and_restart_says_interrupted(tmp_path: Path) -> None:
    """SIGKILL the whole app while a command runs: nothing it started survives."""
    home = tmp_path / "home"
    env = {**os.environ, "TASK_DASHBOARD_HOME": str(home)}
    with subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as app:
        try:
            assert app.stdout is not None
            line = until(lambda: re.search(r"http://127\.0\.0\.1:\d+", app.stdout.readline()))
            token = (home / "token").read_text().strip()
            auth = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=line[0], headers=auth) as http:
                task = add(http, command=TREE, shell=True)
                pids = pids_when_ready(http, task["task_id"])
        finally:
            app.send_signal(signal.SIGKILL)
            app.wait(10)
    until(lambda: all_gone(pids), what="the orphaned process tree to be gone")
    settings = Settings(data_dir=home, log_dir=tmp_path / "logs", token=TOKEN)
    live_server = LiveServer(settings).start()
    try:
        with live_server.client() as http:
            assert http.get(f"/tasks/{task['task_id']}").json()["status"] == "interrupted"
    finally:
        live_server.stop()


@pytest.mark.parametrize("how", ["stop", "close"])
def test_supervisor_ends_the_tree_when_told_or_when_its_lifeline_closes(how: str) -> None:
    """Without PR_SET_PDEATHSIG (macOS) or signals (Windows), the end of the supervisor's
    stdin is how it learns that the app died; a line on it is how the app asks it to stop."""
    with subprocess.Popen(
        [sys.executable, "-m", "web.tasks.supervisor", "1", "--shell", TREE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as supervisor:
        assert supervisor.stdin is not None and supervisor.stdout is not None
        pids: list[int] = []
        while len(pids) < 4:  # TREE prints its four pids at once
            line = supervisor.stdout.readline()
            assert line, "the supervisor ended before the command printed its pids"
            if line.startswith("pid "):
                pids.append(int(line.split()[1]))
        assert all(alive(p) for p in pids)
        if how == "stop":
            supervisor.stdin.write("stop\n")
            supervisor.stdin.flush()
        else:
            supervisor.stdin.close()
        assert supervisor.wait(10) == 128 + signal.SIGTERM
    until(lambda: all_gone(pids), what="the process tree to be gone")


def test_shell_mismatch_names_the_command_field(http: httpx.Client) -> None:
    for body in ({"command": "ls -l"}, {"command": ["ls"], "shell": True}):
        response = http.post("/tasks/add", json={"kind": "command", **body})
        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "command"]
        assert error["msg"].startswith('give "command" as a list')


def test_retry_cannot_run_a_program_without_a_token(settings: Settings) -> None:
    """A command added while the token was on is not re-run after a --no-auth restart."""
    server = LiveServer(settings).start()
    try:
        with server.client() as http:
            task = add(http, command=[sys.executable, "-c", "pass"])
            task_in(http, task["task_id"], "completed")
    finally:
        server.stop()
    server = LiveServer(replace(settings, auth=False)).start()
    try:
        with httpx.Client(base_url=server.url) as http:
            response = http.post(f"/tasks/{task['task_id']}/retry")
            assert response.status_code == 403
            assert "--no-auth" in response.json()["detail"]
            assert http.get("/tasks/status").json()["total"] == 1
    finally:
        server.stop()
