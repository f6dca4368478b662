"""Runs one command task's process tree and guarantees that none of it outlives the task.

    python -m web.tasks.supervisor GRACE -- ARGV...
    python -m web.tasks.supervisor GRACE --shell "COMMAND LINE"

Its stdin is the app's lifeline: a line on it (the app writes `stop` when the task is
cancelled, times out or the app stops) or its end (the app is gone, however it died) ends
the command and everything it started; so does SIGTERM where there are signals. When the
command exits, whatever it left running in the background is ended too, and the
supervisor exits with the command's code (128 + N after signal N).

POSIX: the engine starts this in a new session; the command runs in a process group of its
own, which holds everything it starts (unless a process moves itself out). Ending it:
SIGTERM to the group, SIGKILL after GRACE seconds to whatever is left. On Linux the kernel
also sends SIGTERM when the app dies (PR_SET_PDEATHSIG), and the supervisor adopts orphaned
grandchildren (PR_SET_CHILD_SUBREAPER) so it can reap them.

Windows: the supervisor first puts itself in a kill-on-close job object (web/tasks/winjob.py),
so the command and all it starts are in the job from birth. Ending it: the supervisor exits,
which closes the job, which terminates every process still in it, at once: a windowed app
has no console to send CTRL_BREAK through, so there is no gentler first step and GRACE is
not used. (Not run on Windows yet.)
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from web.frozen import outside_environment

WINDOWS = sys.platform == "win32"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
STOPPED = 128 + 15  # the exit code after a stop, as after SIGTERM
CANNOT_START = 127  # as a shell says "command not found"
# What a terminal or the app sends to end us (POSIX; Windows has no SIGHUP).
STOP_SIGNALS = () if WINDOWS else (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stop(Exception):
    pass


def watch_lifeline(stop: Callable[[], None], fd: int = 0) -> threading.Thread:
    """Call `stop` when the app writes to our stdin (it writes `stop`) or closes it.

    Raw reads on the descriptor: a daemon thread blocked inside sys.stdin's buffered
    reader holds its lock, and interpreter shutdown then aborts on it."""

    def watch() -> None:
        try:
            os.read(fd, 64)  # returns on the first bytes, or b"" at the end
        except OSError:
            return  # no stdin at all (closed by whoever started us): no lifeline to watch
        stop()

    thread = threading.Thread(target=watch, name="lifeline", daemon=True)
    thread.start()
    return thread


def _start(command: list[str] | str, **own_group: Any) -> subprocess.Popen[bytes] | None:
    """Start the command; None after telling the task's log why it could not."""
    try:
        return subprocess.Popen(
            command,
            shell=isinstance(command, str),
            stdin=subprocess.DEVNULL,  # not our stdin: that is the app's lifeline
            env=outside_environment(),
            **own_group,
        )
    except OSError as exc:
        print(f"task-dashboard: cannot start {command!r}: {exc.strerror}", file=sys.stderr)
        return None


# -- POSIX ---------------------------------------------------------------------------------


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
    for sig in STOP_SIGNALS:
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


def _supervise_posix(command: list[str] | str, grace: float, parent: int) -> int:
    if os.getpgrp() != os.getpid():
        # Started by hand: keep the caller's terminal signals off the command.
        os.setsid()
    child: subprocess.Popen[bytes] | None = None
    stopping = False  # a stop that came while the command was being started

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        # Once: after a crash of the app both the lifeline and PR_SET_PDEATHSIG say so,
        # and a second Stop must not interrupt the ending of the group.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        if child is None:
            # Raised inside Popen, Stop would leave the forked command running (Popen does
            # not end what it started when it is interrupted): note it, act once started.
            stopping = True
            return
        raise Stop

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    # The lifeline turns into the same SIGTERM, sent to the main thread, whose wait below
    # it interrupts.
    main = threading.main_thread().ident
    assert main is not None
    watch_lifeline(lambda: signal.pthread_kill(main, signal.SIGTERM))
    try:
        _linux_guards(parent)
        if stopping:
            return STOPPED
        # A process group of its own, for the command and all it starts.
        child = _start(command, process_group=0)
        if child is None:
            return CANNOT_START
        if stopping:
            raise Stop
        code = child.wait()
        end_group(child.pid, grace)  # what it left running in the background goes too
    except Stop:
        if child is not None:
            end_group(child.pid, grace)
        return STOPPED
    return 128 - code if code < 0 else code


# -- Windows -------------------------------------------------------------------------------


def _supervise_windows(command: list[str] | str) -> int:  # pragma: no cover
    from web.tasks import winjob

    try:
        winjob.join_new_job(winjob.kernel32())
        in_job = True
    except OSError as exc:
        # E.g. an app started in a job that forbids nesting (before Windows 8).
        print(f"task-dashboard: processes the command starts may outlive it: {exc}", flush=True)
        in_job = False
    # No console window for a console program started from the windowed app.
    child = _start(command, creationflags=subprocess.CREATE_NO_WINDOW)
    if child is None:
        return CANNOT_START

    def stop() -> None:
        if not in_job:
            child.kill()  # the command at least; what it started is out of reach
        os._exit(STOPPED)  # closes the job's last handle: every process in it ends

    watch_lifeline(stop)
    return child.wait()  # background leftovers end with the job too


def main(argv: list[str]) -> int:
    grace = float(argv[0])
    command: list[str] | str = argv[2] if argv[1] == "--shell" else argv[2:]
    parent = int(os.environ.pop("TASK_DASHBOARD_PARENT_PID", os.getppid()))
    if WINDOWS:  # pragma: no cover
        return _supervise_windows(command)
    return _supervise_posix(command, grace, parent)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
