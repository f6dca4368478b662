"""uvicorn's HTTP protocol with one socket write per connection per turn of the event loop.

uvicorn writes a response's status line and headers, then its body, as two writes, and a
WebSocket message as one write of its own; each is a system call on the socket there and
then. On loopback every such call also runs the TCP stack and wakes the reader, and on the
2-core machine the benchmark runs on, the two writes of a response were about two fifths
of what the bare-FastAPI floor spends on an add (bench/). Here what one turn of the loop
writes to a connection is joined and goes out in one call at the end of that turn: one per
response, and one per batch of WebSocket frames a sender writes in a go. Nothing waits
longer than the callbacks already queued in that turn, and the order of the bytes is kept.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: writes made in one turn of the loop go out together."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()  # what was written before close() still goes out, as it would have
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def is_closing(self) -> bool:  # asked after every response: spelled out, not forwarded
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        waiting = sum(map(len, self._pending)) if self._pending else 0
        return self._transport.get_write_buffer_size() + waiting

    def __getattr__(self, name: str) -> Any:
        # Everything else (extra info, reading, flow-control limits, set_protocol for the
        # WebSocket upgrade) is the transport's own.
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a CoalescingTransport; a WebSocket it upgrades to
    is handed the same wrapper."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
