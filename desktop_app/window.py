"""The native window: pywebview on GTK (the system WebKit) or Qt.

find_gui() answers, before anything is shown, whether a window can open at all: GTK
ends the process when it has no display, so that must be known first.
"""

from __future__ import annotations

import html
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from desktop_app.front import Page, quit_question
from desktop_app.testhooks import CommandChannel

log = logging.getLogger(__name__)

ICON = files("desktop_app") / "assets" / "icon.png"
SIZE = (1180, 780)
MIN_SIZE = (720, 480)
# The page's own route to one task (its detail view).
TASK_ROUTE = "/dashboard#task/{task_id}"


class GuiUnavailable(RuntimeError):
    """No window can open here; the message says why and what to install."""


def find_gui() -> str:
    """The pywebview backend to use ("gtk" or "qt"); GTK first, PYWEBVIEW_GUI honoured."""
    if sys.platform.startswith("linux") and not _has_display():
        raise GuiUnavailable("there is no display ($DISPLAY and $WAYLAND_DISPLAY are unset)")
    from webview import WebViewException
    from webview.guilib import initialize

    try:
        gui = initialize(os.environ.get("PYWEBVIEW_GUI"))  # type: ignore[arg-type]
    except WebViewException:
        raise GuiUnavailable(
            "no GUI backend is installed: `pip install 'task-dashboard[gtk]'` "
            "(or `[qt]`); see docs/desktop.md"
        ) from None
    except Exception as exc:
        # Bindings that load over a library that does not: the binary bundles WebKit2's
        # typelib, so on a machine without WebKitGTK, gi raises GLib.GError right here.
        raise GuiUnavailable(
            f"the window backend cannot start ({exc}); install WebKitGTK 4.1 "
            "(Debian/Ubuntu: libwebkit2gtk-4.1-0); see docs/binary.md"
        ) from None
    name = gui.__name__.rsplit(".", 1)[-1]
    if name == "gtk":
        from gi.repository import Gtk

        if not Gtk.init_check()[0]:
            raise GuiUnavailable(f"cannot open the display {os.environ.get('DISPLAY', '')!r}")
    return name


def _has_display() -> bool:
    offscreen_qt = os.environ.get("QT_QPA_PLATFORM") == "offscreen"
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or offscreen_qt)


class NativeWindow:
    """A Front (see front.py) that shows the page in a pywebview window."""

    def __init__(self, gui: str, hooks: CommandChannel | None = None) -> None:
        self.gui = gui
        self.hooks = hooks
        # Set by the `close` test hook: close without asking (nobody is there to answer).
        self._closing_without_asking = False
        self._window: Any = None  # the dashboard's window, once show() made it

    def show(self, page: Page) -> None:
        import webview

        window = webview.create_window(
            page.title,
            page.url,
            width=SIZE[0],
            height=SIZE[1],
            min_size=MIN_SIZE,
        )
        self._window = window
        if page.owns_engine:
            window.events.closing += lambda: self._prepare_close(window, page)
        self._close_on_signals(window)
        if self.hooks is None:
            self._run()
        else:
            self._register_hooks(self.hooks, window)
            self._run(self._hooks_ready)

    def reveal_task(self, task_id: str) -> None:
        """Bring the window forward on one task (its notification was clicked). Any thread:
        pywebview hands each call to the GUI thread."""
        window = self._window
        if window is None:
            return
        window.restore()  # un-minimised and raised (GTK: deiconify, present)
        # Window managers may refuse a raise as focus stealing; keeping it above the others
        # for a moment gets it seen anyway.
        window.on_top = True
        window.on_top = False
        route = TASK_ROUTE.format(task_id=quote(task_id, safe=""))
        # Same document when the dashboard is open: only the hash changes, nothing reloads.
        window.run_js(f"location.assign({json.dumps(route)})")

    def report_error(self, title: str, message: str) -> None:
        import webview

        body = html.escape(message).replace("\n", "<br>")
        webview.create_window(
            title,
            html=f"<body style='font:15px sans-serif;padding:1.5em'><h3>{html.escape(title)}</h3>"
            f"<p>{body}</p></body>",
            width=560,
            height=260,
        )
        self._run()

    def _close_on_signals(self, window: Any) -> None:
        """SIGTERM (a logout, `kill`, a service manager) closes the window as the user would.

        GTK's main loop runs in C, so Python's own signal handlers would only run once it
        returns, and the app would die without its clean shutdown; GLib's run in the loop."""
        if self.gui != "gtk":
            return
        from gi.repository import GLib

        def close(*_args: object) -> bool:
            log.info("signal received: closing the window")
            self._closing_without_asking = True  # nobody is there to answer a dialog
            window.destroy()
            return GLib.SOURCE_REMOVE

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, close)

    def _prepare_close(self, window: Any, page: Page) -> None:
        # Runs on the GUI thread inside pywebview's close handling, just before it decides
        # whether to show its confirm-close dialog: set that dialog's switch and text.
        assert page.running_tasks is not None
        running = page.running_tasks()
        log.info("closing the window with %d running task(s)", running)
        window.confirm_close = running > 0 and not self._closing_without_asking
        window.localization["global.quitConfirmation"] = quit_question(running)

    def _run(self, on_started: Callable[[], None] | None = None) -> None:
        """Run the GUI loop until the last window closes."""
        import webview

        webview.start(
            on_started,
            gui=self.gui,  # type: ignore[arg-type]
            icon=str(ICON),
            private_mode=True,  # the token cookie lives for this window only
        )

    def _register_hooks(self, hooks: CommandChannel, window: Any) -> None:
        def close(_args: dict[str, Any]) -> None:
            self._closing_without_asking = True
            window.destroy()

        # run_js, not evaluate_js: pywebview's evaluate_js wraps the script in eval(), which
        # the page's Content-Security-Policy (script-src 'self') rightly refuses.
        hooks.register("eval", lambda args: window.run_js(args["js"]))
        hooks.register("close", close)
        window.events.loaded += lambda: hooks.emit("loaded", url=window.get_current_url())

    def _hooks_ready(self) -> None:
        assert self.hooks is not None
        self.hooks.start()
        self.hooks.emit("window", gui=self.gui)
