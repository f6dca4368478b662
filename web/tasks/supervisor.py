"""Runs one command task's process tree and guarantees that none of it outlives the task.

    python -m web.tasks.supervisor GRACE -- ARGV...
    python -m web.tasks.supervisor GRACE --shell "COMMAND LINE"

The engine starts this in a new session, so it leads a fresh process group holding the
command and everything the command starts. Then:

- SIGTERM (the task was cancelled, timed out or the app is stopping) ends the whole group:
  SIGTERM to all, SIGKILL after GRACE seconds to whatever is left.
- When the command exits, anything it left running in the background is ended the same
  way, and the supervisor exits with the command's code (128 + N after signal N).
- On Linux it asks the kernel for SIGTERM when the app dies (PR_SET_PDEATHSIG), even by
  SIGKILL, and adopts orphaned grandchildren (PR_SET_CHILD_SUBREAPER) so it can reap them:
  a crash of the app leaves no process behind either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from web.frozen import outside_environment

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


class Stop(Exception):
    pass


def _linux_guards(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1)
    if os.getppid() != parent:  # the app died before the guard was set
        raise Stop


def _others_in_group() -> list[int]:
    """Live members of our process group other than us (Linux: from /proc)."""
    group, me = os.getpgrp(), os.getpid()
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def end_group(grace: float) -> None:
    """SIGTERM the group, wait up to `grace` s for it to go, then SIGKILL the rest."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(0, signal.SIGTERM)
    if not Path("/proc/self/stat").exists():  # no /proc: give them the grace, then kill
        time.sleep(grace)
        os.killpg(0, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while (left := _others_in_group()) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.02)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _reap()


def main(argv: list[str]) -> int:
    if os.getpgrp() != os.getpid():
        # Ending "our group" must never reach whoever started us: lead a group of our own.
        os.setsid()
    grace = float(argv[0])
    command: list[str] | str = argv[2] if argv[1] == "--shell" else argv[2:]
    parent = int(os.environ.pop("TASK_DASHBOARD_PARENT_PID", os.getppid()))

    def stop(_signum: int, _frame: object) -> None:
        raise Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        _linux_guards(parent)
        try:
            shell = isinstance(command, str)
            child = subprocess.Popen(command, shell=shell, env=outside_environment())
        except OSError as exc:
            print(f"task-dashboard: cannot start {command!r}: {exc.strerror}", file=sys.stderr)
            return 127
        code = child.wait()
    except Stop:
        end_group(grace)
        return 128 + signal.SIGTERM
    end_group(grace)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
