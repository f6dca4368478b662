"""A real Dask cluster for the tests: a `dask scheduler` and two `dask worker` processes on
127.0.0.1, started per test (several tests kill one of them) and ended by PID.

Workers run without a nanny, so a killed worker stays dead, and the scheduler gives up on
a task at the first worker lost (allowed-failures 0) unless a test asks for more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from distributed import Client

from tests.conftest import LiveServer
from tests.waiting import until
from web.settings import Settings

GATED_KINDS = Path(__file__).resolve().parents[1] / "kinds" / "gated.py"


@dataclass
class DaskCluster:
    root: Path
    allowed_failures: int = 0
    scheduler: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    address: str = ""

    def start(self, workers: int = 2) -> DaskCluster:
        self.start_scheduler()
        for n in range(workers):
            self.workers.append(
                self._spawn(
                    "dask_worker",
                    self.address,
                    "--no-nanny",
                    "--nthreads",
                    "2",
                    "--name",
                    f"w{n}",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    log=f"worker{n}.log",
                )
            )
        with Client(self.address, timeout=20) as client:
            client.wait_for_workers(workers, timeout=30)
        return self

    def start_scheduler(self, port: int = 0) -> None:
        info = self.root / "scheduler.json"
        info.unlink(missing_ok=True)
        self.scheduler = self._spawn(
            "dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
            "--scheduler-file",
            str(info),
            log="scheduler.log",
        )
        self.address = until(lambda: _read_address(info), 30, "the scheduler to start")

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(10)

    def worker_with_pid(self, pid: int) -> subprocess.Popen:
        return next(w for w in self.workers if w.pid == pid)

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)

    def _spawn(self, module: str, *args: str, log: str) -> subprocess.Popen:
        env = {
            **os.environ,
            "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": str(self.allowed_failures),
        }
        with open(self.root / log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", f"distributed.cli.{module}", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )


def _read_address(path: Path) -> str | None:
    try:
        return json.loads(path.read_text())["address"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    root = tmp_path / "cluster"
    root.mkdir()
    started = DaskCluster(root)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def settings(settings: Settings, cluster: DaskCluster) -> Settings:
    """A server whose tasks run on the cluster by default, with the gated kind loaded."""
    return replace(
        settings,
        executor="dask",
        scheduler=cluster.address,
        kinds_file=GATED_KINDS,
        kill_grace=1.0,
        cluster_stop_timeout=10.0,
    )


def connected(server: LiveServer, workers: int = 2) -> dict:
    """The dask executor as GET /executors says it, once it is connected with `workers`."""

    def check() -> dict | None:
        with server.client() as http:
            dask = next(e for e in http.get("/executors").json() if e["name"] == "dask")
        return dask if dask["connected"] and dask["workers"] == workers else None

    return until(check, 30, f"the app to be connected to {workers} workers")
