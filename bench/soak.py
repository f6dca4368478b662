"""`python -m bench.soak [--seconds 300] [--rate 50] [--clients 10] [--json FILE]`: a soak of
the real server at a steady rate, with clients that must never lose a delta.

`task-dashboard serve` in its own process, then, until the time is up: adds paced at
`--rate` a second of short tasks that finish on their own (a few longer ones, a tenth of
the adds followed by a cancel), the finished ones cleared every second so the history
stays small; `--clients` WebSocket clients each keep a view of the tasks (the snapshot,
then every delta) and churn: each leaves after a random while and comes back, rebuilding
its view from a new snapshot. One more client stays connected throughout. Memory (VmRSS)
and open files are sampled every few seconds after a warm-up; the run reports their
least-squares slope and first and last values, and fails unless both are flat.

At the end the adds stop, what is still running is cancelled, the history is cleared and a
last few tasks are added and finish while every client stays connected; then every
client's view must equal `GET /tasks/status` (task by task, field by field) within a
deadline, without a reconnect: a view that does not lost a delta.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from bench.procs import Server, start
from bench.views import Viewer, first_difference
from tests.waiting import until

# Today's slack between the first and the last sample: allocator noise; a leak per request
# grows far past it in minutes.
RSS_SLACK_MIB = 16.0
FD_SLACK = 4
# The slopes are judged only over a window of at least 10 minutes: over seconds, one arena
# the allocator takes (a MiB or two) is a slope of hundreds of MiB an hour. Over 25 minutes
# (the 30-minute soak after its warm-up) one such 2 MiB step in the middle fits a slope of
# about 7 MiB an hour, within 10; a leak that matters does not: at 50 adds a second and a
# reconnect a second, 10 MiB an hour is under 60 bytes per add, less than any object a
# task or a connection could leave behind (and 240 MiB a day for a dashboard left open).
RSS_SLOPE_MIB_PER_HOUR = 10.0
# Open files come and go with the clients' connections (a few at any sample), noise that
# does not trend; a leak of one per connection would be thousands an hour.
FD_SLOPE_PER_HOUR = 10.0
JUDGE_SLOPE_AFTER = 600.0  # seconds of samples

LIVE = "running,queued,scheduled,paused"
LIVE_CAP = 90  # adds wait while this many tasks are live: the snapshot stays small
CLEAR_EVERY = 1.0  # seconds between clearing the finished tasks
CANCEL_SHARE = 0.1
LATE_RESET = 1.0  # seconds behind the pace: drop the missed adds rather than burst them
TAIL_TASKS, TAIL_CANCELS = 20, 5
SETTLE_DEADLINE = 60.0
CONVERGE_DEADLINE = 30.0
PROGRESS_EVERY = 60.0  # seconds between the lines on stderr while it samples


@dataclass
class Figures:
    seconds: float
    rate_target: float
    adds: int
    add_rate: float  # achieved, adds per second over the run
    adds_held: int  # slots skipped while LIVE_CAP tasks were live
    late_resets: int  # times the adder fell LATE_RESET behind and dropped the missed adds
    cancels: int
    clears: int
    max_live: int
    max_total: int
    clients: int  # churning ones; one more stays connected throughout
    ws_connections: int
    snapshots: int
    deltas_applied: int
    removals_applied: int
    batches_applied: int
    seq_regressions: int
    final_tasks: int  # on the server when the views were compared
    views_equal: bool
    view_failures: list[str]
    warmup_seconds: float
    samples: int
    sample_window_seconds: float
    rss_mib_first: float
    rss_mib_last: float
    rss_slope_mib_per_hour: float
    fds_first: int
    fds_last: int
    fds_slope_per_hour: float
    slope_judged: bool = field(init=False)

    def __post_init__(self) -> None:
        self.slope_judged = self.sample_window_seconds >= JUDGE_SLOPE_AFTER

    @property
    def flat(self) -> bool:
        ends = (
            self.rss_mib_last - self.rss_mib_first <= RSS_SLACK_MIB
            and self.fds_last - self.fds_first <= FD_SLACK
        )
        slopes = (
            self.rss_slope_mib_per_hour <= RSS_SLOPE_MIB_PER_HOUR
            and self.fds_slope_per_hour <= FD_SLOPE_PER_HOUR
        )
        return ends and (slopes or not self.slope_judged)

    @property
    def ok(self) -> bool:
        return self.flat and self.views_equal and self.seq_regressions == 0


def open_fds(server: Server) -> int:
    return len(list(Path(f"/proc/{server.proc.pid}/fd").iterdir()))


def slope_per_hour(samples: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) pairs, per hour."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_v = sum(v for _, v in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if not spread:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread * 3600


class Sampler:
    """RSS and open files of the server every `every` seconds, from `after` on."""

    def __init__(self, server: Server, after: float, every: float) -> None:
        self.samples: list[tuple[float, float, int]] = []  # (monotonic, MiB, files)
        self._server, self._after, self._every = server, after, every
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if self._stop.wait(self._after):
            return
        shown = 0.0
        while True:
            server = self._server
            sample = (time.monotonic(), server.rss_mb(), open_fds(server))
            self.samples.append(sample)
            if sample[0] - shown >= PROGRESS_EVERY:
                # A long run shows how it goes (and what it had, should it be cut short).
                print(
                    f"{sample[0] - self._began:.0f} s: {sample[1]:.1f} MiB, {sample[2]} files",
                    file=sys.stderr,
                    flush=True,
                )
                shown = sample[0]
            if self._stop.wait(self._every):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Adder:
    """Adds at a steady pace, a few cancels, the finished ones cleared every second."""

    def __init__(self, http: httpx.Client, rate: float, rng: random.Random) -> None:
        self.http, self.rate, self.rng = http, rate, rng
        self.recent: deque[str] = deque(maxlen=20)
        self.adds = self.held = self.late = self.cancels = self.clears = 0
        self.max_live = self.max_total = 0
        self.live = 0

    def add(self, duration: float) -> str:
        answer = self.http.post("/tasks/add", json={"duration": duration, "name": "soak"})
        answer.raise_for_status()
        self.adds += 1
        return answer.json()["task_id"]

    def cancel(self, task_id: str) -> None:
        if self.http.post("/tasks/cancel", json={"task_id": task_id}).status_code == 200:
            self.cancels += 1  # a 409 (it had finished) counts for nothing

    def clear(self) -> None:
        self.http.delete("/tasks/finished").raise_for_status()
        self.clears += 1
        counts = self.http.get("/tasks/status", params={"limit": 1}).json()
        self.live = sum(counts["counts"][s] for s in LIVE.split(","))
        self.max_live = max(self.max_live, self.live)
        self.max_total = max(self.max_total, counts["total"])

    def run_until(self, end: float) -> None:
        interval = 1 / self.rate
        now = time.monotonic()
        next_add, next_clear = now, now + CLEAR_EVERY
        while (now := time.monotonic()) < end:
            if now >= next_clear:
                self.clear()
                next_clear = now + CLEAR_EVERY
            if now < next_add:
                time.sleep(min(next_add, end) - now)  # pacing: wait for the next add's slot
                continue
            if now - next_add > LATE_RESET:
                self.late += 1
                next_add = now
            next_add += interval
            if self.live >= LIVE_CAP:
                self.held += 1
                continue
            # Mostly 0.2-1.2 s, a tenth 3-6 s: about 55 live at 50 adds a second.
            long = self.rng.random() < 0.1
            self.recent.append(
                self.add(self.rng.uniform(3, 6) if long else 0.2 + self.rng.random())
            )
            if self.rng.random() < CANCEL_SHARE:
                self.cancel(self.rng.choice(self.recent))

    def settle(self) -> None:
        """Cancel what is still live and wait until nothing is; then clear the history."""
        live = self.http.get("/tasks/status", params={"status": LIVE, "limit": 100_000})
        for task in live.json()["tasks"]:
            self.cancel(task["task_id"])
        self.wait_idle()
        self.clear()

    def wait_idle(self) -> None:
        def idle() -> bool:
            answer = self.http.get("/tasks/status", params={"status": LIVE, "limit": 1})
            return answer.json()["total"] == 0

        until(idle, SETTLE_DEADLINE, "every task to finish")


def converge(viewers: Sequence[Viewer], server: dict[str, dict]) -> list[str]:
    """Wait until every view equals the server's tasks; what still differs at the deadline."""
    deadline = time.monotonic() + CONVERGE_DEADLINE
    while True:
        failures = []
        for viewer in viewers:
            if (difference := first_difference(viewer.view(), server)) is not None:
                failures.append(f"{viewer.name}: {difference}")
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(0.05)  # a deadline poll


