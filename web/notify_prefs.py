"""When the user wants to hear that a task ended: the `notify` settings.

They live in the store's settings table next to the queue's, are read with them at
start-up and written (by the engine's writer) when PUT /settings changes them; every client
hears the change as a `settings` message. Both the desktop app's native notifications
(web/notices.py) and the page's web notifications (web/static/js/notifications.js) follow
them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal, get_args

from web.realtime import Hub
from web.tasks.engine import TaskEngine

log = logging.getLogger(__name__)

NotifyMode = Literal["failures", "all", "never"]
MODES: tuple[str, ...] = get_args(NotifyMode)


@dataclass(frozen=True)
class NotifyPrefs:
    # Every end by default, but only of tasks that ran long enough for the user to have
    # turned to something else: a dashboard of long-running tasks exists for that moment.
    mode: NotifyMode = "all"
    min_seconds: float = 10.0

    @property
    def public(self) -> dict[str, Any]:
        return {"notify": self.mode, "notify_min_seconds": self.min_seconds}

    def wants(self, outcome: str, seconds: float) -> bool:
        """Whether a task that ended with `outcome` after running `seconds` is worth a notice."""
        if self.mode == "never" or (self.mode == "failures" and outcome != "failed"):
            return False
        return seconds >= self.min_seconds

    @classmethod
    def from_stored(cls, stored: dict[str, object]) -> NotifyPrefs:
        """The stored choice; a value this version cannot read (edited by hand, or written by
        a newer version) falls back to the default rather than stopping the app."""
        default = cls()
        mode = stored.get("notify", default.mode)
        seconds = stored.get("notify_min_seconds", default.min_seconds)
        if mode not in MODES:
            log.warning("ignoring the stored notify setting %r; using %r", mode, default.mode)
            mode = default.mode
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            log.warning("ignoring the stored notify_min_seconds %r", seconds)
            seconds = default.min_seconds
        return cls(mode, float(seconds))  # type: ignore[arg-type]


class NotifyPrefsBook:
    """The current choice, and the one way to change it (persist, then publish)."""

    def __init__(self, engine: TaskEngine, hub: Hub) -> None:
        self._engine = engine
        self._hub = hub
        self.current = NotifyPrefs.from_stored(engine.stored_settings)

    async def change(self, prefs: NotifyPrefs) -> NotifyPrefs:
        """Stored through the engine's writer with its other changes; then taken and told."""
        await self._engine.save_settings(prefs.public, then=lambda: self._changed(prefs))
        return prefs

    def _changed(self, prefs: NotifyPrefs) -> None:
        self.current = prefs
        # A topic of its own: a queue change published in the same moment must not replace
        # this one in a client's backlog (each carries only its own keys).
        self._hub.publish_settings(prefs.public, topic="notify")
