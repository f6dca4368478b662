"""Servers under test, each its own process: started, timed to the first 200, measured, stopped.

Ours runs exactly as users run it: the `task-dashboard serve` command, auth on, SQLite in a
fresh TASK_DASHBOARD_HOME.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.history import write_history

KINDS = ("floor", "naive", "ours")


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(kind: str, port: int, launcher: list[str] | None = None) -> list[str]:
    if kind != "ours":
        return [sys.executable, "-m", "bench.servers", kind, "--port", str(port)]
    if launcher is None:
        script = shutil.which("task-dashboard", path=str(Path(sys.executable).parent))
        launcher = [script] if script else [sys.executable, "-m", "desktop_app"]
    return [*launcher, "serve", "--port", str(port)]


@dataclass
class Server:
    kind: str
    port: int
    home: Path
    proc: subprocess.Popen[bytes]
    started_in: float = 0.0  # seconds from spawn to the first HTTP 200
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise ServerFailed(f"{self.kind}: no VmRSS for pid {self.proc.pid}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start(
    kind: str,
    workdir: Path,
    timeout: float = 60.0,
    launcher: list[str] | None = None,
    history: int = 0,
) -> Server:
    """`launcher` runs ours another way (e.g. the PyInstaller binary) instead of the script;
    `history`: ours starts on that many finished tasks (bench/history.py)."""
    port = free_port()
    # A folder of its own even when the system hands out a port a server of this run had
    # before (a run of the bench starts some forty servers).
    workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"{kind}-{port}-", dir=workdir))
    if history:
        write_history(home / "tasks.db", history)
    env = {**os.environ, "TASK_DASHBOARD_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    with (home / "server.log").open("wb") as log:
        began = time.perf_counter()
        command = _command(kind, port, launcher)
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    server = Server(kind, port, home, proc)
    try:
        _wait_for_200(server, began + timeout)
    except BaseException:
        server.stop()
        raise
    server.started_in = time.perf_counter() - began
    if kind == "ours":
        token = (home / "token").read_text().strip()
        server.headers = {"Authorization": f"Bearer {token}"}
    return server


def _wait_for_200(server: Server, deadline: float) -> None:
    while True:
        if server.proc.poll() is not None:
            log = (server.home / "server.log").read_text(errors="replace")[-2000:]
            raise ServerFailed(f"{server.kind} exited during start-up:\n{log}")
        if time.perf_counter() > deadline:
            raise ServerFailed(f"{server.kind} gave no 200 on /healthz in time")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.002)  # not listening yet
        finally:
            conn.close()
