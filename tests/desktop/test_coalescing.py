"""The transport wrapper that joins what one turn of the loop writes to a connection."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from desktop_app.coalescing import CoalescingTransport
from desktop_app.server import ServerThread
from tests.desktop.bare_asgi import lifespan, serving
from web.clock import settle


class Recording:
    """A transport that records each write (each would be a system call)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


@pytest.mark.anyio
async def test_what_one_turn_writes_goes_out_in_one_write_in_order() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 201 Created\r\n\r\n")
    transport.writelines([b"{", b"}"])
    assert inner.writes == [] and transport.get_write_buffer_size() == 26
    await settle()
    assert inner.writes == [b"HTTP/1.1 201 Created\r\n\r\n{}"]
    transport.write(b"next")
    await settle()
    assert inner.writes[1:] == [b"next"]
    assert transport.get_extra_info("peername") == "info:peername"


@pytest.mark.anyio
async def test_close_sends_what_was_written_first_and_abort_drops_it() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.close()
    assert inner.writes == [b"last words"] and inner.closed
    await settle()  # the flush already scheduled finds nothing more to send
    assert inner.writes == [b"last words"]

    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"never sent")
    transport.abort()
    await settle()
    assert inner.writes == [] and inner.aborted


@pytest.mark.anyio
async def test_nothing_is_written_to_a_connection_that_closed_meanwhile() -> None:
    inner = Recording()
    transport = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"too late")
    inner.closed = True  # the peer went away before the turn ended
    await settle()
    assert inner.writes == []


async def _two_part_answer(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    headers = [(b"content-length", b"4")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ab", "more_body": True})
    await send({"type": "http.response.body", "body": b"cd"})


@pytest.fixture
def plain_server() -> Iterator[ServerThread]:
    with serving(_two_part_answer) as server:
        yield server


def test_a_response_arrives_whole_over_keep_alive(plain_server: ServerThread) -> None:
    with httpx.Client(base_url=plain_server.url) as client:
        for _ in range(3):  # the same connection each time
            answer = client.get("/")
            assert (answer.status_code, answer.content) == (200, b"abcd")
