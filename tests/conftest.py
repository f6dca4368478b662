"""Shared fixtures: settings in a temporary data dir, and real servers on real sockets."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from desktop_app.server import ServerThread, bind_socket
from tests.engine_rig import Rig, build
from web.app import create_app
from web.clock import ManualClock
from web.settings import Settings

TOKEN = "test-token-0123456789"


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may touch the real platformdirs locations."""
    monkeypatch.setenv("TASK_DASHBOARD_HOME", str(tmp_path / "home"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", token=TOKEN, port=0)


@dataclass
class LiveServer:
    """A real uvicorn server in a thread, on a socket bound to 127.0.0.1."""

    settings: Settings
    thread: ServerThread | None = None
    writer_in_thread: bool = False  # for tests that reach into the database's writer
    uvicorn_options: dict[str, object] = field(default_factory=dict)

    def start(self, port: int = 0, send_buffer: int | None = None) -> LiveServer:
        sock = bind_socket("127.0.0.1", port)
        if send_buffer is not None:
            # Accepted connections inherit it; a fixed size also turns off the kernel's
            # buffer autotuning, so a client that stops reading backs up quickly.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.settings = replace(self.settings, port=sock.getsockname()[1])
        self.thread = ServerThread(
            create_app(self.settings, writer_in_thread=self.writer_in_thread),
            sock,
            **self.uvicorn_options,
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            assert not self.thread.alive, "the server thread did not stop"
            self.thread = None

    def restart(self) -> LiveServer:
        """Stop, then serve the same data dir again on the same port."""
        port = self.port
        self.stop()
        return self.start(port)

    def drop_websockets(self) -> None:
        """Close every WebSocket from the server's side (as a network blip would), while
        the server itself goes on."""
        assert self.thread is not None
        loop = self.thread.server.servers[0].get_loop()
        loop.call_soon_threadsafe(self.thread.app.state.hub.close_all)

    @property
    def port(self) -> int:
        assert self.thread is not None
        return self.thread.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=10)


@contextmanager
def serving(settings: Settings) -> Iterator[LiveServer]:
    """A live server for these settings, stopped when the block ends."""
    server = LiveServer(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with serving(settings) as server:
        yield server


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An httpx client on the live server, with the token."""
    with live_server.client() as client:
        yield client


# -- an engine with a manual clock (tests marked anyio) ------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_rig(tmp_path: Path) -> Callable[..., Awaitable[Rig]]:
    async def factory(max_concurrent: int | None = None, history_window: int = 1000) -> Rig:
        return await build(tmp_path / "tasks.db", ManualClock(), max_concurrent, history_window)

    return factory


@pytest.fixture
async def rig(make_rig: Callable[..., Awaitable[Rig]]) -> AsyncIterator[Rig]:
    rig = await make_rig()
    yield rig
    await rig.close()
