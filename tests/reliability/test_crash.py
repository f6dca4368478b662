"""Crash safety: SIGKILL a real server while it answers adds at full speed, then restart.

Every add that was answered 201 must be there after the restart, the database must pass
`PRAGMA integrity_check`, and what was running must come back `interrupted`. The kill
moment comes from a seeded RNG; the seed is printed and in every failure message, and
RELIABILITY_SEED=<seed> replays it. RELIABILITY_CRASH_ROUNDS sets the number of kills.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.reliability.serving import ServeProcess

ROUNDS = int(os.environ.get("RELIABILITY_CRASH_ROUNDS", "4"))
ADDERS = 2  # client threads adding at once
MAX_ADDS_PER_ROUND = 5000  # a bound, never reached in practice: the kill comes first
LONG = 3600.0  # still running whenever the kill comes
FINISHED = {"completed", "interrupted"}


@dataclass
class Acked:
    """Adds the server answered 201, with the status it answered."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    tasks: dict[str, tuple[float, str]] = field(default_factory=dict)  # id -> (duration, status)
    first: threading.Event = field(default_factory=threading.Event)

    def record(self, task: dict) -> None:
        with self.lock:
            self.tasks[task["task_id"]] = (task["duration"], task["status"])
        self.first.set()


def add_until_refused(server: ServeProcess, rng: random.Random, acked: Acked) -> None:
    """Add tasks back to back until the server stops answering (it is killed)."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=10) as http:
        for _ in range(MAX_ADDS_PER_ROUND):
            duration = LONG if rng.random() < 0.5 else rng.uniform(0.01, 0.3)
            try:
                response = http.post("/tasks/add", json={"duration": duration, "name": "crash"})
            except httpx.TransportError:
                return
            assert response.status_code == 201, response.text
            acked.record(response.json())


def integrity(db: Path) -> tuple[str, int]:
    """What a fresh reader finds in the file the killed process left (WAL included)."""
    with sqlite3.connect(db) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    conn.close()
    return result, rows


def test_every_acknowledged_add_survives_sigkill(tmp_path: Path) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", random.randrange(2**32)))
    print(f"crash test seed: {seed} (replay with RELIABILITY_SEED={seed})")
    rng = random.Random(seed)
    server = ServeProcess(tmp_path / "home")
    db = server.home / "tasks.db"
    acked = Acked()
    try:
        for round_ in range(ROUNDS):
            where = f"seed {seed}, round {round_}"
            server.start()
            check_after_restart(server, acked, where)
            before = len(acked.tasks)
            acked.first.clear()
            adders = [
                threading.Thread(
                    target=add_until_refused,
                    args=(server, random.Random(rng.random()), acked),
                    daemon=True,
                )
                for _ in range(ADDERS)
            ]
            for adder in adders:
                adder.start()
            assert acked.first.wait(15), f"{where}: no add was answered"
            # The random moment: somewhere in the first second of full-speed adds.
            threading.Event().wait(rng.uniform(0.0, 1.0))
            server.kill()
            for adder in adders:
                adder.join(15)
                assert not adder.is_alive(), f"{where}: an adder hangs on a dead server"
            result, rows = integrity(db)
            assert result == "ok", f"{where}: integrity_check says {result}"
            assert rows >= len(acked.tasks), f"{where}: {len(acked.tasks) - rows} acked adds lost"
            print(f"round {round_}: killed after {len(acked.tasks) - before} acked adds")
        server.start()
        check_after_restart(server, acked, f"seed {seed}, final start")
        assert server.stop() == 0, server.output()
    finally:
        server.kill()
    result, rows = integrity(db)
    assert result == "ok" and rows >= len(acked.tasks), f"seed {seed}: {result}, {rows} rows"


def check_after_restart(server: ServeProcess, acked: Acked, where: str) -> None:
    """Every acked task is there; what was running is interrupted, nothing runs on from
    before the crash."""
    if not acked.tasks:
        return
    with server.client() as http:
        answer = http.get("/tasks/status", params={"limit": 100_000}).json()
    found = {t["task_id"]: t for t in answer["tasks"]}
    lost = set(acked.tasks) - set(found)
    assert not lost, f"{where}: {len(lost)} of {len(acked.tasks)} acked adds lost"
    for task_id, (duration, status) in acked.tasks.items():
        now = found[task_id]["status"]
        assert now in FINISHED, f"{where}: {task_id} was {status} before the kill, now {now}"
        if duration == LONG and status == "running":
            assert now == "interrupted", f"{where}: running {task_id} came back {now}"
