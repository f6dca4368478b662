"""Which executors this server has, which one a task gets by default, and the one way to
change them: `serve --executor/--scheduler`, PUT /settings or the settings panel.

The choice lives in the store's settings table (`executor`, `scheduler`) like the queue's;
options given at start-up win over what is stored and are stored. The `dask` executor
exists while a scheduler address is set. Every client hears a change of the cluster's
state (connected, workers, threads) as an `executors` message, and GET /executors says
the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import asdict, dataclass
from typing import Any

from web.cluster import ADDRESS_HELP, ADDRESS_PATTERN, WITHOUT_TOKEN
from web.realtime import Hub
from web.settings import Settings
from web.tasks.engine import TaskEngine
from web.tasks.errors import InvalidTask, Refused
from web.tasks.model import TaskConflict

log = logging.getLogger(__name__)

ADDRESS = re.compile(ADDRESS_PATTERN)
EXECUTORS = ("local", "dask")
NO_SCHEDULER = "none"  # `serve --scheduler none`: forget the stored cluster


@dataclass(frozen=True)
class ClusterChoice:
    executor: str = "local"  # for tasks that name none
    scheduler: str | None = None  # the dask executor's scheduler; None: no dask executor

    @property
    def public(self) -> dict[str, Any]:
        return asdict(self)


def check(choice: ClusterChoice, settings: Settings) -> None:
    """InvalidTask (422) or Refused (403) with what to fix; nothing if it can work."""
    auth = settings.auth
    if choice.executor not in EXECUTORS:
        raise InvalidTask(f"executor must be one of: {', '.join(EXECUTORS)}")
    if choice.scheduler is not None and not ADDRESS.match(choice.scheduler):
        raise InvalidTask(f"scheduler must look like {ADDRESS_HELP}")
    if choice.executor == "dask" and choice.scheduler is None:
        raise InvalidTask("the dask executor needs a scheduler address: " + ADDRESS_HELP)
    tls_files = (settings.tls_ca_file, settings.tls_cert, settings.tls_key)
    if choice.scheduler and choice.scheduler.startswith("tls://") and None in tls_files:
        raise InvalidTask(
            "a tls:// scheduler needs Dask's security files: start the app with "
            "--tls-ca-file, --tls-cert and --tls-key"
        )
    if choice.scheduler is not None and not auth:
        raise Refused(f"{WITHOUT_TOKEN}; restart it with the token on")


class Executors:
    """The cluster choice in force and the dask executor it made, if any."""

    def __init__(self, engine: TaskEngine, hub: Hub, settings: Settings, app_id: str) -> None:
        self._engine = engine
        self._hub = hub
        self._settings = settings
        self._app_id = app_id
        self.current = ClusterChoice()
        self._dask: Any = None  # a DaskExecutor (imported only when there is a cluster)
        # One change at a time: a change awaits the store and the cluster's start.
        self._changing = asyncio.Lock()
        self._started = False  # the engine has started: it knows what runs on the cluster

    async def start(self, stored: dict[str, object]) -> None:
        """Before the engine starts (it reattaches to tasks on the cluster): take the stored
        choice, with start-up options over it. A choice that cannot work stops the start-up
        (InvalidTask/Refused say why)."""
        given = self._settings
        scheduler = _text_or_none(stored.get("scheduler"))
        executor = str(stored.get("executor") or "local")
        if scheduler is not None and not given.auth:
            log.warning("not using the stored cluster %s: %s", scheduler, WITHOUT_TOKEN)
            scheduler, executor = None, "local"
        if given.scheduler == NO_SCHEDULER:
            scheduler, executor = None, "local"
        elif given.scheduler is not None:
            scheduler = given.scheduler
        choice = ClusterChoice(given.executor or executor, scheduler)
        check(choice, given)
        await self._take(choice)

    async def engine_started(self) -> None:
        """Start-up options are stored (as if set in the panel), and the cluster may now be
        swept of what the engine no longer waits for."""
        self._started = True
        if self._settings.executor or self._settings.scheduler:
            await self._engine.save_settings(self.current.public, then=_nothing)
        if self._dask is not None:
            self._dask.sweep_from_now()

    async def change(self, executor: str | None, scheduler: str | None, keep: set[str]) -> None:
        """PUT /settings: `keep` names what was left out (it stays as it is)."""
        async with self._changing:
            await self._change(executor, scheduler, keep)

    async def _change(self, executor: str | None, scheduler: str | None, keep: set[str]) -> None:
        now = self.current
        choice = ClusterChoice(
            executor=now.executor if "executor" in keep else (executor or "local"),
            scheduler=now.scheduler if "scheduler" in keep else scheduler,
        )
        check(choice, self._settings)
        if choice.scheduler != now.scheduler:
            on_cluster = [t.task_id for t in self._engine.all_running() if t.executor == "dask"]
            if on_cluster:
                raise TaskConflict(
                    f"{len(on_cluster)} task(s) run on the cluster at {now.scheduler}; "
                    "cancel them or let them end before changing the scheduler"
                )
        await self._engine.save_settings(choice.public, then=_nothing)
        await self._take(choice)
        self._hub.publish_settings(choice.public, topic="executors")

    def describe(self) -> list[dict[str, Any]]:
        """GET /executors: each executor and, for a cluster, its state."""
        local = {"name": "local", "default": self.current.executor == "local"}
        if self._dask is None:
            return [local]
        info = self._dask.info
        return [
            local,
            {
                "name": "dask",
                "default": self.current.executor == "dask",
                "address": info.address,
                "connected": info.connected,
                "workers": info.workers,
                "threads": info.threads,
                "error": info.error,
            },
        ]

    async def close(self) -> None:
        if self._dask is not None:
            await self._dask.close()
            self._dask = None

    async def _take(self, choice: ClusterChoice) -> None:
        if choice.scheduler != self.current.scheduler or (
            choice.scheduler is not None and self._dask is None
        ):
            # The new one in before the old one goes: a task that starts meanwhile runs on
            # the new cluster rather than finding no executor.
            old, self._dask = self._dask, None
            if choice.scheduler is not None:
                new = self._make_dask(choice.scheduler)
                await new.start()
                self._dask = new
            self._engine.set_executor("dask", self._dask)
            if self._dask is not None and self._started:
                self._dask.sweep_from_now()
            if old is not None:
                await old.close()
        self._engine.default_executor = choice.executor
        self.current = choice

    def _make_dask(self, address: str) -> Any:
        from web.cluster.executor import DaskExecutor, security  # distributed is heavy: on use

        given = self._settings
        return DaskExecutor(
            address,
            app_id=self._app_id,
            on_worker=self._engine.on_worker,
            on_info=self._told,
            wanted=lambda task_id: self._engine.running_on(task_id, "dask"),
            security=security(given.tls_ca_file, given.tls_cert, given.tls_key),
            stop_timeout=given.cluster_stop_timeout,
        )

    def _told(self, _info: object) -> None:
        self._hub.publish_executors(self.describe())


def cluster_id(database: str) -> str:
    """A stable id for this app's data: its tasks' keys and event topic on a shared cluster."""
    return hashlib.sha256(database.encode()).hexdigest()[:12]


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _nothing() -> None:
    pass
