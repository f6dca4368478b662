"""The measurements. Each scenario gets a fresh server and fills one dict of figures."""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.clients import DASHBOARD_BATCH_MS, WsClients
from bench.load import WrkResult, wrk
from bench.locked import TimedAdd, held_lock, sample
from bench.probe import LIVE_TASK, delta_latency
from bench.procs import Server, start

Figures = dict[str, float]

LIVE = json.dumps(LIVE_TASK)
SHORT = json.dumps({"duration": 0.001, "name": "bench"})
WARM_UP = 200  # adds before the first RSS reading, so it includes what one add allocates


@dataclass(frozen=True)
class Plan:
    tasks: int = 10_000
    clients: int = 10
    cancels: int = 2_000
    probes: int = 200
    probe_seconds: float = 15.0
    # The naive app with clients slows down as tasks pile up: its runs stop at this bound.
    naive_seconds: float = 15.0
    status_seconds: float = 3.0
    startup_runs: int = 5
    connections: int = 10
    repeats: int = 5  # rounds of the add bursts, for a median (bench/__main__.py)
    # Finished tasks already in ours' history for the scenarios at scale (bench/history.py).
    history: int = 100_000
    lock_seconds: float = 10.0  # another process holds the database this long


QUICK = Plan(
    tasks=300,
    clients=3,
    cancels=100,
    probes=20,
    probe_seconds=2.0,
    naive_seconds=2.0,
    status_seconds=1.0,
    startup_runs=1,
    repeats=1,
    history=2_000,
    lock_seconds=2.0,
)


def add_tasks(
    server: Server, plan: Plan, count: int, body: str = LIVE, seconds: float = 300.0
) -> WrkResult:
    result = wrk(
        server,
        "POST",
        "/tasks/add",
        bodies=[body],
        limit=count,
        seconds=seconds,
        connections=plan.connections,
    )
    if result.errors:
        raise RuntimeError(f"{server.kind}: {result.errors} adds failed")
    return result


def get_json(server: Server, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", path, headers=server.headers)
        answer = conn.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"{server.kind}: GET {path} answered {answer.status}")
        return json.loads(answer.read())
    finally:
        conn.close()


def task_ids(server: Server, status: str) -> list[str]:
    tasks = get_json(server, "/tasks/status?limit=100000")["tasks"]
    return [t["task_id"] for t in tasks if t["status"] == status]


def completed(server: Server) -> int:
    found = get_json(server, "/tasks/status?status=completed&limit=1")
    if "total" in found:
        return found["total"]
    return sum(t["status"] == "completed" for t in found["tasks"])  # the naive app: no filter


def wait_completed(server: Server, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while completed(server) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.kind}: {count} tasks did not finish in time")
        time.sleep(0.2)


def floor_adds(server: Server, plan: Plan) -> Figures:
    rate = add_tasks(server, plan, plan.tasks).rate
    # The floor sends nothing to WebSocket clients, so watching costs it nothing.
    return {"add_rate": rate, "add_rate_watched": rate, "add_rate_watched_plain": rate}


def history(server: Server, plan: Plan) -> Figures:
    """Fill with live tasks, then list, watch (latency, bytes) and cancel at that size."""
    figures = {"add_rate": add_tasks(server, plan, plan.tasks).rate}
    # The naive app sends every task; ours, on a long history, the newest as many.
    full = f"/tasks/status?limit={plan.tasks}"
    pages = {"status_page": "/tasks/status", "status_full": full}
    for name, path in pages.items():
        result = wrk(server, "GET", path, seconds=plan.status_seconds, connections=1)
        if result.errors:
            raise RuntimeError(f"{server.kind}: GET {path} failed {result.errors} times")
        figures[name] = result.p50_ms
    # The probe is the last of the `clients` clients; all of them stand for open dashboards.
    with WsClients(server, plan.clients - 1) as watchers:
        watchers.mark()
        probe = delta_latency(server, plan.probes, plan.probe_seconds, DASHBOARD_BATCH_MS)
        latencies = asyncio.run(probe)
        time.sleep(0.5)  # let the watchers finish reading the last change
        figures["bytes_per_change"] = watchers.bytes_per_change()
        if server.kind == "naive":  # it has no batches: a plain client sees the same
            plain = latencies
        else:  # a script that never asks for batches: a frame per change
            plain = asyncio.run(delta_latency(server, plan.probes, plan.probe_seconds, 0))
    answer, request = latencies.after_answer_ms, latencies.after_request_ms
    figures["latency_samples"] = len(answer)
    figures["latency_p50"] = percentile(answer, 50)
    figures["latency_p99"] = percentile(answer, 99)
    figures["request_latency_p99"] = percentile(request, 99)
    # Its delta goes out before its answer (the group commit publishes, then answers).
    figures["plain_request_latency_p99"] = percentile(plain.after_request_ms, 99)
    ids = task_ids(server, "running")[: plan.cancels]
    cancels = [json.dumps({"task_id": i}) for i in ids]
    result = wrk(server, "POST", "/tasks/cancel", bodies=cancels, limit=len(ids), seconds=300)
    if result.errors or len(ids) < plan.cancels:
        raise RuntimeError(f"{server.kind}: cancelling failed ({result.errors} errors)")
    figures["cancel_seconds"] = result.seconds
    return figures


