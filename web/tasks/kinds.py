"""Task kinds: what a task of each kind does, with typed parameters.

A kind is a function decorated with @kind. It gets its validated parameters (a pydantic
model) and a TaskContext to report progress, write log lines and notice cancellation:

    class Params(BaseModel):
        folder: str

    @kind("hash-folder", params=Params, description="Hash every file in a folder")
    def hash_folder(params: Params, ctx: TaskContext) -> None:
        for i, path in enumerate(files, 1):
            ctx.check_cancelled()          # raises if the user cancelled
            ctx.log(f"{path}: {digest(path)}")
            ctx.progress(i / len(files))

An `async def` kind runs on the server's event loop and must await often; cancellation
arrives as CancelledError, which it must let through. A plain `def` kind runs in a worker
thread so it can never block the server; it checks ctx.cancelled / ctx.check_cancelled().
Raising fails the task: the message becomes the task's `error`.

Kinds are found in three places (see web/tasks/registry.py): the built-in ones here and in
web/tasks/command.py, installed packages' entry points in the group `task_dashboard.kinds`,
and a Python file named in the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from web.clock import SLACK, Clock

MAX_DURATION = 7 * 24 * 3600.0


class TaskCancelled(Exception):
    """Raised by TaskContext.check_cancelled() inside a sync kind."""


# A sync kind's log text is handed to the loop at most this often. Each hand-over wakes
# the loop, and a thread that computes in pure Python holds the GIL between them: waking
# the loop per line made the whole server crawl behind a chatty CPU-bound kind.
LOG_BATCH_SECONDS = 0.05
# Guards every context's hand-off buffer. One lock for all: the critical sections are a
# list append or swap, and a lock per context was six more objects for the garbage
# collector to walk per running task (10,000 running timers; bench/).
_UNSENT_LOCK = threading.Lock()


class TaskContext:
    """What a running task may do besides computing: report, log, notice cancellation.

    Every method may be called from the event loop or from a kind's worker thread. The
    `report` callback must be safe to call from any thread (the engine's stores a number
    in a dict); `write_log` is only ever called on the loop."""

    def __init__(
        self,
        task_id: str,
        clock: Clock,
        *,
        report: Callable[[str, float], None],
        write_log: Callable[[str, str], None],
        elapsed: float = 0.0,
    ) -> None:
        self.task_id = task_id
        self.clock = clock
        # Seconds this task already ran before (it was paused); resumable kinds go on from it.
        self.elapsed = elapsed
        self._report = report
        self._write_log = write_log
        # Set once, on the loop; a worker thread only reads it (an attribute read is atomic).
        self._cancelled = False
        self._loop = asyncio.get_running_loop()
        self._unsent: list[str] = []  # log text from a worker thread, not yet on the loop

    def progress(self, fraction: float) -> None:
        """Report progress 0..1; cheap, coalesced before it is stored and sent."""
        self._report(self.task_id, float(fraction))

    def log(self, line: str) -> None:
        """Append a line to the task's log (the newline is added when missing)."""
        self.write(line if line.endswith("\n") else line + "\n")

    def write(self, text: str) -> None:
        """Append text to the task's log as it is."""
        if self._on_loop_thread():
            self._write_log(self.task_id, text)
            return
        with _UNSENT_LOCK:
            first = not self._unsent
            self._unsent.append(text)
        if first:
            self._loop.call_soon_threadsafe(self._loop.call_later, LOG_BATCH_SECONDS, self.flush)

    def flush(self) -> None:
        """On the loop: write what a worker thread logged since the last flush."""
        with _UNSENT_LOCK:
            text, self._unsent = "".join(self._unsent), []
        if text:
            self._write_log(self.task_id, text)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        if self._cancelled:
            raise TaskCancelled(f"task {self.task_id} was cancelled")

    def _cancel(self) -> None:
        self._cancelled = True

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False


KindFunction = Callable[[Any, TaskContext], Awaitable[None] | None]


