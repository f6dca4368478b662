"""uvicorn's WebSocket protocol, taking several text messages in one ASGI message.

A script watching /ws without asking for batches gets a frame per task change, so a burst
of adds sends ten such clients ten frames per add. Each frame went through Starlette's
`send`, an exception-handling wrapper, uvicorn's `send` and a `websockets` Frame, an await
and a few checks each. With ten plain clients that was about a seventh of what the event
loop spent on an add (bench/, A/B: 209 us of loop time per add, 181 with this). So this
protocol advertises an ASGI extension (ASGI's "Extensions": a server names it in
`scope["extensions"]`, and only then may an app use it):

    {"type": SEND_TEXTS, "texts": [str, ...]}

sends each text as one text frame, in order, in one write. A sender hands over whatever
gathered since it last woke. The frames are what `websockets` would write for them (RFC
6455: a server's frames are not masked; the extension is offered only to connections with
no WebSocket extension such as compression in use), so a client cannot tell the
difference. A slow reader is waited for before each such message, as uvicorn waits before
each frame (web/ws.py puts at most TEXTS_AT_ONCE texts in one). Everything else is
uvicorn's own: the handshake, reading, closing, keep-alive pings.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from web.ws import SEND_TEXTS

FIN_TEXT = 0x81  # FIN bit and opcode 1 (text): each message is one whole frame
_SHORT = struct.Struct("!BBH")  # lengths 126 to 65535
_LONG = struct.Struct("!BBQ")  # lengths from 65536


def frame_header(length: int) -> bytes:
    """The header of an unmasked, final text frame carrying `length` bytes (RFC 6455 5.2)."""
    if length < 126:
        return bytes((FIN_TEXT, length))
    if length < 1 << 16:
        return _SHORT.pack(FIN_TEXT, 126, length)
    return _LONG.pack(FIN_TEXT, 127, length)


class TextsWebSocketProtocol(WebSocketsSansIOProtocol):
    async def run_asgi(self) -> None:
        # Runs only for a handshake the server accepted, before the app sees its scope.
        if not self.conn.extensions:
            self.scope["extensions"][SEND_TEXTS] = {}
        await super().run_asgi()

    async def send(self, message: Any) -> None:
        if message["type"] != SEND_TEXTS:
            await super().send(message)
            return
        await self.writable.wait()  # as uvicorn's send: a client reading slowly holds it
        # The same answers as uvicorn's send for a text at each stage of the connection.
        if self.disconnected:
            raise ClientDisconnected()
        if not self.handshake_complete or self.initial_response is not None:
            raise RuntimeError(f"{SEND_TEXTS} before websocket.accept, or after a denial")
        if self.close_sent:
            raise RuntimeError(f"{SEND_TEXTS} after sending websocket.close")
        if self.conn.state is not State.OPEN:  # the client's close came in meanwhile
            raise ClientDisconnected()
        parts = []
        for text in message["texts"]:
            data = text.encode()
            parts += (frame_header(len(data)), data)
        self.transport.write(b"".join(parts))
