"""The dask executor: tasks run on a Dask cluster and are watched and stopped from here.

We drive Dask's own scheduler and workers; nothing here runs work itself. A task is
submitted as web/cluster/remote.py's `run` with its kind and parameters, under a key of
its own that is also published as a dataset: the scheduler then keeps the task (and its
outcome) when this app goes away, and the next start finds it by name and waits for it
again ("reattach"). Progress, log text and the worker's address come back as events on
the app's topic; the outcome comes back as the future's result.

What can go wrong, and what the task becomes:
- the scheduler cannot be reached when the task starts: `failed`, with the reason (it is
  not kept waiting: a user who set a cluster wants to know at once that it is gone);
- its worker dies: Dask runs it again elsewhere as its `allowed-failures` setting says (the
  log says so); when Dask gives up (KilledWorker): `failed`, "worker lost";
- the connection to the scheduler is lost while it runs: `interrupted`; the executor
  keeps trying to connect, and local tasks are not affected;
- stopped by the user: the workers are asked to stop it (Client.run of remote.stop) and
  the task ends once its worker confirms that the work has ended, or the wait runs out.

Whatever this app gives up on (a run interrupted while the scheduler lived on, a stop never
confirmed) is left published on the scheduler; each new connection sweeps our datasets
that no task here waits for, and stops their work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, Future, LocalCluster
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker
from distributed.security import Security

from web.cluster import remote
from web.tasks.kinds import Kind, TaskContext
from web.tasks.model import Task, TaskStatus
from web.tasks.running import Ended, Stopped

log = logging.getLogger(__name__)

# How often the scheduler is asked for its workers (the status bar), and how long to wait
# between attempts to connect while it is away.
POLL_SECONDS = 1.0
RETRY_SECONDS = 2.0
# At most this long for a client to close: a scheduler that is gone answers nothing.
CLOSE_SECONDS = 2.0
LOCAL = re.compile(r"local:(\d+)")


@dataclass
class _Remote:
    """One task of ours on the cluster, as far as this app knows it."""

    ctx: TaskContext
    key: str = ""
    future: Future | None = None
    worker: str | None = None
    stopping: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class ClusterInfo:
    address: str
    connected: bool = False
    workers: int = 0
    threads: int = 0
    error: str | None = None


class DaskExecutor:
    name = "dask"

    def __init__(
        self,
        address: str,
        *,
        app_id: str,
        on_worker: Callable[[str, str], None],
        on_info: Callable[[ClusterInfo], None],
        wanted: Callable[[str], bool],
        security: Security | None = None,
        stop_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        self.address = address
        self._security = security
        # Keys, datasets and the event topic carry the app's id: two apps on one cluster
        # never see each other's tasks.
        self._prefix = f"task-dashboard-{app_id}-"
        self._topic = f"task-dashboard-{app_id}"
        self._on_worker = on_worker
        self._on_info = on_info
        self._wanted = wanted  # whether a task runs here (the engine's word)
        self._may_sweep = False
        self.stop_timeout = stop_timeout
        self._connect_timeout = connect_timeout
        self.info = ClusterInfo(address)
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._remotes: dict[str, _Remote] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._chores: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Start connecting (in the background: an absent scheduler never holds up the
        app); `local:N` first starts a LocalCluster of N worker processes here."""
        if (match := LOCAL.fullmatch(self.address)) is not None:
            self._cluster = await LocalCluster(
                n_workers=int(match[1]),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                asynchronous=True,
            )
        self._keeper = asyncio.create_task(self._keep_connected(), name="dask-connection")

    async def close(self) -> None:
        """Disconnect; tasks on the cluster go on (the next start reattaches), except on a
        LocalCluster, which ends with the app."""
        # A flag as well as the cancel: Dask's Client.close swallows CancelledError, so a
        # keeper cancelled while it closes a lost client would go on to connect again.
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
        if self._chores:  # each talks to the scheduler, which may not answer
            await asyncio.wait(self._chores, timeout=CLOSE_SECONDS)
            for chore in list(self._chores):
                chore.cancel()
        if self._client is not None:
            await _close(self._client)
        if self._cluster is not None:
            await self._cluster.close()

    # -- runs ------------------------------------------------------------------------------

    async def run(self, task: Task, kind: Kind, ctx: TaskContext, reattach: bool) -> None:
        task_id = task.task_id
        here = self._remotes[task_id] = _Remote(ctx, worker=task.worker if reattach else None)
        try:
            client = await self._ready(reattach)
            if reattach:
                here.key = await self._published_key(client, task_id)
                here.future = await client.get_dataset(here.key)
            else:
                here.key = f"{self._prefix}{task_id}-{uuid.uuid4().hex[:8]}"
                here.future = client.submit(
                    remote.run, here.key, task_id, self._topic, kind, task.params, task.elapsed,
                    key=here.key, pure=False, retries=0,
                )  # fmt: skip
                await client.publish_dataset(here.future, name=here.key)
            if here.stopping:  # asked while the future was on its way: stop() could not
                await self._send_stop(client, here)
            outcome = await self._outcome(here)
        finally:
            here.done.set()
        if outcome["status"] == "failed":
            raise RuntimeError(outcome["error"])
        if outcome["status"] == "stopped":
            if not here.stopping:  # never, unless a stop meant for another run got here
                raise Ended(TaskStatus.FAILED, "its worker stopped it, and nobody here asked")
            raise Stopped

    async def stop(self, task_id: str) -> str | None:
        """Ask the workers to end this task's work; None once it has (or never started),
        else the error the task ends with."""
        here = self._remotes.get(task_id)
        if here is None or here.done.is_set():
            return None
        here.stopping = True
        try:
            async with asyncio.timeout(self.stop_timeout):
                if self._client is not None and here.future is not None:
                    await self._send_stop(self._client, here)
                await here.done.wait()
        except TimeoutError:
            where = here.worker or "its worker"
            return (
                f"{where} did not confirm the stop within {self.stop_timeout:g} s; "
                "the work there may still be running"
            )
        return None

    def forget(self, task_id: str) -> None:
        """The task's end is recorded: let the scheduler drop it and its outcome (or, with
        no connection now, the next connection's sweep)."""
        here = self._remotes.pop(task_id, None)
        if here is None or not here.key or self._client is None:
            return
        self._chore(self._drop(self._client, here.key, here.future, confirmed=here.done.is_set()))

    @property
    def outlives_app(self) -> bool:
        """A LocalCluster ends with the app; a cluster of its own runs on without it."""
        return LOCAL.fullmatch(self.address) is None

    def sweep_from_now(self) -> None:
        """The engine has started and knows which tasks run here: from now on each new
        connection drops what earlier runs of the app left on the cluster."""
        self._may_sweep = True
        if self._client is not None:
            self._chore(self._sweep(self._client))

    async def _outcome(self, here: _Remote) -> dict[str, Any]:
        assert here.future is not None
        try:
            return await here.future
        except FutureCancelledError as exc:
            if here.stopping:
                return {"status": "stopped"}  # cancelled before it started anywhere
            if exc.reason == "scheduler-connection-lost":
                raise Ended(
                    TaskStatus.INTERRUPTED, f"lost the connection to the Dask scheduler at "
                    f"{self.address} while the task ran"
                ) from None  # fmt: skip
            raise Ended(TaskStatus.FAILED, f"Dask cancelled the task: {exc.reason}") from None
        except KilledWorker as exc:
            raise Ended(
                TaskStatus.FAILED,
                f"worker lost: {exc.last_worker.address} died while running it, and Dask "
                f"gives up after {exc.allowed_failures + 1} worker(s) (allowed-failures)",
            ) from None

    async def _published_key(self, client: Client, task_id: str) -> str:
        mine = f"{self._prefix}{task_id}-"
        for name in await client.list_datasets():
            if isinstance(name, str) and name.startswith(mine):
                return name
        raise Ended(
            TaskStatus.INTERRUPTED,
            "the app restarted and the Dask scheduler no longer knows this task "
            "(the scheduler restarted too)",
        )

    async def _send_stop(self, client: Client, here: _Remote) -> None:
        # Every worker hears it: after a worker died, Dask may run it on another one before
        # its event says so, and a worker that has not started it yet keeps it from starting.
        await client.run(remote.stop, here.key, on_error="ignore")
        if here.worker is None and here.future is not None:
            # Not started anywhere (as far as we know): the scheduler forgets it.
            with contextlib.suppress(Exception):
                await client.unpublish_dataset(here.key)
            await client.cancel(here.future, reason="stopped by the user")

    async def _drop(
        self, client: Client, key: str, future: Future | None, confirmed: bool = True
    ) -> None:
        with contextlib.suppress(Exception):  # gone with the scheduler, or never published
            if not confirmed:  # its work may still run: every worker is told again
                await client.run(remote.stop, key, on_error="ignore")
            await client.unpublish_dataset(key)
        if future is not None:
            future.release()

    async def _sweep(self, client: Client) -> None:
        """Drop our datasets (and stop their work) that no task here waits for any more:
        runs given up while the connection or the app was away, or whose stop was never
        confirmed."""
        with contextlib.suppress(Exception):
            for name in await client.list_datasets():
                if not (isinstance(name, str) and name.startswith(self._prefix)):
                    continue
                task_id = name[len(self._prefix) :].rsplit("-", 1)[0]
                if task_id not in self._remotes and not self._wanted(task_id):
                    await self._drop(client, name, None, confirmed=False)

    def _chore(self, work: Coroutine[Any, Any, None]) -> None:
        chore = asyncio.create_task(work)
        self._chores.add(chore)
        chore.add_done_callback(self._chores.discard)

    # -- the connection --------------------------------------------------------------------

    async def _ready(self, reattach: bool) -> Client:
        """The connected client; a task that cannot reach the cluster ends at once."""
        if reattach and not self._connected.is_set():
            # At start-up the first connection may still be under way.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._connect_timeout):
                    await self._connected.wait()
        if self._client is None or not self._connected.is_set():
            reason = self.info.error or "not connected"
            status = TaskStatus.INTERRUPTED if reattach else TaskStatus.FAILED
            doing = "reattach to it" if reattach else "run it"
            raise Ended(
                status, f"could not reach the Dask scheduler at {self.address} to {doing}: {reason}"
            )
        return self._client

    async def _keep_connected(self) -> None:
        address = self._cluster.scheduler_address if self._cluster else self.address
        while not self._closing:
            try:
                client = await self._connect(address)
            except Exception as exc:  # whatever it is, the app goes on and tries again
                log.warning("cannot connect to the Dask scheduler at %s: %r", address, exc)
                self._tell(ClusterInfo(self.address, error=_reason(exc)))
                await asyncio.sleep(RETRY_SECONDS)
                continue
            client.subscribe_topic(self._topic, self._on_event)
            self._client = client
            self._connected.set()
            if self._may_sweep:
                self._chore(self._sweep(client))
            try:
                # Dask's client tries to reconnect on its own, but its futures are lost
                # then all the same; a fresh client after a loss is simpler to reason about.
                while client.status == "running" and not self._closing:
                    await self._refresh(client)
                    await asyncio.sleep(POLL_SECONDS)
            finally:
                self._connected.clear()
                self._client = None
                if not self._closing:
                    self._tell(
                        ClusterInfo(self.address, error="lost the connection to the scheduler")
                    )
                await _close(client)

    async def _connect(self, address: str) -> Client:
        client = Client(
            address,
            asynchronous=True,
            security=self._security,
            timeout=self._connect_timeout,
            set_as_default=False,
        )
        try:
            await client
        except BaseException:
            # Dask leaves a client that failed to start for its __del__ to close, which
            # cannot await the closing (a "never awaited" warning): closed here instead.
            await _close(client)
            raise
        return client

    async def _refresh(self, client: Client) -> None:
        try:
            identity = await client.scheduler.identity()
        except OSError:
            return  # the loss shows in the client's status next
        workers = identity.get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        self._tell(ClusterInfo(self.address, True, len(workers), threads))

    def _tell(self, info: ClusterInfo) -> None:
        if info != self.info:
            self.info = info
            self._on_info(info)

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        msg = event[1]
        here = self._remotes.get(msg.get("id", ""))
        if here is None or here.done.is_set() or msg.get("key") != here.key:
            return  # another run's (an earlier one of the same task), or one that has ended
        if "started" in msg:
            worker = msg.get("worker")
            if here.worker and worker != here.worker:
                here.ctx.log(f"[task-dashboard] {here.worker} was lost; Dask runs the task again")
            here.worker = worker
            if worker:
                self._on_worker(here.ctx.task_id, worker)
        if "log" in msg:
            here.ctx.write(msg["log"])
        if "progress" in msg:
            here.ctx.progress(msg["progress"])


def security(ca_file: Path | None, cert: Path | None, key: Path | None) -> Security | None:
    """Dask's security object for tls:// addresses, from the files the settings name."""
    if ca_file is None and cert is None and key is None:
        return None
    return Security(
        tls_ca_file=str(ca_file) if ca_file else None,
        tls_client_cert=str(cert) if cert else None,
        tls_client_key=str(key) if key else None,
        require_encryption=True,
    )


async def _close(client: Client) -> None:
    with contextlib.suppress(Exception):
        await client.close(timeout=CLOSE_SECONDS)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
