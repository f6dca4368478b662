"""The WebSocket protocol that takes several text messages in one ASGI message, on a real
uvicorn server with a real `websockets` client (which checks every frame it reads)."""

from __future__ import annotations

import queue
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.sync.client import connect

from desktop_app.server import ServerThread
from desktop_app.wsframes import frame_header
from tests.desktop.bare_asgi import lifespan, serving
from web.ws import SEND_TEXTS

# Each side of each edge of the three length encodings, and text that is not ASCII (its
# frame's length counts bytes, not characters).
TEXTS = ["", "a" * 125, "b" * 126, "c" * 65535, "d" * 65536, "é" * 70, "€" * 30_000]


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 1 << 20])
def test_a_frame_is_what_websockets_writes_for_it(length: int) -> None:
    data = b"x" * length
    expected = Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])
    assert frame_header(length) + data == expected


class Recorder:
    """An ASGI app whose WebSocket handler the test gives, with what it saw handed back."""

    def __init__(self, handler: Any, accept: bool = True) -> None:
        self.handler = handler
        self.accept = accept
        self.seen: queue.Queue[object] = queue.Queue()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        await receive()  # websocket.connect
        if self.accept:
            await send({"type": "websocket.accept"})
        try:
            await self.handler(scope, receive, send)
        except Exception as exc:
            self.seen.put(exc)


def ws_url(server: ServerThread) -> str:
    return server.url.replace("http://", "ws://") + "/"


def test_texts_sent_together_arrive_as_messages_of_their_own_in_order() -> None:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        app.seen.put(SEND_TEXTS in scope["extensions"])
        await send({"type": SEND_TEXTS, "texts": TEXTS})
        await send({"type": "websocket.send", "text": "and one the usual way"})
        await receive()

    app = Recorder(handler)
    with serving(app) as server, connect(ws_url(server), max_size=None) as client:
        received = [client.recv(timeout=10) for _ in range(len(TEXTS) + 1)]
        assert app.seen.get(timeout=10) is True
    assert received == [*TEXTS, "and one the usual way"]


def test_a_client_that_left_is_reported_as_uvicorn_reports_it() -> None:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.disconnect"
        await send({"type": SEND_TEXTS, "texts": ["too late"]})
        app.seen.put("sent")

    app = Recorder(handler)
    with serving(app) as server:
        with connect(ws_url(server)):
            pass  # closes at once
        error = app.seen.get(timeout=10)
    # uvicorn's ClientDisconnected, an OSError: Starlette (and web/ws.py) make it a 1006.
    assert isinstance(error, OSError), error


async def _after_closing(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "websocket.close", "code": 1000})
    await send({"type": SEND_TEXTS, "texts": ["after the close"]})


async def _before_accepting(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": SEND_TEXTS, "texts": ["too early"]})


@pytest.mark.parametrize(
    ("handler", "accept"), [(_after_closing, True), (_before_accepting, False)]
)
def test_texts_out_of_turn_are_a_bug_of_the_app_as_for_uvicorn(handler: Any, accept: bool) -> None:
    app = Recorder(handler, accept)
    # The client sees the close, or a handshake answered 500.
    with (
        serving(app) as server,
        pytest.raises((ConnectionClosed, InvalidStatus)),
        connect(ws_url(server)) as client,
    ):
        client.recv(timeout=10)
    assert isinstance(app.seen.get(timeout=10), RuntimeError)


def test_it_is_not_offered_when_frames_would_be_compressed() -> None:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        app.seen.put(SEND_TEXTS in scope["extensions"])
        await send({"type": "websocket.send", "text": "still served"})
        await receive()

    app = Recorder(handler)
    with (
        serving(app, ws_per_message_deflate=True) as server,
        connect(ws_url(server)) as client,  # it asks for permessage-deflate
    ):
        assert client.recv(timeout=10) == "still served"
        assert app.seen.get(timeout=10) is False
