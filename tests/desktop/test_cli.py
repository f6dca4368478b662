"""`task-dashboard info/add/status/cancel` against a real instance found through discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from desktop_app import discovery
from desktop_app.hosting import Hosted
from tests.desktop.conftest import run
from tests.waiting import until
from web.settings import HOME_ENV, Settings


def test_info_names_the_running_instance(running: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "info", "--json")
    assert code == 0
    facts = json.loads(out)
    token = Path(Settings().token_path).read_text().strip()
    assert facts["url"] == running.server.url
    assert facts["port"] == running.server.port
    assert facts["pid"] == os.getpid()
    assert facts["token"] == token
    assert facts["dashboard_url"] == f"{running.server.url}/dashboard?token={token}"

    code, out, _ = run(capsys, "info")
    assert code == 0
    assert f"port:          {running.server.port}\n" in out
    assert f"token:         {token}\n" in out


def test_add_status_and_cancel_drive_the_instance(running: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "add", "30", "--name", "from the cli")
    assert code == 0
    task_id = out.strip()
    assert len(task_id) == 32

    code, out, _ = run(capsys, "status", "--json")
    answer = json.loads(out)
    assert [t["task_id"] for t in answer["tasks"]] == [task_id]
    assert answer["tasks"][0]["name"] == "from the cli"

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert task_id in out and "from the cli" in out
    assert out.splitlines()[-1].startswith("1 task(s): 1 ")  # running or still queued

    code, out, _ = run(capsys, "cancel", task_id)
    assert (code, out) == (0, f"{task_id} cancelled\n")

    code, _, err = run(capsys, "cancel", task_id)
    assert code == 1
    assert "already cancelled" in err


def test_api_refusals_are_reported_plainly(running: Hosted, capsys) -> None:
    code, _, err = run(capsys, "add", "-5")
    assert code == 1
    assert err.startswith("task-dashboard: duration:")

    code, _, err = run(capsys, "cancel", "no-such-task")
    assert code == 1
    assert "no task with id 'no-such-task'" in err


def test_without_a_running_instance_the_cli_says_how_to_start_one(capsys) -> None:
    code, out, err = run(capsys, "status")
    assert (code, out) == (1, "")
    assert "no Task Dashboard is running" in err and "task-dashboard serve" in err


def test_serve_publishes_itself_refuses_a_twin_and_withdraws_on_exit(tmp_path: Path) -> None:
    home = tmp_path / "served"
    env = {**os.environ, HOME_ENV: str(home)}
    command = [sys.executable, "-m", "desktop_app", "serve", "--port", "0"]
    served = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        instance = until(lambda: discovery.read(home / "instance.json"), 15, "instance.json")
        assert instance.pid == served.pid
        assert served.stdout is not None
        assert served.stdout.readline() == f"Task Dashboard 0.1.0 serving on {instance.url}\n"

        twin = subprocess.run(command, env=env, capture_output=True, text=True, timeout=15)
        assert twin.returncode == 2
        assert "already runs" in twin.stderr
    finally:
        served.send_signal(signal.SIGTERM)
        assert served.wait(15) == 0
        served.stdout.close()  # type: ignore[union-attr]
    assert not (home / "instance.json").exists()
