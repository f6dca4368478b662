"""Runs one command task's process tree and guarantees that none of it outlives the task.

    python -m web.tasks.supervisor GRACE -- ARGV...
    python -m web.tasks.supervisor GRACE --shell "COMMAND LINE"

The engine starts this in a new session; the command runs in a process group of its own,
which holds everything it starts (unless a process moves itself out). Then:

- SIGTERM (the task was cancelled, timed out or the app is stopping) ends the command's
  group: SIGTERM to all, SIGKILL after GRACE seconds to whatever is left.
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


def _reap() -> None:
    """Collect exited children (with the subreaper, orphaned grandchildren too): a zombie
    still counts as a member of its process group."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def end_group(group: int, grace: float) -> None:
    """SIGTERM the command's process group, wait up to `grace` s for it to go, then SIGKILL
    what is left. The supervisor is not in that group, so it outlives it to report."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_alive(group) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    _reap()


def main(argv: list[str]) -> int:
    if os.getpgrp() != os.getpid():
        # Started by hand: keep the caller's terminal signals off the command.
        os.setsid()
    grace = float(argv[0])
    command: list[str] | str = argv[2] if argv[1] == "--shell" else argv[2:]
    parent = int(os.environ.pop("TASK_DASHBOARD_PARENT_PID", os.getppid()))

    def stop(_signum: int, _frame: object) -> None:
        raise Stop

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    child: subprocess.Popen[bytes] | None = None
    try:
        _linux_guards(parent)
        try:
            # A process group of its own, for the command and all it starts.
            shell = isinstance(command, str)
            child = subprocess.Popen(
                command, shell=shell, env=outside_environment(), process_group=0
            )
        except OSError as exc:
            print(f"task-dashboard: cannot start {command!r}: {exc.strerror}", file=sys.stderr)
            return 127
        code = child.wait()
    except Stop:
        if child is not None:
            end_group(child.pid, grace)
        return 128 + signal.SIGTERM
    end_group(child.pid, grace)  # what it left running in the background goes too
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
