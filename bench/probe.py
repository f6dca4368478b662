"""Delta latency: add a task, then time the WebSocket message that carries it.

Both times are taken in this one process on one clock. A delta may arrive before the
POST's answer (the naive app sends before it answers); it then counts as 0 after the
answer, which is why the time from the request is reported too.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.procs import Server

LIVE_TASK = {"duration": 3600, "name": "bench"}


@dataclass
class Latencies:
    after_answer_ms: list[float] = field(default_factory=list)
    after_request_ms: list[float] = field(default_factory=list)


class Inbox:
    """Every message with its arrival time, since the last clear()."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str]] = []
        self.arrived = asyncio.Event()

    async def fill(self, ws: ClientConnection) -> None:
        async for message in ws:
            self.messages.append((time.perf_counter(), str(message)))
            self.arrived.set()

    async def first_with(self, needle: str) -> float:
        """Arrival time of the first message that mentions needle."""
        seen = 0
        while True:
            for at, text in self.messages[seen:]:
                if needle in text:
                    return at
            seen = len(self.messages)
            self.arrived.clear()
            await self.arrived.wait()


async def delta_latency(server: Server, samples: int, seconds: float, batch_ms: float) -> Latencies:
    """One add at a time, until `samples` were timed or `seconds` have passed. `batch_ms`:
    the probe asks for batches, as the dashboard does (0: a frame per change)."""
    result = Latencies()
    inbox = Inbox()
    ws_url = server.url.replace("http", "ws", 1) + "/ws"
    async with (
        connect(ws_url, additional_headers=server.headers, compression=None, max_size=None) as ws,
        httpx.AsyncClient(base_url=server.url, headers=server.headers, timeout=30) as http,
    ):
        await ws.recv()  # the snapshot
        if batch_ms:
            await ws.send(json.dumps({"type": "batch", "ms": batch_ms}))
        reader = asyncio.create_task(inbox.fill(ws))
        try:
            deadline = time.perf_counter() + seconds
            while len(result.after_answer_ms) < samples and time.perf_counter() < deadline:
                inbox.messages.clear()
                sent = time.perf_counter()
                answer = await http.post("/tasks/add", json=LIVE_TASK)
                answered = time.perf_counter()
                answer.raise_for_status()
                async with asyncio.timeout(30):
                    arrived = await inbox.first_with(answer.json()["task_id"])
                result.after_answer_ms.append(max(0.0, arrived - answered) * 1000)
                result.after_request_ms.append((arrived - sent) * 1000)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    return result
