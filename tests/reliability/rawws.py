"""A WebSocket client on a bare socket: it can send what no library would (bad frames,
huge lengths), stop reading, or vanish mid-handshake."""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9


def handshake_bytes(port: int, token: str, path: str = "/ws") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True, rsv: int = 0
) -> bytes:
    """One frame as a client sends it (masked, unless told otherwise)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([bit | n])
    elif n < 1 << 16:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawClient:
    def __init__(self, port: int, token: str, *, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(handshake_bytes(port, token))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            answer += chunk
        head, _, self.buf = answer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"handshake refused: {head.splitlines()[0]!r}")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int, deadline: float) -> bool:
        while len(self.buf) < n:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read_frame(self, timeout: float = 10) -> tuple[int, bytes] | None:
        """(opcode, payload) of the next frame; None when the server closed the socket."""
        deadline = time.monotonic() + timeout
        try:
            if not self._fill(2, deadline):
                return None
            opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            start = 2
            if n == 126:
                start = 4
                if not self._fill(start, deadline):
                    return None
                n = struct.unpack("!H", self.buf[2:4])[0]
            elif n == 127:
                start = 10
                if not self._fill(start, deadline):
                    return None
                n = struct.unpack("!Q", self.buf[2:10])[0]
            if not self._fill(start + n, deadline):
                return None
        except ConnectionResetError:
            return None
        payload, self.buf = self.buf[start : start + n], self.buf[start + n :]
        return opcode, payload

    def closed_by_server(self, timeout: float = 10) -> int | None:
        """Read until the server ends the connection; the close code it sent, if any."""
        code = None
        deadline = time.monotonic() + timeout
        while (got := self.read_frame(max(0.01, deadline - time.monotonic()))) is not None:
            opcode, payload = got
            if opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        return code

    def abort(self) -> None:
        """Vanish without a close frame: RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        self.sock.close()
