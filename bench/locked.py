"""A database locked by another process for a while (a backup tool, sqlite3 by hand): how
fast health, the status page and a WebSocket's snapshot answer during the lock, next to the
same before it, and how an add that needs the file ends (503 after the busy timeout)."""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from websockets.asyncio.client import connect

from bench.procs import Server

HOLD = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""


@contextmanager
def held_lock(db: Path) -> Iterator[None]:
    """Another process inside BEGIN EXCLUSIVE on the file, until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    if holder.stdout.readline().strip() != "locked":
        raise RuntimeError("the lock holder did not take the lock")
    try:
        yield
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()


def _get_ms(server: Server, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        began = time.perf_counter()
        conn.request("GET", path, headers=server.headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path} answered {answer.status}")
        return (time.perf_counter() - began) * 1000
    finally:
        conn.close()


async def _snapshot_ms(server: Server) -> float:
    url = server.url.replace("http", "ws", 1) + "/ws"
    began = time.perf_counter()
    async with connect(url, additional_headers=server.headers, max_size=None) as ws:
        await ws.recv()
    return (time.perf_counter() - began) * 1000


def sample(server: Server, seconds: float) -> dict[str, list[float]]:
    """Health, the status page and a fresh WebSocket's snapshot, in turn, for `seconds`."""
    taken: dict[str, list[float]] = {"healthz": [], "status": [], "snapshot": []}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        taken["healthz"].append(_get_ms(server, "/healthz"))
        taken["status"].append(_get_ms(server, "/tasks/status"))
        taken["snapshot"].append(asyncio.run(_snapshot_ms(server)))
    return taken


class TimedAdd(threading.Thread):
    """One add, answered whenever the server can: its status and how long it took."""

    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.status = 0
        self.seconds = 0.0
        self.start()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=60)
        try:
            began = time.perf_counter()
            headers = {**self.server.headers, "Content-Type": "application/json"}
            conn.request("POST", "/tasks/add", body=b'{"duration": 1}', headers=headers)
            answer = conn.getresponse()
            answer.read()
            self.status, self.seconds = answer.status, time.perf_counter() - began
        finally:
            conn.close()
