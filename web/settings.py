"""Frozen settings: where data lives, what to bind, how to authenticate.

Built once by the caller (CLI, desktop launcher, tests) and handed to create_app();
nothing here touches the disk.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from web.cluster import WITHOUT_TOKEN
from web.realtime import SNAPSHOT_TASKS

APP_NAME = "task-dashboard"
HOME_ENV = "TASK_DASHBOARD_HOME"
KINDS_ENV = "TASK_DASHBOARD_KINDS_FILE"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class SettingsError(ValueError):
    """A setting that cannot work; the message says which and what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _path_from_env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def default_data_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    log_dir: Path = field(default_factory=default_log_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    auth: bool = True
    # A fixed token (tests, scripted deployments); None means the per-install token file.
    token: str | None = None
    # Extra names the Host header may carry besides the loopback ones (e.g. a LAN hostname).
    allowed_hosts: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    max_concurrent: int | None = None
    # How often coalesced progress is written and published (seconds).
    progress_interval: float = 0.25
    # Per WebSocket client: distinct task changes waiting to be sent before it is resynced.
    # One progress flush changes up to every running task at once, so this must stay well
    # above the number of running tasks: at 1000, 10,000 running tasks resynced every client
    # with a 3 MB snapshot on every flush (bench/). The backlog holds one entry per task
    # anyway, so a high limit costs little memory.
    ws_max_pending: int = 100_000
    # A send that takes longer than this drops the client (it stopped reading).
    ws_send_timeout: float = 30.0
    # A Python file whose @kind functions become task kinds (besides installed packages).
    kinds_file: Path | None = field(default_factory=lambda: _path_from_env(KINDS_ENV))
    # Seconds a cancelled command gets between SIGTERM and SIGKILL.
    kill_grace: float = 5.0
    # Per task log file; past it the oldest half is dropped.
    task_log_max_bytes: int = 1024 * 1024
    # How long a write waits for another process's lock on the database before the change
    # is refused (503); the server keeps answering everything else meanwhile.
    db_busy_timeout: float = 5.0
    # Finished tasks read before the server answers at start; older ones are paged in
    # behind. At least a WebSocket snapshot's worth, which then never waits for them.
    history_window: int = 1000
    # The executor for tasks that name none, and the Dask scheduler of the `dask` one
    # (web/cluster/); None: as stored (PUT /settings), else local and no cluster.
    executor: str | None = None
    scheduler: str | None = None
    # For tls:// schedulers: Dask's security files (CA, this client's certificate and key).
    tls_ca_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # How long a cancel waits for a cluster worker to confirm that the work has stopped.
    cluster_stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not self.auth and not is_loopback(self.host):
            raise SettingsError(
                f"refusing to serve on {self.host} without a token: --no-auth is allowed only "
                "on a loopback address (127.0.0.1, ::1, localhost)"
            )
        wants_cluster = self.scheduler not in (None, "none") or self.executor == "dask"
        if not self.auth and wants_cluster:
            raise SettingsError(f"{WITHOUT_TOKEN}; drop --no-auth")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise SettingsError("max_concurrent must be at least 1 (or unset for no limit)")
        if self.history_window < SNAPSHOT_TASKS:
            raise SettingsError(f"history_window must be at least {SNAPSHOT_TASKS}")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tasks.db"

    @property
    def task_logs_dir(self) -> Path:
        return self.data_dir / "task-logs"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "token"

    @property
    def instance_path(self) -> Path:
        return self.data_dir / "instance.json"

    def host_names(self) -> frozenset[str]:
        """Hostnames the Host header may carry (DNS-rebinding defence)."""
        names = {*LOOPBACK_NAMES, "[::1]", *self.allowed_hosts}
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            names.add(self.host)
        return frozenset(n.lower() for n in names)
