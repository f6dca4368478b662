"""`python -m bench.wsclients PORT N [--header 'K: V'] [--batch-ms MS]`: N WebSocket clients
that count bytes.

Its own process, so the clients never share a GIL with the server or the harness. The
clients speak just enough WebSocket to count: a handshake, then frame headers are parsed
to count messages while payloads are skipped unread (the naive baseline sends megabytes per
change). With --batch-ms they ask for batches, as the dashboard does, and read each batch
to count the changes in it: the messages with a seq, counted in the raw bytes (exact for
the bench's own tasks, whose parameters hold no "seq" key; decoding every batch took CPU
from the machine the server shares). Commands on stdin, one JSON answer per line on stdout:
  (start)  -> {"ready": true} once every client has its first message (the snapshot)
  mark     -> counting restarts from zero
  report   -> {"bytes": [...], "messages": [...], "changes": [...]} per client since the mark,
              "last_at": when each last got a message (time.monotonic(), which every
              process on the machine shares), and "open": whether its socket still is
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import sys
import threading
import time
from collections.abc import Sequence

PING, PONG = 0x9, 0xA
TEXT = 0x1
BATCH = b'{"type":"batch"'
SEQ = b'","seq":'  # in every task, settings and removed message: '{"type":"task","seq":...'
MAX_BATCH_FRAME = 1 << 22  # batches are tens of KB; what is bigger (a naive whole list) is one


class Client:
    def __init__(self, port: int, headers: Sequence[str], batch_ms: float = 0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *headers,
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the WebSocket handshake")
            answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")
        self.batching = batch_ms > 0
        if self.batching:
            self._send_frame(TEXT, json.dumps({"type": "batch", "ms": batch_ms}).encode())
        self.sock.setblocking(False)
        self.buf = b""  # an incomplete frame header
        self.skip = 0  # payload bytes of the current frame still to come
        # A control frame's payload is read, not skipped; so is a batch, to count its changes.
        self.payload: bytes | None = None
        self.opcode, self.fin = 0, True
        self.total_messages = 0
        self.bytes = 0
        self.messages = 0
        self.changes = 0
        self.last_at = 0.0
        self.open = True
        self.feed(rest)

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.buf:
            data, self.buf = self.buf + data, b""
        pos = 0
        while pos < len(data):
            if self.skip:
                taken = min(self.skip, len(data) - pos)
                if self.payload is not None:
                    self.payload += data[pos : pos + taken]
                self.skip -= taken
                pos += taken
                if not self.skip:
                    self._frame_done()
                continue
            header = parse_header(data, pos)
            if header is None:
                self.buf = data[pos:]
                return
            size, self.skip, self.opcode, self.fin = header
            pos += size
            read = self.opcode >= 0x8 or (self.batching and self.skip <= MAX_BATCH_FRAME)
            self.payload = b"" if read else None
            if not self.skip:
                self._frame_done()

    def _frame_done(self) -> None:
        if self.opcode == PING:
            self._send_pong(self.payload or b"")
        elif self.opcode < 0x8 and self.fin:
            self.total_messages += 1
            self.messages += 1
            self.changes += self._changes_in(self.payload)
            self.last_at = time.monotonic()
        self.payload = None

    @staticmethod
    def _changes_in(payload: bytes | None) -> int:
        if payload is None or not payload.startswith(BATCH):
            return 1
        return payload.count(SEQ)

    def _send_pong(self, payload: bytes) -> None:
        self.sock.setblocking(True)
        self._send_frame(PONG, payload)
        self.sock.setblocking(False)

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        """One short frame (< 126 bytes). Client frames must be masked; an all-zero mask
        leaves the payload as it is."""
        frame = bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\0\0\0\0" + payload
        self.sock.sendall(frame)


def parse_header(data: bytes, pos: int) -> tuple[int, int, int, bool] | None:
    """(header size, payload length, opcode, fin) of the frame at pos; None if incomplete."""
    if len(data) - pos < 2:
        return None
    fin, opcode, length, size = bool(data[pos] & 0x80), data[pos] & 0x0F, data[pos + 1] & 0x7F, 2
    if length >= 126:
        extra = 2 if length == 126 else 8
        if len(data) - pos < 2 + extra:
            return None
        length, size = int.from_bytes(data[pos + 2 : pos + 2 + extra]), 2 + extra
    return size, length, opcode, fin


def serve_forever(clients: list[Client], lock: threading.Lock) -> None:
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    announced = False
    while True:
        for key, _ in selector.select(timeout=0.5):
            client = key.data
            try:
                data = client.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(client.sock)
                client.open = False
                continue
            with lock:
                client.feed(data)
        if not announced and all(c.total_messages for c in clients):
            announced = True
            print(json.dumps({"ready": True}), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wsclients")
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--batch-ms", type=float, default=0, help="ask for batches, as the page")
    args = parser.parse_args(argv)
    clients = [Client(args.port, args.header, args.batch_ms) for _ in range(args.count)]
    lock = threading.Lock()
    threading.Thread(target=serve_forever, args=(clients, lock), daemon=True).start()
    for line in sys.stdin:
        with lock:
            if line.strip() == "mark":
                for c in clients:
                    c.bytes = c.messages = c.changes = 0
                answer: dict[str, object] = {"marked": True}
            else:
                answer = {
                    "bytes": [c.bytes for c in clients],
                    "messages": [c.messages for c in clients],
                    "changes": [c.changes for c in clients],
                    "last_at": [c.last_at for c in clients],
                    "open": [c.open for c in clients],
                }
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
