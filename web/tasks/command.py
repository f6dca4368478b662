"""The `command` kind: run a program, capture its output, read progress from it.

The program runs under web/tasks/supervisor.py in a process group of its own, so cancel,
timeout and shutdown end every process it started. Its stdout and stderr go to the
task's log as they arrive; a line that shows a percentage moves the progress bar.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from web.frozen import SUPERVISE
from web.tasks.kinds import MAX_DURATION, Kind, TaskContext, kind

DEFAULT_PROGRESS = r"(\d{1,3}(?:\.\d+)?)\s?%"
ERROR_LINES = 5
READ_SIZE = 64 * 1024
# Progress bars redraw their line with a bare carriage return.
LINE_BREAKS = re.compile(r"\r\n|\r|\n")


class CommandFailed(Exception):
    pass


class CommandParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Before `command`, so that command's validator can see it.
    shell: bool = Field(False, description="Run `command` through the shell (sh -c).")
    command: list[str] | str = Field(
        description='The program and its arguments, e.g. ["python", "train.py"]; '
        'a single string only with "shell": true.'
    )
    cwd: str | None = Field(None, max_length=4096, description="Working folder (must exist).")
    env: dict[str, str] = Field(
        default_factory=dict, description="Variables added to the server's environment."
    )
    timeout: float | None = Field(
        None, gt=0, le=MAX_DURATION, allow_inf_nan=False, description="Fail after N seconds."
    )
    progress_pattern: str | None = Field(
        None,
        max_length=500,
        description="A regex whose first group is a percentage; default finds `42%`.",
    )

    @field_validator("command")
    @classmethod
    def _not_empty(cls, value: list[str] | str, info: ValidationInfo) -> list[str] | str:
        if not value or (isinstance(value, list) and not value[0]):
            raise ValueError("command must name a program")
        if info.data.get("shell", False) != isinstance(value, str):
            raise ValueError(
                'give "command" as a list of arguments, or as one string with "shell": true'
            )
        if any("\0" in part for part in ([value] if isinstance(value, str) else value)):
            raise ValueError("command must not contain NUL characters")
        return value

    @field_validator("cwd")
    @classmethod
    def _existing_folder(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Checked where it runs: a cluster's worker checks its own folders when it starts.
        here = (info.context or {}).get("executor", "local") == "local"
        if value is not None and here and not Path(value).is_dir():
            raise ValueError(f"no such folder: {value}")
        return value

    @field_validator("progress_pattern")
    @classmethod
    def _one_group(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                compiled = re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
            if compiled.groups < 1:
                raise ValueError("the pattern needs a group that captures the percentage")
        return value


def supervisor_argv() -> list[str]:
    """How to start the supervisor: a frozen binary has no `python -m`."""
    if getattr(sys, "frozen", False):
        return [sys.executable, SUPERVISE]
    return [sys.executable, "-m", "web.tasks.supervisor"]


def make_command_kind(grace: float = 5.0) -> Kind:
    @kind("command", params=CommandParams, requires_token=True)
    async def command(params: CommandParams, ctx: TaskContext) -> None:
        """Run a program; its output is the task's log, a `42%` in it moves the bar."""
        target = ["--shell", params.command] if params.shell else ["--", *params.command]
        try:
            proc = await asyncio.create_subprocess_exec(
                *supervisor_argv(),
                str(grace),
                *target,
                stdin=asyncio.subprocess.PIPE,  # the supervisor's lifeline (see there)
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=params.cwd,
                env={**os.environ, **params.env, "TASK_DASHBOARD_PARENT_PID": str(os.getpid())},
                **SEPARATE,
            )
        except FileNotFoundError:
            # The program itself is looked up by the supervisor, which reports it in the log.
            raise CommandFailed(f"the folder {params.cwd} does not exist any more") from None
        pattern = re.compile(params.progress_pattern or DEFAULT_PROGRESS)
        tail: deque[str] = deque(maxlen=ERROR_LINES)
        try:
            async with asyncio.timeout(params.timeout):
                await _pump(proc, ctx, pattern, tail)
                code = await proc.wait()
        except TimeoutError:
            await _end(proc, grace)
            raise CommandFailed(f"timed out after {params.timeout:g} s") from None
        except asyncio.CancelledError:
            await _end(proc, grace)
            raise
        if code != 0:
            how = f"killed by signal {code - 128}" if code > 128 else f"exit code {code}"
            last = "\n".join(tail)
            raise CommandFailed(f"{how}: {last}" if last else how)

    return command


async def _pump(
    proc: asyncio.subprocess.Process, ctx: TaskContext, pattern: re.Pattern[str], tail: deque[str]
) -> None:
    """Copy the output to the log as it comes; keep the last lines; look for percentages."""
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    partial = ""  # a line whose end has not arrived yet (chunks split lines anywhere)
    while chunk := await proc.stdout.read(READ_SIZE):
        text = decoder.decode(chunk)
        ctx.write(text)
        *lines, partial = LINE_BREAKS.split(partial + text)
        _take(lines, ctx, pattern, tail)
    if rest := decoder.decode(b"", final=True):  # a character cut off by the end
        ctx.write(rest)
    _take([partial + rest], ctx, pattern, tail)


def _take(lines: list[str], ctx: TaskContext, pattern: re.Pattern[str], tail: deque[str]) -> None:
    lines = [line for line in lines if line.strip()]
    tail.extend(lines)
    for line in reversed(lines):  # the newest percentage is the one that counts
        if (match := pattern.search(line)) is not None:
            with contextlib.suppress(ValueError):
                ctx.progress(min(100.0, float(match[1])) / 100)
            return


async def _end(proc: asyncio.subprocess.Process, grace: float) -> None:
    """Ask the supervisor to end the command's tree and wait for it to report. It only
    has to signal and reap, so it answers well within the grace; if it ever did not, it is
    killed so the task can end (on POSIX what it supervised may then outlive it; on
    Windows its job ends with it)."""
    assert proc.stdin is not None
    with contextlib.suppress(ConnectionError):  # it has already exited
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
    try:
        async with asyncio.timeout(grace + 2):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            _kill_supervisor(proc)
        await proc.wait()


if sys.platform == "win32":  # pragma: no cover
    # No console window for the supervisor when it is a console program (python.exe);
    # grouping is its job object's work (web/tasks/winjob.py).
    SEPARATE: dict[str, Any] = {"creationflags": subprocess.CREATE_NO_WINDOW}

    def _kill_supervisor(proc: asyncio.subprocess.Process) -> None:
        proc.kill()
else:
    # A session of its own: the terminal's signals (Ctrl-C in `serve`) stay off it.
    SEPARATE = {"start_new_session": True}

    def _kill_supervisor(proc: asyncio.subprocess.Process) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
