"""The CLI's queue commands against a real running instance: add's scheduling options,
pause/resume/retry/priority of a task, pausing the queue, and the settings."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from desktop_app.hosting import Hosted
from desktop_app.queue_commands import parse_duration
from tests.desktop.conftest import run


def add(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code, out, err = run(capsys, "add", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_add_with_priority_delay_start_time_and_dependencies(running: Hosted, capsys) -> None:
    dep = add(capsys, "1m", "--name", "dep")
    assert dep["duration"] == 60

    before = datetime.now(UTC)
    task = add(
        capsys, "10", "--name", "x", "--priority", "5", "--delay", "1m", "--after", dep["task_id"]
    )
    assert (task["status"], task["priority"], task["after"]) == ("scheduled", 5, [dep["task_id"]])
    assert before + timedelta(seconds=59) < utc(task["run_at"]) < before + timedelta(seconds=62)

    local = datetime(2030, 1, 31, 18, 0).astimezone()  # no zone given: the local time
    later = add(capsys, "1:30", "--run-at", "2030-01-31T18:00", "--after", dep["task_id"])
    assert utc(later["run_at"]) == local
    assert later["duration"] == 90

    code, out, _ = run(capsys, "status")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith(task["task_id"]))
    assert "starts " in line and f"after {dep['task_id'][:8]}" in line and "priority 5" in line


def test_add_refusals(running: Hosted, capsys) -> None:
    code, _, err = run(capsys, "add", "10", "--after", "no-such-task")
    assert code == 1
    assert err.startswith("task-dashboard: ") and "no-such-task" in err

    code, _, err = run(capsys, "add", "10", "--priority", "5000")
    assert code == 1 and "priority" in err

    for argv in (["soon"], ["10", "--delay", "1m", "--run-at", "2030-01-01T00:00"]):
        with pytest.raises(SystemExit) as usage:
            run(capsys, "add", *argv)
        assert usage.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_pause_and_resume_a_task(running: Hosted, capsys) -> None:
    task_id = add(capsys, "300")["task_id"]
    assert run(capsys, "pause", task_id)[:2] == (0, f"{task_id} paused\n")

    code, _, err = run(capsys, "pause", task_id)
    assert code == 1
    assert err.startswith(f"task-dashboard: task {task_id} is paused")

    assert run(capsys, "resume", task_id)[:2] == (0, f"{task_id} running\n")
    code, _, err = run(capsys, "resume", task_id)
    assert code == 1 and "only paused tasks can resume" in err


def test_retry_runs_a_finished_task_again(running: Hosted, capsys) -> None:
    old = add(capsys, "300", "--name", "flaky", "--priority", "2")
    code, _, err = run(capsys, "retry", old["task_id"])
    assert code == 1 and "only finished tasks can be retried" in err

    run(capsys, "cancel", old["task_id"])
    code, out, _ = run(capsys, "retry", old["task_id"])
    assert code == 0
    new_id = out.strip()
    assert len(new_id) == 32 and new_id != old["task_id"]

    code, out, _ = run(capsys, "status", "--json")
    newest = json.loads(out)["tasks"][0]
    assert (newest["task_id"], newest["retry_of"]) == (new_id, old["task_id"])
    assert (newest["name"], newest["priority"], newest["status"]) == ("flaky", 2, "running")


def test_priority_reorders_the_queue(running: Hosted, capsys) -> None:
    run(capsys, "settings", "--max-concurrent", "1")
    blocker = add(capsys, "300", "--name", "blocker")["task_id"]
    alpha = add(capsys, "300", "--name", "alpha")["task_id"]
    beta = add(capsys, "300", "--name", "beta")["task_id"]

    code, out, _ = run(capsys, "status")
    assert code == 0
    assert "#1 in queue  alpha" in out and "#2 in queue  beta" in out
    assert "queue: at most 1 at once" in out

    code, out, _ = run(capsys, "priority", beta, "--front")
    assert (code, out) == (0, f"{beta} queued  #1 in queue, priority 1\n")
    code, out, _ = run(capsys, "priority", alpha, "7")
    assert (code, out) == (0, f"{alpha} queued  #1 in queue, priority 7\n")

    code, _, err = run(capsys, "priority", blocker, "3")
    assert code == 1 and "only scheduled or queued tasks can be re-ranked" in err
    for argv in ([alpha], [alpha, "3", "--front"]):
        code, _, err = run(capsys, "priority", *argv)
        assert code == 2 and "give a new priority, or --front" in err


def test_pause_and_resume_the_queue(running: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "queue", "pause")
    assert (code, out) == (0, "max_concurrent: none (no limit)\nqueue_paused:   yes\n")
    task_id = add(capsys, "300", "--name", "held")["task_id"]

    code, out, _ = run(capsys, "status")
    assert f"{task_id}  queued        0%  #1 in queue  held" in out
    assert "queue: paused (nothing new starts)" in out

    code, out, _ = run(capsys, "queue", "resume", "--json")
    assert (code, json.loads(out)) == (0, {"max_concurrent": None, "queue_paused": False})
    code, out, _ = run(capsys, "status", "--json")
    assert json.loads(out)["tasks"][0]["status"] == "running"


def test_settings_show_and_change_the_limit(running: Hosted, capsys) -> None:
    assert run(capsys, "settings")[:2] == (
        0,
        "max_concurrent: none (no limit)\nqueue_paused:   no\n"
        "notify:         all (tasks of 10 s or more)\n"
        "executor:       local\nscheduler:      none (no cluster)\n",
    )
    assert run(capsys, "settings", "--max-concurrent", "3")[1].startswith("max_concurrent: 3\n")
    code, out, _ = run(capsys, "settings", "--json")
    assert json.loads(out) == {
        "max_concurrent": 3,
        "queue_paused": False,
        "notify": "all",
        "notify_min_seconds": 10.0,
        "executor": "local",
        "scheduler": None,
    }
    assert run(capsys, "settings", "--max-concurrent", "none")[1].startswith("max_concurrent: none")

    code, _, err = run(capsys, "settings", "--max-concurrent", "0")
    assert code == 1 and err.startswith("task-dashboard: max_concurrent:")
    with pytest.raises(SystemExit) as usage:
        run(capsys, "settings", "--max-concurrent", "lots")
    assert usage.value.code == 2


def test_settings_change_the_notifications(running: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "settings", "--notify", "failures", "--notify-min", "2m")
    assert (code, out.splitlines()[2]) == (0, "notify:         failures (tasks of 120 s or more)")
    code, _, err = run(capsys, "settings", "--notify-min", "-1")
    assert code == 1 and err.startswith("task-dashboard: notify_min_seconds:")
    with pytest.raises(SystemExit) as usage:
        run(capsys, "settings", "--notify", "sometimes")
    assert usage.value.code == 2


def test_settings_refuse_a_scheduler_that_is_no_address(running: Hosted, capsys) -> None:
    code, _, err = run(capsys, "settings", "--scheduler", "my-cluster")
    assert code == 1 and "tcp://host:8786" in err
    code, _, err = run(capsys, "settings", "--executor", "dask")
    assert code == 1 and "needs a scheduler address" in err
    assert run(capsys, "settings")[1].splitlines()[-2:] == [
        "executor:       local",
        "scheduler:      none (no cluster)",
    ]


def test_durations_read_like_the_dashboards() -> None:
    texts = ["90", "1m30s", "1m 30", "2h", "1:30", "1:02:03", "1.5", "500ms", "-5"]
    assert [parse_duration(t) for t in texts] == [90, 90, 90, 7200, 90, 3723, 1.5, 0.5, -5]
    for bad in ["10 20", "soon", "", "inf", "1m30x"]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse_duration(bad)