def adds_watched(server: Server, plan: Plan) -> Figures:
    """Adds while `clients` dashboards watch every change."""
    bound = plan.naive_seconds if server.kind == "naive" else 300.0
    with WsClients(server, plan.clients) as clients:
        clients.mark()
        result = add_tasks(server, plan, plan.tasks, seconds=bound)
        lag = _delivery_lag_ms(clients, result)
    figures = {"add_rate_watched": result.rate, "added_watched": result.requests}
    figures["delivery_lag_ms"] = lag
    if server.kind == "naive":  # it has no batches: plain clients would see the same
        figures["delivery_lag_plain_ms"] = lag
    return figures


def adds_watched_plain(server: Server, plan: Plan) -> Figures:
    """Adds while `clients` scripts watch, each taking a frame per change."""
    with WsClients(server, plan.clients, batch_ms=0) as clients:
        clients.mark()
        result = add_tasks(server, plan, plan.tasks)
        lag = _delivery_lag_ms(clients, result)
    return {"add_rate_watched_plain": result.rate, "delivery_lag_plain_ms": lag}


def _delivery_lag_ms(clients: WsClients, burst: WrkResult) -> float:
    """How long after the last add was answered (wrk's clock, the machine's monotonic one)
    every client had been told of every add: an add rate means little if the deltas pile
    up behind it. Negative when they all came before that answer; infinite when a client
    was dropped or never got them all."""
    delivered = clients.delivered(burst.requests)
    return math.inf if delivered is None else (delivered - burst.ended_at) * 1000


def memory(server: Server, plan: Plan) -> Figures:
    """RSS growth while `tasks` short tasks run to completion and stay in the history
    (counted from what the history already held)."""
    held = completed(server)
    add_tasks(server, plan, WARM_UP, body=SHORT)
    wait_completed(server, held + WARM_UP)
    before = server.rss_mb()
    add_tasks(server, plan, plan.tasks, body=SHORT)
    wait_completed(server, held + WARM_UP + plan.tasks)
    time.sleep(0.5)
    return {"rss_per_10k": (server.rss_mb() - before) * 10_000 / plan.tasks}


def startup(kinds: tuple[str, ...], plan: Plan, workdir: Path) -> dict[str, Figures]:
    """Median time from spawn to the first HTTP 200, fresh data dir each time; ours also on
    a long history. The kinds take turns, so a busy moment on the machine hits them alike."""
    runs = [(kind, 0) for kind in kinds] + [("ours", plan.history)]
    samples: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
    rss: dict[int, list[float]] = {0: [], plan.history: []}  # ours, once started
    whole: list[float] = []  # ours: until the history paged in behind the start is all in
    for _ in range(plan.startup_runs):
        for kind, history in runs:
            with start(kind, workdir, history=history) as server:
                samples[kind, history].append(server.started_in * 1000)
                if kind == "ours":
                    began = time.perf_counter()
                    completed(server)  # a filter on finished tasks waits for all of them
                    if history:
                        whole.append((server.started_in + time.perf_counter() - began) * 1000)
                    rss[history].append(server.rss_mb())
    figures: dict[str, Figures] = {kind: {} for kind in kinds}
    for (kind, history), ms in samples.items():
        figures[kind]["startup_history_ms" if history else "startup_ms"] = statistics.median(ms)
    figures["ours"]["startup_whole_history_ms"] = statistics.median(whole)
    # What holding the history costs, next to an empty one (RSS growth while tasks finish
    # under-reports it on a long history: they fill memory that loading it freed).
    held = statistics.median(rss[plan.history]) - statistics.median(rss[0])
    figures["ours"]["history_rss_per_10k"] = held * 10_000 / plan.history
    return figures


def locked(server: Server, plan: Plan) -> Figures:
    """While another process holds the database: reads and the WebSocket, next to the
    same before the lock; an add waits for the busy timeout, then answers 503."""
    add_tasks(server, plan, 100)
    before = sample(server, plan.lock_seconds / 2)
    with held_lock(server.home / "tasks.db"):
        add = TimedAdd(server)
        during = sample(server, plan.lock_seconds)
        add.join()
    if add.status != 503:
        raise RuntimeError(f"an add during the lock answered {add.status}, not 503")
    figures = {"locked_add_seconds": add.seconds}
    for name in before:
        figures[f"{name}_p99"] = percentile(before[name], 99)
        figures[f"locked_{name}_p99"] = percentile(during[name], 99)
    return figures


def percentile(values: list[float], p: float) -> float:
    if not values:
        raise RuntimeError("no latency samples")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
