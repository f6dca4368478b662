"""The Dask executor in a real Chromium: the cluster's line under the queue bar, a task sent
to the cluster from the form showing its worker, the "Where tasks run" panel with the
server's refusals, and a killed scheduler. A real `dask scheduler` and two workers
(tests/cluster/conftest.py), started here and ended by PID."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.test_dashboard import row_named
from tests.cluster.conftest import DaskCluster
from tests.conftest import LiveServer, serving
from web.settings import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def on_cluster(tmp_path: Path, settings: Settings) -> Iterator[tuple[LiveServer, DaskCluster]]:
    """A server with a scheduler set (tasks run locally unless they ask for the cluster)."""
    root = tmp_path / "cluster"
    root.mkdir()
    cluster = DaskCluster(root)
    try:
        cluster.start()
        with serving(replace(settings, scheduler=cluster.address)) as server:
            yield server, cluster
    finally:
        cluster.stop()


def open_executors(page: Page) -> None:
    page.get_by_role("button", name="Where tasks run").click()
    expect(page.locator("#executor-dialog")).to_be_visible()


def test_the_cluster_and_where_a_task_runs(
    on_cluster: tuple[LiveServer, DaskCluster], open_dashboard: OpenDashboard
) -> None:
    server, cluster = on_cluster
    # The narrowest window the dashboard is made for, in the dark theme.
    page = open_dashboard(server, width=420, height=860, dark=True)
    bar = page.locator("#cluster-bar")
    expect(bar.locator("[data-cluster=state]")).to_have_text("Connected")
    expect(bar.locator("[data-cluster=workers]")).to_have_text("2 workers")
    expect(bar.locator("[data-cluster=threads]")).to_have_text("4 threads")
    expect(bar.locator("[data-cluster=address]")).to_have_text(cluster.address)
    expect(bar.locator("[data-cluster=default]")).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollWidth") <= 420

    run_on = page.get_by_label("Run on", exact=True)
    expect(run_on).to_have_value("local")  # the settings' default...
    with server.client() as http:  # ...which another window (here: a script) changes
        answer = http.put("/settings", json={"executor": "dask"})
        assert answer.status_code == 200, answer.text
    expect(run_on).to_have_value("dask")
    expect(bar.locator("[data-cluster=default]")).to_be_visible()
    page.locator("#duration").fill("1s")
    page.locator("#name").fill("Remote")
    page.get_by_role("button", name="Add task").click()
    place = row_named(page, "Remote").locator("[data-part=placeText]")
    expect(place).to_have_text(re.compile(r"^dask · 127\.0\.0\.1:\d+$"))  # the worker, once known

    with server.client() as http:
        task = http.get("/tasks/status").json()["tasks"][0]
    assert task["executor"] == "dask" and task["worker"].startswith("tcp://127.0.0.1:")
    row_named(page, "Remote").locator("[data-part=name]").click()
    detail = page.locator("#task-detail")
    expect(detail.locator("[data-field=executor]")).to_have_text("dask")
    expect(detail.locator("[data-field=worker]")).to_have_text(task["worker"])
    detail.get_by_role("button", name="Close the task's record").click()

    open_executors(page)
    dialog = page.locator("#executor-dialog")
    expect(dialog.get_by_label("New tasks run on")).to_have_value("dask")
    expect(dialog.get_by_label("Dask scheduler")).to_have_value(cluster.address)
    refused_with_the_servers_words(dialog)

    port = int(cluster.address.rsplit(":", 1)[1])
    cluster.kill_scheduler()
    expect(bar.locator("[data-cluster=state]")).to_have_text("Not connected", timeout=20_000)
    expect(bar.locator("[data-cluster=error]")).to_have_text("lost the connection to the scheduler")
    expect(bar.locator("[data-cluster=counts]")).to_be_hidden()
    # Back on its address, the app reconnects by itself. (Also: a server stopped while its
    # scheduler is gone takes longer than the fixture's stop allows.)
    cluster.start_scheduler(port)
    expect(bar.locator("[data-cluster=state]")).to_have_text("Connected", timeout=30_000)


def refused_with_the_servers_words(dialog: Locator) -> None:
    """A made-up address: the server's 422 detail under the fields, nothing saved."""
    dialog.get_by_label("Dask scheduler").fill("somewhere:8786")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.get_by_role("alert")).to_contain_text("scheduler must look like tcp://host:8786")
    expect(dialog.get_by_label("Dask scheduler")).to_have_attribute("aria-invalid", "true")
    dialog.get_by_role("button", name="Close").click()


def test_no_cluster_shows_nothing_and_the_panel_says_what_to_fix(
    live_server: LiveServer, open_dashboard: OpenDashboard
) -> None:
    page = open_dashboard(live_server)
    expect(page.locator("#cluster-bar")).to_be_hidden()  # no scheduler: nothing to show
    expect(page.get_by_label("Run on", exact=True)).to_be_hidden()
    open_executors(page)
    dialog = page.locator("#executor-dialog")
    expect(dialog.get_by_label("Dask scheduler")).to_have_value("")
    refused_with_the_servers_words(dialog)
    with live_server.client() as http:
        assert http.get("/settings").json()["scheduler"] is None
