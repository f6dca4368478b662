"""HTTP load with wrk (C, so the load generator is never the bottleneck)."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Server

SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    ended_at: float  # time.monotonic() of the last answer

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(
    server: Server,
    method: str,
    path: str,
    *,
    bodies: Sequence[str] = (),
    limit: int = 0,
    seconds: float = 10.0,
    connections: int = 10,
) -> WrkResult:
    """Run until `limit` answers (if given) or `seconds` have passed, whichever comes first.

    Latency percentiles come only from runs without a limit."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as body_file:
        body_file.write("".join(b + "\n" for b in bodies))
        body_file.flush()
        headers = {**server.headers, "Content-Type": "application/json"}
        command = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, math.ceil(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(SCRIPT),
            *(arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")),
            server.url,
            "--",
            method,
            path,
            body_file.name if bodies else "",
            str(limit),
        ]
        raw = _first_result(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
        # Runs with a limit time their last answer; one that ran out of time ended about now.
        ended_at = raw.get("ended_at", time.monotonic())
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=raw["errors"],
        p50_ms=raw.get("p50_us", 0) / 1000,
        p99_ms=raw.get("p99_us", 0) / 1000,
        ended_at=ended_at,
    )


def _first_result(proc: subprocess.Popen[str]) -> dict:
    """The first BENCH line; wrk is then interrupted instead of sleeping out its -d."""
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            if line.startswith("BENCH "):
                proc.send_signal(signal.SIGINT)
                proc.stdout.read()
                return json.loads(line.removeprefix("BENCH "))
    raise RuntimeError(f"wrk exited with {proc.returncode} and printed no result")
