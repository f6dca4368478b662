"""`python -m bench.cluster [--tasks N] [--rounds R]`: what running on a Dask cluster costs
next to running here, measured in one run on one server.

A real `dask scheduler` and two `dask worker` processes (2 threads each) on 127.0.0.1, and
our server as users run it (`task-dashboard serve`), pointed at the scheduler through PUT
/settings. Each task is a 1 ms timer, so what is measured is the dispatch:
- throughput: N tasks added at once, from the first add to the last `completed` seen on a
  WebSocket, tasks per second, local and dask taking turns for R rounds (medians);
- latency: one task at a time, from sending its add to its `completed` on the WebSocket,
  median and p90 over N tasks; the cluster's added latency is the difference.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

from bench.dask_cluster import DaskCluster
from bench.procs import Server, start
from tests.waiting import until


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--tasks", type=int, default=200, help="tasks per burst (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per executor (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="task-dashboard-bench-cluster-") as tmp:
        root = Path(tmp)
        cluster = DaskCluster(root / "cluster")
        (root / "cluster").mkdir()
        try:
            cluster.start(workers=2)
            with start("ours", root) as server:
                _request(server, "PUT", "/settings", {"scheduler": cluster.address})
                until(lambda: _connected(server), 30, "the app to connect to the cluster")
                with connect(server.url.replace("http", "ws") + "/ws",
                             additional_headers=server.headers) as ws:  # fmt: skip
                    ws.recv(timeout=10)  # the snapshot
                    figures = _measure(server, ws, args.tasks, args.rounds)
        finally:
            cluster.stop()
    _print(figures, args.tasks)
    return 0


def _measure(server: Server, ws: ClientConnection, tasks: int, rounds: int) -> dict:
    rates: dict[str, list[float]] = {"local": [], "dask": []}
    for k in range(rounds):
        for executor in ("local", "dask") if k % 2 == 0 else ("dask", "local"):
            rates[executor].append(_burst(server, ws, executor, tasks))
    latencies = {e: [_one(server, ws, e) for _ in range(tasks)] for e in ("local", "dask")}
    return {"rates": rates, "latencies": latencies}


def _burst(server: Server, ws: ClientConnection, executor: str, tasks: int) -> float:
    began = time.perf_counter()
    ids = {_add(server, executor) for _ in range(tasks)}
    _wait_completed(ws, ids)
    return tasks / (time.perf_counter() - began)


def _one(server: Server, ws: ClientConnection, executor: str) -> float:
    began = time.perf_counter()
    _wait_completed(ws, {_add(server, executor)})
    return time.perf_counter() - began


def _add(server: Server, executor: str) -> str:
    task = _request(server, "POST", "/tasks/add", {"duration": 0.001, "executor": executor})
    return task["task_id"]


def _wait_completed(ws: ClientConnection, ids: set[str]) -> None:
    waiting = set(ids)
    while waiting:
        message = json.loads(ws.recv(timeout=60))
        task = message.get("task") if message["type"] == "task" else None
        if task is not None and task["task_id"] in waiting and task["status"] != "running":
            if task["status"] != "completed":
                raise RuntimeError(f"a task ended {task['status']}: {task['error']}")
            waiting.discard(task["task_id"])


def _connected(server: Server) -> bool:
    return any(e.get("connected") for e in _request(server, "GET", "/executors"))


def _request(server: Server, method: str, path: str, body: object = None) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {**server.headers, "Content-Type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        answer = conn.getresponse()
        data = json.loads(answer.read())
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status} {data}")
        return data
    finally:
        conn.close()


def _print(figures: dict, tasks: int) -> None:
    rate = {e: statistics.median(r) for e, r in figures["rates"].items()}
    lat = {e: sorted(v) for e, v in figures["latencies"].items()}
    median = {e: statistics.median(v) * 1000 for e, v in lat.items()}
    p90 = {e: v[int(0.9 * (len(v) - 1))] * 1000 for e, v in lat.items()}
    print(f"| figure ({tasks} tasks of 1 ms) | local | dask | dask vs local |")
    print("|---|---|---|---|")
    print(
        f"| tasks/s, added at once | {rate['local']:,.0f} | {rate['dask']:,.0f} "
        f"| {rate['dask'] / rate['local']:.2f}x |"
    )
    print(
        f"| add to completed, median (ms) | {median['local']:.1f} | {median['dask']:.1f} "
        f"| +{median['dask'] - median['local']:.1f} ms |"
    )
    print(
        f"| add to completed, p90 (ms) | {p90['local']:.1f} | {p90['dask']:.1f} "
        f"| +{p90['dask'] - p90['local']:.1f} ms |"
    )


if __name__ == "__main__":
    raise SystemExit(main())
