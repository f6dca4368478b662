"""Running the engine for a data dir: lock, server thread, instance.json, and back again.

`serve` and the desktop launcher both go through hosted_engine(), so both keep the
one-engine-per-data-dir rule and both are found by `task-dashboard info`.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from desktop_app import discovery
from desktop_app.discovery import EngineLock, Instance
from desktop_app.server import ServerStartError, ServerThread, bind_socket
from web import __version__
from web.settings import Settings
from web.writer import Ahead, start_ahead

if TYPE_CHECKING:
    from web.notices import NoticeSink

log = logging.getLogger(__name__)


class AlreadyRunning(RuntimeError):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            f"another Task Dashboard already runs on {settings.data_dir} "
            "(`task-dashboard info` shows where)"
        )


class DataDirError(ServerStartError):
    """The data folder cannot be written: read-only, not ours, or its disk is full."""

    def __init__(self, settings: Settings, exc: OSError) -> None:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            what = "free some disk space"
        else:
            what = "make it writable"
        super().__init__(
            f"cannot write to the data folder {settings.data_dir} "
            f"({exc.strerror}: {exc.filename or settings.data_dir}): {what}, or choose "
            "another folder with TASK_DASHBOARD_HOME; nothing in it was changed"
        )


@dataclass(frozen=True)
class Hosted:
    server: ServerThread
    instance: Instance  # as published in instance.json


@contextmanager
def hosted_engine(
    settings: Settings, start_timeout: float = 15.0, notices: NoticeSink | None = None
) -> Iterator[Hosted]:
    """Serve `settings` until the block ends; the server is answering when it is entered.
    `notices` tells the user of task ends (the desktop app's notifications).

    Raises AlreadyRunning when another process holds the data dir, ServerStartError when
    the port cannot be bound or the app does not start.
    """
    lock = EngineLock(settings.data_dir)
    try:
        acquired = lock.acquire()
    except OSError as exc:
        raise DataDirError(settings, exc) from exc
    if not acquired:
        raise AlreadyRunning(settings)
    ahead: Ahead | None = None
    try:
        sock = bind_socket(settings.host, settings.port)
        settings = replace(settings, port=sock.getsockname()[1])
        # The database's writer starts (a process of its own) while the app is imported.
        ahead = start_ahead(settings.db_path, settings.db_busy_timeout)
        from web.app import create_app

        app = create_app(settings, tune_gc=True, notices=notices, writer_ahead=ahead)
        server = ServerThread(app, sock)
        server.start(start_timeout)
        instance = Instance(
            url=server.url,
            port=server.port,
            pid=os.getpid(),
            token_path=str(settings.token_path) if settings.auth else None,
            version=__version__,
        )
        try:
            discovery.publish(settings.instance_path, instance)
        except OSError as exc:
            server.stop()
            raise DataDirError(settings, exc) from exc
        log.info("serving %s on %s (pid %d)", settings.data_dir, server.url, instance.pid)
        try:
            yield Hosted(server, instance)
        finally:
            server.stop()
            discovery.withdraw(settings.instance_path, instance.pid)
            log.info("stopped serving %s", settings.data_dir)
    finally:
        if ahead is not None:
            with ahead.process:  # its pipes closed, and it reaped
                if ahead.process.poll() is None:  # the app never took it
                    ahead.process.kill()
        lock.release()


def stop_signal() -> threading.Event:
    """An event that Ctrl+C or SIGTERM sets from now on (main thread only)."""
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    return stopped


def wait_for_stop_signal(
    still_running: Callable[[], bool] = lambda: True, stopped: threading.Event | None = None
) -> None:
    """Block the main thread until Ctrl+C or SIGTERM (or until still_running() says no).

    `stopped`: from an earlier stop_signal(), when a signal may come before this call
    (a caller that prints or opens a browser first must not die of a SIGTERM meanwhile)."""
    if stopped is None:
        stopped = stop_signal()
    # The timeout lets Python run the signal handlers and re-check still_running().
    while not stopped.wait(0.5) and still_running():
        pass
