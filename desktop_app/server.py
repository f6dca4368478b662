"""ServerThread: uvicorn on a socket we bound ourselves, in a background thread.

Binding first (port 0 lets the OS choose) means the port is known before the server
starts, and nobody else can take it between choosing and listening.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


class ServerStartError(RuntimeError):
    pass


class BindError(ServerStartError):
    """The address cannot be listened on (in use, not ours): a usage error, not a crash."""


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ServerThread:
    def __init__(self, app: FastAPI, sock: socket.socket, **uvicorn_options: object) -> None:
        # Imported here: a start binds its socket and starts the database's writer before
        # uvicorn and the app are imported (desktop_app/hosting.py).
        import uvicorn

        from desktop_app.coalescing import CoalescingHttpToolsProtocol
        from desktop_app.wsframes import TextsWebSocketProtocol

        self.app = app
        self.sock = sock
        options: dict[str, object] = {
            "log_config": None,  # our logging setup stays; works with sys.stdout None too
            "access_log": False,  # access lines would carry ?token= on first load
            "timeout_graceful_shutdown": 5,
            "ws_max_size": 64 * 1024,
            # Loopback needs no compression, and deflating every small delta for every
            # client costs the server CPU that the task engine shares.
            "ws_per_message_deflate": False,
            # One socket write per response instead of two (desktop_app/coalescing.py).
            "http": CoalescingHttpToolsProtocol,
            # A sender's frames in one ASGI message (desktop_app/wsframes.py).
            "ws": TextsWebSocketProtocol,
            **uvicorn_options,
        }
        self.server = uvicorn.Server(uvicorn.Config(app, **options))  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._serve, name="uvicorn", daemon=True)
        self.error: BaseException | None = None

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as exc:  # reported to the waiting thread, not lost in this one
            self.error = exc

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait until the app's lifespan has run and it accepts requests.

        On failure the thread is stopped and the socket closed before the error is raised,
        so the caller has nothing to clean up.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                self.stop()
                reason = getattr(self.app.state, "startup_error", None)
                if reason is None and not isinstance(self.error, SystemExit):
                    reason = self.error  # uvicorn's SystemExit(3) says nothing
                raise ServerStartError(
                    f"the server stopped during start-up: {reason or 'see the log file'}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the server did not start within {timeout:.0f} s")
            self._thread.join(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the server thread did not stop within %.0f s", timeout)
        self.sock.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
