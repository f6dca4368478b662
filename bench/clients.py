"""Drive a bench.wsclients process: N byte-counting WebSocket clients of one server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from bench.procs import Server

# What the dashboard asks for (BATCH_MS in web/static/js/live.js): clients that stand for
# open dashboards ask for the same.
DASHBOARD_BATCH_MS = 20


class WsClients:
    """`batch_ms`: ask for batches (0: a frame per change, as a script that never asks)."""

    def __init__(self, server: Server, count: int, batch_ms: float = DASHBOARD_BATCH_MS) -> None:
        self.count = count
        headers = [arg for k, v in server.headers.items() for arg in ("--header", f"{k}: {v}")]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.wsclients",
                str(server.port),
                str(count),
                *headers,
                f"--batch-ms={batch_ms}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answer()  # {"ready": true}: every client has its snapshot

    def _answer(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench.wsclients exited with {self.proc.wait()}")
        return json.loads(line)

    def _ask(self, command: str) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def mark(self) -> None:
        """Count from here on (the snapshot is not a task change)."""
        self._ask("mark")

    def delivered(self, changes: int, timeout: float = 120.0) -> float | None:
        """Wait until every client has been told of `changes` changes since the mark; then
        the time.monotonic() at which the last of them got the last of them. None if one
        was dropped, or not all had them in `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            report = self._ask("report")
            if min(report["changes"]) >= changes:
                return max(report["last_at"])
            if not all(report["open"]) or time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def bytes_per_change(self) -> float:
        """Mean over clients of the bytes received per change since the mark (a batch
        carries several changes; any other message is one)."""
        counts = self._ask("report")
        pairs = [(b, c) for b, c in zip(counts["bytes"], counts["changes"], strict=True) if c]
        if not pairs:
            raise RuntimeError("no client received a message")
        return sum(b / c for b, c in pairs) / len(pairs)

    def __enter__(self) -> WsClients:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
