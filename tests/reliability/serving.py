"""`task-dashboard serve --port 0` as a real child process, found through its instance.json.

Only the process started here is ever signalled, by its own pid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.waiting import until

ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    """One run of the real CLI server on a data dir; start() waits until it answers."""

    def __init__(
        self,
        home: Path,
        *args: str,
        env: dict[str, str] | None = None,
        output_dir: Path | None = None,  # stdout/stderr files; not on a disk a test fills
    ) -> None:
        self.home = home
        self.output_dir = output_dir or home.parent
        self.args = args
        self.env = {
            **os.environ,
            "TASK_DASHBOARD_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def out_path(self) -> Path:
        return self.output_dir / f"{self.home.name}-serve-{self.runs}.out"

    @property
    def err_path(self) -> Path:
        return self.output_dir / f"{self.home.name}-serve-{self.runs}.err"

    def spawn(self) -> subprocess.Popen[bytes]:
        self.runs += 1
        command = [sys.executable, "-m", "desktop_app", "serve", "--port", "0", *self.args]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=err)
        return self.proc

    def start(self, timeout: float = 30.0) -> ServeProcess:
        proc = self.spawn()

        def published() -> int | None:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited with {proc.returncode}: {self.output()}")
            try:
                found = json.loads((self.home / "instance.json").read_text())
            except (OSError, ValueError):
                return None
            return found["port"] if found.get("pid") == proc.pid else None

        self.port = until(published, timeout, "instance.json of the new server")
        # Printed just before serve installs its SIGTERM handler: stop() needs that handler.
        until(lambda: "serving on" in self.output(), timeout, "serve's start-up lines")
        return self

    def run_to_exit(self, timeout: float = 30.0) -> tuple[int, str, str]:
        """Start expecting a failure: (exit code, stdout, stderr)."""
        proc = self.spawn()
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"serve did not exit within {timeout} s") from None
        return code, self.out_path.read_text(), self.err_path.read_text()

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") + self.err_path.read_text(errors="replace")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs in the server."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, as a user's Ctrl+C would; SIGKILL only if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"serve ignored SIGTERM for {timeout} s") from None
        return self.proc.returncode

    # -- what the process holds ---------------------------------------------------------------

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError(f"no VmRSS for pid {self.pid}")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
