"""A real Dask cluster on 127.0.0.1 for the tests and the cluster benchmark: a `dask
scheduler` and `dask worker` processes, started here and ended by PID.

Workers run without a nanny, so a killed worker stays dead, and the scheduler gives up on
a task at the first worker lost (allowed-failures 0) unless asked for more.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client, Security

from tests.waiting import until


@dataclass
class DaskCluster:
    root: Path
    allowed_failures: int = 0
    # One self-signed certificate for everyone (CA, scheduler, workers, clients), as Dask's
    # Security.temporary() makes: every connection is then tls://.
    tls: tuple[Path, Path] | None = None  # (certificate, key)
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
                    *self._tls_options(),
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
        with Client(self.address, timeout=20, security=self.security()) as client:
            client.wait_for_workers(workers, timeout=30)
        return self

    def security(self) -> Security | None:
        if self.tls is None:
            return None
        cert, key = (str(p) for p in self.tls)
        return Security(
            tls_ca_file=cert, tls_client_cert=cert, tls_client_key=key, require_encryption=True
        )

    def _tls_options(self) -> list[str]:
        if self.tls is None:
            return []
        cert, key = (str(p) for p in self.tls)
        return ["--tls-ca-file", cert, "--tls-cert", cert, "--tls-key", key]

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
            *self._tls_options(),
            *(["--protocol", "tls"] if self.tls else []),
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
