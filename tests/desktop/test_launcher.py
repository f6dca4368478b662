"""The launcher's logic with the window part replaced by a fake front: no display needed."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from desktop_app import discovery
from desktop_app.browser import BrowserFront
from desktop_app.client import InstanceClient
from desktop_app.front import Page, quit_question
from desktop_app.hosting import AlreadyRunning, hosted_engine
from desktop_app.launcher import launch
from tests.waiting import until
from web.settings import Settings
from web.store import Store


@dataclass
class FakeFront:
    """Records what the launcher asks of the window; `on_show` plays the user."""

    on_show: Callable[[Page], None] = lambda page: None
    shown: list[Page] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def show(self, page: Page) -> None:
        self.shown.append(page)
        self.on_show(page)

    def report_error(self, title: str, message: str) -> None:
        self.errors.append((title, message))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", port=0)


def server_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "uvicorn"]


def client_for(settings: Settings) -> InstanceClient:
    found = discovery.read(settings.instance_path)
    assert found is not None
    return InstanceClient(found.url, found.token())


def test_the_window_opens_on_a_ready_server_at_an_os_chosen_port(settings: Settings) -> None:
    seen: dict[str, object] = {}

    def user(page: Page) -> None:
        # The server must already answer when the window is asked to load the page.
        with urllib.request.urlopen(f"{page.url.split('/dashboard')[0]}/healthz") as answer:
            seen["health"] = answer.status
        seen["instance"] = discovery.read(settings.instance_path)

    front = FakeFront(user)
    assert launch(settings, front) == 0

    [page] = front.shown
    url = urlsplit(page.url)
    assert url.hostname == "127.0.0.1" and url.port not in (None, 0, settings.port)
    assert url.path == "/dashboard" and url.query.startswith("token=")
    assert page.owns_engine and page.title == "Task Dashboard"
    assert seen["health"] == 200
    instance = seen["instance"]
    assert isinstance(instance, discovery.Instance) and instance.port == url.port
    assert front.errors == []


def test_closing_interrupts_running_tasks_joins_the_server_and_withdraws(
    settings: Settings,
) -> None:
    threads_before = set(threading.enumerate())
    added: dict[str, str] = {}

    def user(page: Page) -> None:
        client = client_for(settings)
        added["id"] = client.add(60, name="long one")["task_id"]
        assert page.running_tasks is not None
        until(lambda: page.running_tasks() == 1, 5, "the task to run")  # type: ignore[misc]

    assert launch(settings, FakeFront(user)) == 0

    assert server_threads() == []
    # AnyIO's worker threads are told to stop with the server's loop and end just after it.
    until(lambda: set(threading.enumerate()) <= threads_before, 5, "helper threads to end")
    assert not settings.instance_path.exists()
    store = Store.open(settings.db_path)
    try:
        [(_, task)] = store.load_all()
    finally:
        store.close()
    assert (task.task_id, task.status) == (added["id"], "interrupted")


def test_a_start_up_failure_is_reported_and_nothing_is_shown(settings: Settings) -> None:
    settings.db_path.mkdir(parents=True)  # a folder where the database file should be
    front = FakeFront()
    assert launch(settings, front) == 1
    assert front.shown == []
    [(title, message)] = front.errors
    assert "could not start" in title
    assert str(settings.db_path) in message
    assert server_threads() == []
    # Nothing stays claimed: the next start is free to try again.
    assert not settings.instance_path.exists()
    lock = discovery.EngineLock(settings.data_dir)
    assert lock.acquire()
    lock.release()


def test_a_second_launch_shows_the_running_instance_without_a_second_engine(
    settings: Settings,
) -> None:
    with hosted_engine(settings) as first:
        front = FakeFront(lambda page: seen.append(len(server_threads())))
        seen: list[int] = []
        assert launch(settings, front) == 0
        [page] = front.shown
        assert page.url.startswith(f"{first.instance.url}/dashboard?token=")
        assert not page.owns_engine  # closing this window leaves the engine running
        assert seen == [1]
        with pytest.raises(AlreadyRunning):
            hosted_engine(settings).__enter__()
        assert first.server.alive


def test_a_second_launch_reports_an_instance_that_never_answers(settings: Settings) -> None:
    lock = discovery.EngineLock(settings.data_dir)
    assert lock.acquire()  # held, but nothing is ever published
    try:
        front = FakeFront()
        assert launch(settings, front, wait_for_other=0.1) == 1
    finally:
        lock.release()
    assert front.shown == []
    [(title, _message)] = front.errors
    assert "already starting" in title


@pytest.mark.parametrize(
    ("running", "question"),
    [
        (1, "1 task is still running. Quit anyway?"),
        (3, "3 tasks are still running. Quit anyway?"),
    ],
)
def test_the_close_question_says_how_many_tasks_run(running: int, question: str) -> None:
    assert quit_question(running).startswith(question)
    assert "interrupted" in quit_question(running)


def test_without_a_window_the_browser_opens_and_the_engine_keeps_serving(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[str] = []
    served: list[bool] = []

    def keep_serving() -> None:  # stands for "until Ctrl+C": check the server, then stop
        served.append(client_for(settings).running_count() == 0)

    front = BrowserFront("no display", opened.append, keep_serving)  # append returns None
    assert launch(settings, front) == 0
    out = capsys.readouterr().out
    assert "no window, no display" in out
    assert opened and opened[0].startswith("http://127.0.0.1:")
    # The browser could not be opened (None is falsy): the signed-in URL is printed instead.
    assert opened[0] in out
    assert served == [True]
