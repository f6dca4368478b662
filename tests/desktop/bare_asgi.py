"""For tests that serve a bare ASGI app of their own on a real uvicorn server."""

from __future__ import annotations

from starlette.types import Receive, Send


async def lifespan(receive: Receive, send: Send) -> None:
    """The lifespan protocol with nothing to start or stop: what ServerThread waits for."""
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.complete"})
