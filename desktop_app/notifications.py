"""Native desktop notifications for the task ends the app tells of (web/notices.py).

desktop-notifier speaks each platform's notification service: the freedesktop one over
D-Bus on Linux, the notification centers of macOS and Windows. Its API is async, and a
click comes back as a callback on the loop that sent the notification, so it gets an event
loop of its own in a thread: the GUI thread belongs to the window and the server's loop to
the engine. Where there is no notification service (no D-Bus session, a headless box) that
is said once in the log and notices are dropped; nothing else changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from web.notices import Notice

if TYPE_CHECKING:
    from desktop_notifier import DesktopNotifier

log = logging.getLogger(__name__)

APP_NAME = "Task Dashboard"


class DesktopNotices:
    """A NoticeSink (web/notices.py); `on_click(task_id)` runs when a notice is clicked,
    on this sink's own thread."""

    def __init__(self, on_click: Callable[[str], None], icon: Path | None = None) -> None:
        self._on_click = on_click
        self._icon = icon
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="notifications", daemon=True)
        self._sending: set[asyncio.Task[None]] = set()
        self._notifier: asyncio.Future[DesktopNotifier | None] | None = None

    def __enter__(self) -> DesktopNotices:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def deliver(self, notice: Notice) -> None:
        """From any thread; returns at once."""
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile: the app is quitting
                self._loop.call_soon_threadsafe(self._spawn, notice)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread; a notice still on its way gets `timeout` to go out."""
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join(timeout)

    # -- on this sink's own loop -----------------------------------------------------------

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        # Connecting (and finding out there is nothing to connect to) happens here, not in
        # start(): the window need not wait for D-Bus.
        self._notifier = asyncio.ensure_future(self._connect())
        self._started.set()
        try:
            await self._stopping.wait()
            if self._sending:
                await asyncio.wait(self._sending, timeout=2.0)
        finally:
            owned = [*self._sending, self._notifier]
            for job in owned:
                job.cancel()
            await asyncio.gather(*owned, return_exceptions=True)
            if self._notifier.done() and not self._notifier.cancelled():
                _disconnect(self._notifier.result())

    async def _connect(self) -> DesktopNotifier | None:
        notifier = None
        try:
            from desktop_notifier import DesktopNotifier, Icon

            notifier = DesktopNotifier(
                app_name=APP_NAME, app_icon=Icon(path=self._icon) if self._icon else None
            )
            await notifier.get_capabilities()  # connects; raises when there is no service
        except Exception as exc:
            log.info("desktop notifications are off: no notification service here (%s)", exc)
            _disconnect(notifier)
            return None
        log.info("desktop notifications are on")
        return notifier

    def _spawn(self, notice: Notice) -> None:
        job = asyncio.create_task(self._send(notice), name=f"notify-{notice.task_id}")
        self._sending.add(job)
        job.add_done_callback(self._sending.discard)

    async def _send(self, notice: Notice) -> None:
        assert self._notifier is not None
        notifier = await self._notifier
        if notifier is None:
            return
        await notifier.send(
            title=notice.title,
            message=notice.body,
            on_clicked=lambda: self._clicked(notice.task_id),
        )

    def _clicked(self, task_id: str) -> None:
        log.info("notification clicked: showing task %s", task_id)
        try:
            self._on_click(task_id)
        except Exception:  # the window may be closing; a click is no reason to crash
            log.exception("could not show task %s", task_id)


def _disconnect(notifier: DesktopNotifier | None) -> None:
    """Close the notifier's D-Bus connection, if it made one: desktop-notifier has no call
    for that, and keeps it open even when the service it looked for was not there."""
    bus = getattr(getattr(notifier, "_backend", None), "bus", None)
    if bus is not None:
        bus.disconnect()
