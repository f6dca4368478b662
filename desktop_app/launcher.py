"""`task-dashboard` with no arguments: the engine in this process, the dashboard in a window.

The window part is a Front (front.py) handed in by the caller (a pywebview window, the default
browser when there is no GUI, or a fake in tests), so everything here runs without a
display. The order matters: the server answers before the front is shown, and the front
has closed before the server stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from desktop_app import discovery
from desktop_app.client import ClientError, InstanceClient
from desktop_app.discovery import Instance
from desktop_app.front import TITLE, Front, Page
from desktop_app.hosting import AlreadyRunning, hosted_engine
from desktop_app.server import ServerStartError, ServerThread
from desktop_app.testhooks import CommandChannel
from web.notices import NoticeSink
from web.settings import Settings

log = logging.getLogger(__name__)

# A second launch may find the first one still starting its server.
WAIT_FOR_OTHER_INSTANCE = 15.0


def launch(
    settings: Settings,
    front: Front,
    *,
    start_timeout: float = 15.0,
    wait_for_other: float = WAIT_FOR_OTHER_INSTANCE,
    hooks: CommandChannel | None = None,
    notices: NoticeSink | None = None,
) -> int:
    """Run the app until the front is closed; returns the process exit code. `notices`
    tells the user of task ends while this process hosts the engine."""
    try:
        with hosted_engine(settings, start_timeout, notices) as hosted:
            if hooks is not None:
                _register_server_probes(hooks, hosted.server)
            front.show(_own_page(hosted.instance))
        return 0
    except AlreadyRunning:
        return _show_other_instance(settings, front, wait_for_other)
    except ServerStartError as exc:
        log.error("cannot start: %s", exc)
        front.report_error(f"{TITLE} could not start", f"{exc}\n\nLogs: {settings.log_dir}")
        return 1


def _own_page(instance: Instance) -> Page:
    client = InstanceClient(instance.url, instance.token())
    return Page(instance.dashboard_url(), running_tasks=_count_or_zero(client))


def _count_or_zero(client: InstanceClient) -> Callable[[], int]:
    def running_tasks() -> int:
        try:
            return client.running_count()
        except ClientError as exc:  # a server that cannot answer has nothing left to lose
            log.warning("cannot count running tasks: %s", exc)
            return 0

    return running_tasks


def _show_other_instance(settings: Settings, front: Front, timeout: float) -> int:
    found = discovery.wait_for(settings.instance_path, timeout)
    if found is None:
        front.report_error(
            f"{TITLE} is already starting",
            f"Another {TITLE} holds {settings.data_dir} but has not answered within "
            f"{timeout:.0f} s. Logs: {settings.log_dir}",
        )
        return 1
    log.info("opening a window on the running instance %s (pid %d)", found.url, found.pid)
    front.show(Page(found.dashboard_url()))
    return 0


def _register_server_probes(hooks: CommandChannel, server: ServerThread) -> None:
    # Reading a set's length from another thread is safe; nothing is changed.
    hooks.register("ws_clients", lambda _args: server.app.state.hub.subscriber_count)


def main() -> int:
    """The double-click entry point: a window if one can open, else the browser."""
    from desktop_app.browser import BrowserFront
    from desktop_app.logs import setup_logging
    from desktop_app.notifications import DesktopNotices
    from desktop_app.window import ICON, GuiUnavailable, NativeWindow, find_gui

    settings = Settings(port=0)  # the OS picks a free port; discovery tells scripts which
    setup_logging(settings.log_dir)
    hooks = CommandChannel.from_env()
    try:
        window = NativeWindow(find_gui(), hooks)
    except GuiUnavailable as exc:
        # The page in the browser tells of task ends itself (web notifications).
        return launch(settings, BrowserFront(str(exc)), hooks=hooks)
    with DesktopNotices(on_click=window.reveal_task, icon=Path(str(ICON))) as notices:
        return launch(settings, window, hooks=hooks, notices=notices)
