"""GET /stats and GET /tasks/export over a big history, against a real server.

Writes 100,000 finished tasks spread over the last week straight into a store, serves it
(uvicorn on a real socket, in this process), and times GET /stats for each range next to
GET /healthz on the same server and connection, so the machine's speed cancels out in the
ratio; the absolute figure is what the < 50 ms target is about. The first GET /stats,
which reads the history in (web/columns.py), is timed on its own. Then one streamed export.

    .venv/bin/python bench/stats.py [--tasks 100000] [--samples 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.seed import seed_history
from tests.conftest import TOKEN, LiveServer
from web.settings import Settings

WEEK = 7 * 86_400
TARGET_MS = 50


def timed(client, path: str, samples: int) -> float:  # type: ignore[no-untyped-def]
    """Median milliseconds of `samples` GETs (after one untimed)."""
    client.get(path).raise_for_status()
    spent = []
    for _ in range(samples):
        began = time.perf_counter()
        client.get(path).raise_for_status()
        spent.append((time.perf_counter() - began) * 1000)
    return statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs", token=TOKEN)
        seed_history(
            settings.db_path, args.tasks, first=time.time() - WEEK, spacing=WEEK / args.tasks
        )
        server = LiveServer(settings).start()
        try:
            with server.client() as client:
                baseline = timed(client, "/healthz", args.samples)
                print(f"{args.tasks:,} tasks; GET /healthz {baseline:.2f} ms (the baseline)")
                began = time.perf_counter()
                client.get("/stats?range=week").raise_for_status()
                cold = (time.perf_counter() - began) * 1000
                print(f"the first GET /stats (reads the history in): {cold:.0f} ms")
                print(f"{'':>36} {'ms':>8} {'ratio':>8}   target < {TARGET_MS} ms")
                for query in (
                    "range=hour",
                    "range=day",
                    "range=week",
                    "range=all",
                    "range=week&status=failed",
                    "range=week&search=backup",  # finds a fifth of the tasks
                    "range=week&search=e",  # three fifths
                    "range=week&search=%2312",  # "#12": 1,111 tasks
                ):
                    ms = timed(client, f"/stats?{query}", args.samples)
                    holds = "holds" if ms < TARGET_MS else "MISSED"
                    print(f"{'GET /stats?' + query:>36} {ms:8.2f} {ms / baseline:7.1f}x   {holds}")
                began = time.perf_counter()
                size = 0
                with client.stream("GET", "/tasks/export?format=ndjson") as response:
                    for piece in response.iter_raw():
                        size += len(piece)
                took = time.perf_counter() - began
                print(
                    f"{'GET /tasks/export?format=ndjson':>36} {took * 1000:8.0f} ms for "
                    f"{size / 1e6:.1f} MB ({args.tasks / took:,.0f} tasks/s)"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
