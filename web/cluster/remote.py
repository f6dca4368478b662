"""What runs on a Dask worker: one task's kind, its context wired to Dask's event channel.

The app submits `run()`. It runs in one of the worker's threads and drives the kind on an
event loop of its own, exactly as the app would locally (a command under its supervisor,
a sync kind in a thread), while progress and log text go back to the app as events on the
app's topic (Worker.log_event -> the scheduler -> the app's Client.subscribe_topic),
gathered and sent a few times a second. The worker's batched stream carries them ahead of
the task's result, so the app has every line before it learns the outcome.

`stop()` is sent to every worker through Client.run. It cancels the run, which ends the
work (a command's whole process tree) before `run()` returns {"status": "stopped"}: that
answer is the app's confirmation. A stop that arrives before its run has started is kept
(for the last STOPS_KEPT keys), and the run then stops at once. Runs, stops and events
go by the Dask key, which is new for every submission: a stop or a late event of an earlier
run of the same task (paused, then resumed) never touches the next one.

This module is imported on the workers: they need task-dashboard installed, like any
code a Dask cluster runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from typing import Any

from distributed import get_worker

from web.clock import SystemClock
from web.tasks.kinds import Kind, TaskContext

# How often gathered progress and log text leave for the app.
SEND_SECONDS = 0.1
# Log text per event at most: the scheduler keeps the last 1,000 events of a topic in memory
# (distributed.admin.low-level-log-length), so a chatty command costs it at most 8 MiB.
MAX_EVENT_TEXT = 8 * 1024

# Every worker hears every stop; those for runs that never come here are forgotten oldest
# first.
STOPS_KEPT = 10_000

_lock = threading.Lock()
_runs: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = {}
_stop_first: OrderedDict[str, None] = OrderedDict()  # keys stopped before their run began


def run(
    key: str, task_id: str, topic: str, kind: Kind, params: dict[str, Any], elapsed: float
) -> dict:
    """Run the task here; the outcome for the app: completed, failed (with the error) or
    stopped (the app asked, and the work has ended)."""
    worker = get_worker()
    outbox = _Outbox(lambda msg: worker.log_event(topic, msg), task_id, key)
    outbox.send({"started": True})
    return asyncio.run(_drive(key, task_id, kind, params, elapsed, outbox))


def stop(key: str) -> bool:
    """Cancel this run on this worker (called through Client.run); True if it runs here.
    The run then returns "stopped" once the work has ended."""
    with _lock:
        found = _runs.get(key)
        if found is None:
            _stop_first[key] = None
            while len(_stop_first) > STOPS_KEPT:
                _stop_first.popitem(last=False)
            return False
    loop, job = found
    loop.call_soon_threadsafe(job.cancel)
    return True


async def _drive(
    key: str, task_id: str, kind: Kind, params: dict[str, Any], elapsed: float, outbox: _Outbox
) -> dict:
    loop = asyncio.get_running_loop()
    ctx = TaskContext(
        task_id, SystemClock(), report=outbox.progress, write_log=outbox.log, elapsed=elapsed
    )
    # A sync kind's thread is waited for even when the run is cancelled, so that "stopped"
    # means the kind has stopped.
    job = asyncio.ensure_future(kind.run(params, ctx, join_on_cancel=True))
    with _lock:
        if key in _stop_first:
            del _stop_first[key]
            job.cancel()
        _runs[key] = (loop, job)
    sender = asyncio.create_task(outbox.keep_sending())
    try:
        await job
    except asyncio.CancelledError:
        return {"status": "stopped"}
    except Exception as exc:
        error = (str(exc) or type(exc).__name__).encode("utf-8", "replace").decode()
        return {"status": "failed", "error": error}
    finally:
        with _lock:
            _runs.pop(key, None)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        outbox.flush()  # the last lines leave before the outcome does
    return {"status": "completed"}


class _Outbox:
    """Progress and log text of one run, gathered from any thread and sent as events."""

    def __init__(self, send: Any, task_id: str, key: str) -> None:
        self._send = send
        self._id = task_id
        self._key = key
        self._lock = threading.Lock()
        self._progress: float | None = None
        self._text: list[str] = []

    def progress(self, _task_id: str, fraction: float) -> None:
        with self._lock:
            self._progress = fraction

    def log(self, _task_id: str, text: str) -> None:
        with self._lock:
            self._text.append(text)

    def send(self, fields: dict[str, Any]) -> None:
        self._send({"id": self._id, "key": self._key, **fields})

    def flush(self) -> None:
        with self._lock:
            progress, self._progress = self._progress, None
            text, self._text = "".join(self._text), []
        for start in range(0, len(text), MAX_EVENT_TEXT):
            self.send({"log": text[start : start + MAX_EVENT_TEXT]})
        if progress is not None:
            self.send({"progress": progress})

    async def keep_sending(self) -> None:
        while True:
            await asyncio.sleep(SEND_SECONDS)
            self.flush()
