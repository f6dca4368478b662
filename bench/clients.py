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
    """`batch_ms`: ask for batches (0: a frame per change, as a script that never asks).
    `count_changes`: read the batches, for bytes_per_change()."""

    def __init__(
        self,
        server: Server,
        count: int,
        batch_ms: float = DASHBOARD_BATCH_MS,
        count_changes: bool = False,
    ) -> None:
        self.count = count
        self.exact = count_changes or not batch_ms  # without batches, a message is a change
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
                *(["--count-changes"] if count_changes else []),
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

    def quiet_since(self, quiet: float = 0.5, timeout: float = 120.0) -> float:
        """Wait until no client has received anything for `quiet` seconds; then the
        time.monotonic() at which the last of them got its last message."""
        deadline = time.monotonic() + timeout
        while True:
            last = max(self._ask("report")["last_at"])
            if time.monotonic() - last >= quiet:
                return last
            if time.monotonic() > deadline:
                raise RuntimeError(f"the clients were still receiving after {timeout:.0f} s")
            time.sleep(0.1)

    def bytes_per_change(self) -> float:
        """Mean over clients of the bytes received per change since the mark (a batch
        carries several changes; any other message is one). Needs count_changes."""
        if not self.exact:
            raise RuntimeError("bytes per change needs count_changes when batching")
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