def soak(
    seconds: float, seed: int = 1, rate: float = 50.0, clients: int = 10, stay: float = 20.0
) -> Figures:
    rng = random.Random(seed)
    warmup = min(300.0, max(1.0, seconds * 0.2))
    every = min(5.0, max(0.2, seconds / 40))
    with (
        tempfile.TemporaryDirectory(prefix="soak-") as workdir,
        start("ours", Path(workdir)) as server,
        httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as http,
    ):
        ws_url = f"ws://127.0.0.1:{server.port}/ws"
        viewers = [
            Viewer(f"client-{n}", ws_url, server.headers, stay, seed * 1000 + n)
            for n in range(clients)
        ]
        viewers.append(Viewer("steady", ws_url, server.headers, None, seed * 1000 + clients))
        for viewer in viewers:
            viewer.start()
        sampler = Sampler(server, warmup, every)
        adder = Adder(http, rate, rng)
        began = time.monotonic()
        adder.run_until(began + seconds)
        ran = time.monotonic() - began
        adds_in_run = adder.adds
        sampler.stop()

        # The end: every client connected for good, then the last changes, then compare.
        for viewer in viewers:
            viewer.settle()

        def all_staying() -> bool:
            if broken := [f"{v.name}: {v.error!r}" for v in viewers if v.error]:
                raise RuntimeError(f"a client failed: {'; '.join(broken)}")
            return all(v.staying.is_set() for v in viewers)

        until(all_staying, CONVERGE_DEADLINE, "every client to connect for the end")
        connections = [v.counts.connections for v in viewers]
        adder.settle()
        tail = [adder.add(rng.uniform(0.05, 0.4)) for _ in range(TAIL_TASKS)]
        for task_id in rng.sample(tail, TAIL_CANCELS):
            adder.cancel(task_id)
        adder.wait_idle()
        listed = http.get("/tasks/status", params={"limit": 100_000}).json()["tasks"]
        final = {task["task_id"]: task for task in listed}
        failures = converge(viewers, final)
        for viewer, before in zip(viewers, connections, strict=True):
            if viewer.error is not None:
                failures.append(f"{viewer.name}: failed: {viewer.error!r}")
            elif viewer.counts.connections != before:
                failures.append(f"{viewer.name}: reconnected during the end")
        for viewer in viewers:
            viewer.stop()

    samples = sampler.samples
    if len(samples) < 2:
        raise RuntimeError(f"only {len(samples)} samples: run longer than the warm-up")
    counts = [v.counts for v in viewers]
    return Figures(
        seconds=round(ran, 1),
        rate_target=rate,
        adds=adder.adds,
        add_rate=round(adds_in_run / ran, 1),
        adds_held=adder.held,
        late_resets=adder.late,
        cancels=adder.cancels,
        clears=adder.clears,
        max_live=adder.max_live,
        max_total=adder.max_total,
        clients=clients,
        ws_connections=sum(c.connections for c in counts),
        snapshots=sum(c.snapshots for c in counts),
        deltas_applied=sum(c.deltas for c in counts),
        removals_applied=sum(c.removals for c in counts),
        batches_applied=sum(c.batches for c in counts),
        seq_regressions=sum(c.seq_regressions for c in counts),
        final_tasks=len(final),
        views_equal=not failures,
        view_failures=failures,
        warmup_seconds=round(warmup, 1),
        samples=len(samples),
        sample_window_seconds=round(samples[-1][0] - samples[0][0], 1),
        rss_mib_first=round(samples[0][1], 1),
        rss_mib_last=round(samples[-1][1], 1),
        rss_slope_mib_per_hour=round(slope_per_hour([(t, r) for t, r, _ in samples]), 2),
        fds_first=samples[0][2],
        fds_last=samples[-1][2],
        fds_slope_per_hour=round(slope_per_hour([(t, f) for t, _, f in samples]), 2),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="how long (default 300)")
    parser.add_argument("--rate", type=float, default=50.0, help="adds a second (default 50)")
    parser.add_argument("--clients", type=int, default=10, help="churning clients (default 10)")
    parser.add_argument(
        "--stay", type=float, default=20.0, help="a client's longest connection (default 20 s)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.clients < 1 or args.stay <= 0:
        parser.error("--rate and --stay must be above 0, --clients at least 1")
    figures = soak(args.seconds, args.seed, args.rate, args.clients, args.stay)
    result = {**asdict(figures), "flat": figures.flat, "ok": figures.ok}
    for key, value in result.items():
        if key != "view_failures":
            print(f"{key:<24} {value}")
    for failure in figures.view_failures:
        print(f"view differs: {failure}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
