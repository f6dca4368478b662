"""The front for machines where no window can open: the default browser, or the URL printed.

The engine keeps serving either way, until Ctrl+C or SIGTERM, as `serve` does.
"""

from __future__ import annotations

import logging
import os
import webbrowser
from collections.abc import Callable

from desktop_app.front import Page
from desktop_app.hosting import wait_for_stop_signal
from web.frozen import outside_environment

log = logging.getLogger(__name__)


def open_in_browser(url: str) -> bool:
    """webbrowser.open, which can only inherit os.environ: from the binary, the browser
    gets the user's environment instead of the bundle's (web/frozen.py)."""
    inside = dict(os.environ)
    outside = outside_environment(inside)
    # Key by key, never cleared: another thread may start a process meanwhile.
    for name in inside.keys() - outside.keys():
        del os.environ[name]
    os.environ.update(outside)
    try:
        return webbrowser.open(url)
    finally:
        os.environ.update(inside)


class BrowserFront:
    def __init__(
        self,
        reason: str,
        open_browser: Callable[[str], bool] = open_in_browser,
        wait: Callable[[], None] = wait_for_stop_signal,
    ) -> None:
        self.reason = reason
        self._open_browser = open_browser
        self._wait = wait

    def show(self, page: Page) -> None:
        log.warning("no window: %s", self.reason)
        print(f"{page.title}: no window, {self.reason}.", flush=True)
        if self._open_browser(page.url):
            print("Opened the dashboard in your default browser.", flush=True)
        else:
            print(f"Open this signed-in URL in a browser:\n  {page.url}", flush=True)
        if page.owns_engine:
            print("Serving until Ctrl+C.", flush=True)
            self._wait()

    def report_error(self, title: str, message: str) -> None:
        print(f"{title}: {message}", flush=True)
