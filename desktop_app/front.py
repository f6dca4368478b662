"""What the launcher hands a front (a window, the default browser, a test's fake): the Page
to show and the Front protocol, with the words both fronts use.

Its own module so that imports point one way: launcher.py picks a front, and the fronts
(window.py, browser.py) need only this, never the launcher.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

TITLE = "Task Dashboard"


@dataclass(frozen=True)
class Page:
    url: str  # signed in: carries ?token= for the first load
    title: str = TITLE
    # Set when closing this front stops the engine: how many tasks would be interrupted.
    running_tasks: Callable[[], int] | None = None

    @property
    def owns_engine(self) -> bool:
        return self.running_tasks is not None


class Front(Protocol):
    def show(self, page: Page) -> None:
        """Show the dashboard; return when the user is done with it (window closed)."""

    def report_error(self, title: str, message: str) -> None:
        """Tell the user plainly why there is no dashboard."""


def quit_question(running: int) -> str:
    tasks = "1 task is" if running == 1 else f"{running} tasks are"
    return f"{tasks} still running. Quit anyway? They will be recorded as interrupted."
