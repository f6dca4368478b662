"""Hostile WebSocket peers against the real server process: malformed frames, oversized
messages, clients that never read, hundreds of connections opened and dropped.

Throughout, a well-behaved client must get each new task's delta within a deadline (a
generous one: this is about never being starved, not about speed on a loaded CI box), the
server must stay up, its open files must come back down, and its memory must not grow
with the number of attacks.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.reliability.rawws import BINARY, CLOSE, PING, TEXT, RawClient, frame
from tests.reliability.serving import ServeProcess
from tests.waiting import until

DEADLINE = 5.0  # seconds for a delta to reach the good client
HELD = int(os.environ.get("RELIABILITY_WS_HELD", "300"))
CHURN = int(os.environ.get("RELIABILITY_WS_CHURN", "300"))
NEVER_READ = 30
ADDS_WHILE_STALLED = 300
RSS_GROWTH_KIB = 32 * 1024  # the second half of the churn may not grow memory more than this

MALFORMED = {
    "unmasked client frame": frame(TEXT, b'{"x":1}', mask=False),
    "reserved bits set": frame(TEXT, b"hello", rsv=0b111),
    "unknown opcode": frame(0x3, b"??"),
    "fragmented ping": frame(PING, b"p", fin=False),
    "control frame over 125 bytes": frame(PING, b"p" * 200),
    "continuation with nothing to continue": frame(0x0, b"tail"),
    "text that is not UTF-8": frame(TEXT, b"\xff\xfe\xfd"),
    "close with a reserved code": frame(CLOSE, struct.pack("!H", 1005)),
    "random bytes": bytes(range(256)),
    "length of 2**62, then nothing": bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 62) + b"k" * 4,
}


@pytest.fixture
def server(tmp_path: Path) -> ServeProcess:
    server = ServeProcess(tmp_path / "home").start()
    yield server
    assert server.stop() == 0, "the server must still stop cleanly"


def wait_for_task(ws: ClientConnection, task_id: str, deadline: float = DEADLINE) -> float:
    """Seconds until a delta for task_id arrived on the good client."""
    began = time.monotonic()
    end = began + deadline
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, end - time.monotonic())))
        if message.get("type") == "task" and message["task"]["task_id"] == task_id:
            return time.monotonic() - began


def delta_on_time(http: httpx.Client, ws: ClientConnection, name: str = "probe") -> float:
    task = http.post("/tasks/add", json={"duration": 600, "name": name})
    assert task.status_code == 201, task.text
    return wait_for_task(ws, task.json()["task_id"])


def quiet(http: httpx.Client) -> None:
    """Cancel and forget every task, so snapshots stay small."""
    for task in http.get("/tasks/status", params={"status": "running", "limit": 100_000}).json()[
        "tasks"
    ]:
        http.post("/tasks/cancel", json={"task_id": task["task_id"]})
    http.delete("/tasks/finished")


def test_hostile_peers_cannot_hurt_the_server_or_other_clients(server: ServeProcess) -> None:
    token = server.token
    with (
        server.client() as http,
        connect(f"ws://127.0.0.1:{server.port}/ws", additional_headers=server.headers) as good,
    ):
        assert json.loads(good.recv(timeout=10))["type"] == "snapshot"
        delta_on_time(http, good, "warm-up")
        fds_before = server.open_fds()

        # Malformed and oversized frames: each such client is closed, nobody else notices.
        for what, data in MALFORMED.items():
            peer = RawClient(server.port, token)
            peer.send(data)
            code = peer.closed_by_server()
            peer.close()
            assert code in (None, 1002, 1007, 1009), f"{what}: closed with {code}"
            delta_on_time(http, good, what)
        huge = RawClient(server.port, token)
        with pytest.raises(OSError):  # the server hangs up part-way through the 1 MiB
            for _ in range(64):
                huge.send(frame(BINARY, b"x" * (1 << 20)))
        huge.close()
        delta_on_time(http, good, "after an oversized message")

        # Clients that stop reading: their backlog is dropped, the good client is not slowed.
        stalled = [RawClient(server.port, token, rcvbuf=4096) for _ in range(NEVER_READ)]
        name = "n" * 200  # big deltas fill the stalled sockets sooner
        worst = max(delta_on_time(http, good, name) for _ in range(ADDS_WHILE_STALLED))
        until(
            lambda: len(backed_up(server.port)) >= NEVER_READ,
            10,
            f"{NEVER_READ} connections with a full send queue (have {backed_up(server.port)})",
        )
        delta_on_time(http, good, "while they are stuck")
        for peer in stalled:
            peer.abort()
        quiet(http)

        # Hundreds of connections opened and dropped, in every rude way; twice, to compare.
        rss = []
        for _ in range(2):
            churn(server, token, CHURN // 2)
            delta_on_time(http, good, "after churn")
            rss.append(server.rss_kib())
        assert rss[1] - rss[0] < RSS_GROWTH_KIB, f"memory grew {rss} KiB over the same churn"

        held = hold_many(server, http, token, HELD)
        assert held == HELD
        quiet(http)
        delta_on_time(http, good, "after the crowd left")
        until(
            lambda: server.open_fds() <= fds_before + 5,
            30,
            f"open files back near {fds_before} (now {server.open_fds()})",
        )
    print(
        f"hostile ws: {len(MALFORMED) + 1} malformed/oversized, {NEVER_READ} never-readers "
        f"(slowest good delta {worst:.3f} s), {CHURN} dropped, {HELD} held at once; "
        f"RSS {rss[0] // 1024} -> {rss[1] // 1024} MiB"
    )


def backed_up(port: int, least: int = 64 * 1024) -> list[int]:
    """Send queues (bytes) of the server's connections holding at least `least` unsent:
    proof that those clients really stopped reading."""
    queues = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        tx_queue = int(fields[4].split(":")[0], 16)
        if local_port == port and tx_queue >= least:
            queues.append(tx_queue)
    return queues


def churn(server: ServeProcess, token: str, count: int) -> None:
    """Open and drop `count` connections: RST after the handshake, FIN after the snapshot,
    a handshake cut off half-way, a plain HTTP request to /ws."""
    for i in range(count):
        style = i % 4
        if style == 0:
            RawClient(server.port, token).abort()
        elif style == 1:
            peer = RawClient(server.port, token)
            assert peer.read_frame() is not None
            peer.close()
        elif style == 2:
            with httpx.Client(timeout=10) as plain:
                plain.get(f"{server.url}/ws", headers=server.headers)
        else:
            with socket.create_connection(("127.0.0.1", server.port)) as half:
                half.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")


def hold_many(server: ServeProcess, http: httpx.Client, token: str, count: int) -> int:
    """Open `count` WebSocket clients at once; how many got the next task's delta."""
    peers = [RawClient(server.port, token) for _ in range(count)]
    try:
        for peer in peers:
            assert peer.read_frame() is not None  # the snapshot
        task_id = http.post("/tasks/add", json={"duration": 600}).json()["task_id"].encode()
        held = 0
        with selectors.DefaultSelector() as sel:
            for peer in peers:
                peer.sock.setblocking(False)
                sel.register(peer.sock, selectors.EVENT_READ, peer)
            end = time.monotonic() + 30
            while sel.get_map() and time.monotonic() < end:
                for key, _ in sel.select(timeout=0.5):
                    peer = key.data
                    chunk = peer.sock.recv(65536)
                    peer.buf += chunk
                    if task_id in peer.buf or not chunk:
                        sel.unregister(peer.sock)
                        held += bool(chunk)
        return held
    finally:
        for peer in peers:
            peer.close()
