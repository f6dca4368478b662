"""`task-dashboard add -- CMD`, `add --kind --param`, `logs [--follow]`, `kinds` and
`serve --kinds-file`, against a real running instance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop_app import discovery
from desktop_app.hosting import Hosted, hosted_engine
from tests.desktop.conftest import run
from tests.waiting import until
from web.settings import HOME_ENV, Settings

KINDS_FILE = Path(__file__).resolve().parents[1] / "kinds" / "spinning.py"
COUNT = "import sys\nfor i in range(3): print(f'line {i}', flush=True)\nsys.exit(int(sys.argv[1]))"


@pytest.fixture
def with_kinds() -> Iterator[Hosted]:
    with hosted_engine(Settings(port=0, kinds_file=KINDS_FILE)) as hosted:
        yield hosted


def test_add_a_command_and_follow_its_log_to_the_end(with_kinds: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "add", "--name", "counting", "--", sys.executable, "-c", COUNT, "0")
    assert code == 0
    task_id = out.strip()

    code, out, err = run(capsys, "logs", task_id, "--follow")
    assert (code, out, err) == (0, "line 0\nline 1\nline 2\n", "")

    code, out, _ = run(capsys, "status")
    assert f"{task_id}  completed" in out and "counting" in out


def test_a_failing_command_exits_1_with_its_error(with_kinds: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "add", "--", sys.executable, "-c", COUNT, "3")
    task_id = out.strip()
    code, out, err = run(capsys, "logs", task_id, "-f")
    assert code == 1
    assert out == "line 0\nline 1\nline 2\n"
    assert err.startswith(f"task-dashboard: task {task_id} failed: exit code 3")

    code, out, _ = run(capsys, "logs", task_id)  # without --follow: what there is, exit 0
    assert (code, out) == (0, "line 0\nline 1\nline 2\n")

    code, out, _ = run(capsys, "status")  # no name: the command line, on one line, instead
    assert f"failed        0%  {sys.executable} -c 'import sys for i in range(3):" in out


def test_command_options_reach_the_program(with_kinds: Hosted, capsys, tmp_path: Path) -> None:
    code, out, _ = run(
        capsys,
        *("add", "--cwd", str(tmp_path), "--env", "GREETING=hi there", "--timeout", "1m"),
        *("--shell", "--", 'echo "$GREETING" from', "$(pwd)"),
    )
    assert code == 0, out
    task_id = out.strip()
    code, out, _ = run(capsys, "logs", task_id, "--follow")
    assert (code, out) == (0, f"hi there from {tmp_path}\n")
    task = json.loads(run(capsys, "status", "--json")[1])["tasks"][0]
    assert task["params"]["timeout"] == 60 and task["params"]["shell"] is True


def test_a_kind_from_the_kinds_file_with_params(with_kinds: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "add", "--kind", "spin", "--param", "rounds=3", "--name", "spun")
    assert code == 0
    code, out, _ = run(capsys, "logs", out.strip(), "--follow")
    assert (code, out) == (0, "round 1\nround 2\nround 3\n")

    code, _, err = run(capsys, "add", "--kind", "spin", "--param", "rounds=0")
    assert code == 1
    assert err == "task-dashboard: rounds: Input should be greater than or equal to 1\n"
    code, _, err = run(capsys, "add", "--kind", "nope")
    assert (code, "unknown kind 'nope'" in err) == (1, True)


def test_command_line_mistakes_exit_2(with_kinds: Hosted, capsys) -> None:
    for argv, says in [
        (["add"], "give a duration"),
        (["add", "10", "--cwd", "/tmp"], "--cwd: only for a command"),
        (["add", "10", "--", "ls"], "takes no duration"),
        (["add", "--kind", "spin", "--", "ls"], "cannot be of kind 'spin'"),
        (["add", "--"], "name the program"),
        (["add", "--param", "rounds"], "KEY=VALUE"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 2 and says in err, (argv, err)


def test_kinds_lists_every_kind_and_its_parameters(with_kinds: Hosted, capsys) -> None:
    code, out, _ = run(capsys, "kinds")
    assert code == 0
    assert "\nspin\n  Busy work in a worker thread" in out
    assert "    rounds  (integer, 1..10000000, required)\n" in out
    assert "command  [needs the token]\n" in out
    assert '    algorithm  (one of sha256|sha1|md5|blake2b, default "sha256")\n' in out
    code, out, _ = run(capsys, "kinds", "--json")
    assert "spin" in {k["name"] for k in json.loads(out)}


def test_serve_loads_the_kinds_file_it_is_given(tmp_path: Path) -> None:
    env = {**os.environ, HOME_ENV: str(tmp_path / "served")}
    env.pop("TASK_DASHBOARD_KINDS_FILE", None)
    cli = [sys.executable, "-m", "desktop_app"]
    served = subprocess.Popen(
        [*cli, "serve", "--port", "0", "--kinds-file", str(KINDS_FILE)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        until(lambda: discovery.read(tmp_path / "served" / "instance.json"), 15, "instance.json")
        kinds = subprocess.run(
            [*cli, "kinds"], env=env, capture_output=True, text=True, timeout=15, check=True
        )
        assert "\nspin\n" in kinds.stdout
    finally:
        served.send_signal(signal.SIGTERM)
        assert served.wait(15) == 0

    broken = subprocess.run(
        [*cli, "serve", "--port", "0", "--kinds-file", str(tmp_path / "missing.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert broken.returncode == 1
    assert "missing.py does not exist" in broken.stderr
