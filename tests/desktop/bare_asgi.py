"""For tests that serve a bare ASGI app of their own on a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.types import ASGIApp, Receive, Send

from desktop_app.server import ServerThread, bind_socket


async def lifespan(receive: Receive, send: Send) -> None:
    """The lifespan protocol with nothing to start or stop: what ServerThread waits for."""
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.complete"})


@contextmanager
def serving(app: ASGIApp, **uvicorn_options: object) -> Iterator[ServerThread]:
    """`app` served by ServerThread on a free port of 127.0.0.1 for the block."""
    server = ServerThread(app, bind_socket(), **uvicorn_options)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()