@dataclass(frozen=True)
class Kind:
    name: str
    function: KindFunction
    params: type[BaseModel]
    description: str = ""
    # Can stop part-way (its run is cancelled) and later go on from ctx.elapsed.
    resumable: bool = False
    # Runs whatever the caller asks (e.g. shell commands): never without a token.
    requires_token: bool = False

    def validate(self, raw: dict[str, Any], where: str = "local") -> BaseModel:
        """`where`: the executor it will run on. A check of this machine (a folder that must
        exist) is the worker's to make when it runs elsewhere: validators read it from
        the validation context (see CommandParams)."""
        return self.params.model_validate(raw, context={"executor": where})

    def run(
        self, params: dict[str, Any], ctx: TaskContext, join_on_cancel: bool = False
    ) -> Awaitable[None]:
        """What the runner awaits: the kind's own coroutine, or its worker thread's outcome
        (not a coroutine around either: one frame fewer for each of thousands of running
        tasks, for the garbage collector to walk; bench/). `join_on_cancel`: a cancelled
        sync kind's thread is waited for (a cluster worker's confirmation that it stopped);
        else it unwinds on its own."""
        model = self.params.model_validate(params)
        if self.on_loop:
            return self.function(model, ctx)  # type: ignore[return-value]
        return _in_worker_thread(self.function, model, ctx, join_on_cancel)

    @functools.cached_property
    def on_loop(self) -> bool:
        """An `async def` kind runs on the event loop; a plain one in a worker thread."""
        return inspect.iscoroutinefunction(self.function)

    @property
    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "resumable": self.resumable,
            "requires_token": self.requires_token,
            "params": self.params.model_json_schema(),
        }


def kind(
    name: str,
    *,
    params: type[BaseModel],
    description: str = "",
    resumable: bool = False,
    requires_token: bool = False,
) -> Callable[[KindFunction], Kind]:
    """Make a function a task kind (see the module docstring)."""

    def wrap(function: KindFunction) -> Kind:
        return Kind(
            name=name,
            function=function,
            params=params,
            description=description or (inspect.getdoc(function) or "").split("\n\n")[0],
            resumable=resumable,
            requires_token=requires_token,
        )

    return wrap


async def _in_worker_thread(
    function: KindFunction, params: BaseModel, ctx: TaskContext, join_on_cancel: bool
) -> None:
    """Run a sync kind in its own daemon thread: a kind that ignores cancellation can
    then never hold up the server's exit, as a pool thread would."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def target() -> None:
        try:
            function(params, ctx)
        except BaseException as exc:  # handed to the loop, which decides what it means
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=target, name=f"kind-{ctx.task_id}", daemon=True).start()
    try:
        await asyncio.shield(done)
    except asyncio.CancelledError:
        ctx._cancel()  # the thread sees it at its next check and unwinds
        if join_on_cancel:
            with contextlib.suppress(TaskCancelled):
                await done
        else:
            # Nobody awaits the thread's outcome any more; retrieve it so it is not reported.
            done.add_done_callback(lambda f: f.cancelled() or f.exception())
        raise
    finally:
        ctx.flush()  # the last lines are in the log before the task's end is recorded


class TimerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: float = Field(
        gt=0,
        le=MAX_DURATION,
        strict=True,
        allow_inf_nan=False,
        description="How long the task runs, in seconds (at most 7 days).",
    )


@kind("timer", params=TimerParams, resumable=True)
async def timer(params: TimerParams, ctx: TaskContext) -> None:
    """Wait `duration` seconds, reporting progress as time passes (the seed's task)."""
    duration = params.duration
    # One wake-up per whole percent (the engine stores and sends no finer progress, and the
    # dashboard moves a timer's bar on its own between reports), never more than 4 a second:
    # thousands of timers can run at once (10,000 hour-long ones woke 5,000 times a second
    # with a 2 s cap; bench/).
    step = max(0.25, duration / 100)
    start = ctx.clock.monotonic() - ctx.elapsed
    while (elapsed := ctx.clock.monotonic() - start) < duration - SLACK:
        ctx.progress(elapsed / duration)
        await ctx.clock.sleep(min(step, duration - elapsed))
