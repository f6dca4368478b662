"""`python -m bench.soak [--seconds 300] [--json FILE]`: a bounded soak of the real server.

`task-dashboard serve` in its own process, then, until the time is up: adds (short and
long tasks), cancels, clearing the finished ones, and WebSocket churn (clients that
connect, read the snapshot and leave), while one client stays connected throughout and
must keep receiving. Memory (VmRSS) and open files are sampled after a warm-up and again
at the end, with the same work in flight; the run fails if either grew.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from websockets.sync.client import connect

from bench.procs import Server, start

RSS_SLACK_MIB = 16.0  # allocator noise; a leak per request grows far past it in minutes
FD_SLACK = 4
MAX_ROUNDS = 1_000_000  # a bound on the loop besides the clock


@dataclass
class Figures:
    seconds: float
    rounds: int
    adds: int
    cancels: int
    ws_connections: int
    deltas_seen: int
    rss_mib_after_warmup: float
    rss_mib_at_end: float
    fds_after_warmup: int
    fds_at_end: int

    @property
    def flat(self) -> bool:
        return (
            self.rss_mib_at_end - self.rss_mib_after_warmup <= RSS_SLACK_MIB
            and self.fds_at_end - self.fds_after_warmup <= FD_SLACK
        )


def open_fds(server: Server) -> int:
    return len(list(Path(f"/proc/{server.proc.pid}/fd").iterdir()))


def settle(http: httpx.Client) -> None:
    """The same state at both samples: nothing running, no history."""
    running = http.get("/tasks/status", params={"status": "running,queued", "limit": 100_000})
    for task in running.json()["tasks"]:
        http.post("/tasks/cancel", json={"task_id": task["task_id"]})
    http.delete("/tasks/finished")


def soak(seconds: float, seed: int = 1) -> Figures:
    rng = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as workdir,
        start("ours", Path(workdir)) as server,
    ):
        ws_url = f"ws://127.0.0.1:{server.port}/ws"
        seen = [0]
        stop = threading.Event()

        def watch() -> None:
            with connect(ws_url, additional_headers=server.headers) as ws:
                while not stop.is_set():
                    try:
                        ws.recv(timeout=0.5)
                    except TimeoutError:
                        continue
                    seen[0] += 1

        watcher = threading.Thread(target=watch, name="soak-watcher", daemon=True)
        watcher.start()
        adds = cancels = connections = rounds = 0
        warmup_end = time.monotonic() + max(1.0, seconds * 0.2)
        end = time.monotonic() + seconds
        baseline: tuple[float, int] | None = None
        with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as http:
            while rounds < MAX_ROUNDS and time.monotonic() < end:
                rounds += 1
                ids = []
                for _ in range(20):
                    duration = 600.0 if rng.random() < 0.3 else rng.uniform(0.05, 0.5)
                    answer = http.post("/tasks/add", json={"duration": duration, "name": "soak"})
                    answer.raise_for_status()
                    ids.append(answer.json()["task_id"])
                    adds += 1
                for task_id in rng.sample(ids, 8):
                    if http.post("/tasks/cancel", json={"task_id": task_id}).status_code == 200:
                        cancels += 1
                for _ in range(3):
                    with connect(ws_url, additional_headers=server.headers) as ws:
                        ws.recv(timeout=30)  # the snapshot
                    connections += 1
                if rounds % 10 == 0:
                    settle(http)
                if baseline is None and time.monotonic() >= warmup_end:
                    settle(http)
                    baseline = (server.rss_mb(), open_fds(server))
            settle(http)
            final = (server.rss_mb(), open_fds(server))
            seen_before = seen[0]
            http.post("/tasks/add", json={"duration": 0.01})
            deadline = time.monotonic() + 10
            while seen[0] == seen_before and time.monotonic() < deadline:
                time.sleep(0.01)  # a deadline poll for the watcher's next delta
            if seen[0] == seen_before:
                raise RuntimeError("the long-lived WebSocket client stopped receiving")
        stop.set()
        watcher.join(5)
        assert baseline is not None
        return Figures(
            seconds=seconds,
            rounds=rounds,
            adds=adds,
            cancels=cancels,
            ws_connections=connections,
            deltas_seen=seen[0],
            rss_mib_after_warmup=round(baseline[0], 1),
            rss_mib_at_end=round(final[0], 1),
            fds_after_warmup=baseline[1],
            fds_at_end=final[1],
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="how long (default 300)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = soak(args.seconds, args.seed)
    for key, value in asdict(figures).items():
        print(f"{key:<22} {value}")
    print(f"{'flat':<22} {figures.flat}")
    if args.json:
        args.json.write_text(json.dumps({**asdict(figures), "flat": figures.flat}, indent=2))
    return 0 if figures.flat else 1


if __name__ == "__main__":
    sys.exit(main())
