"""A real Dask cluster for each test (bench/dask_cluster.py): a `dask scheduler` and two
`dask worker` processes on 127.0.0.1, started per test (several tests kill one of them)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench.dask_cluster import DaskCluster
from tests.conftest import LiveServer
from tests.waiting import until
from web.settings import Settings

GATED_KINDS = Path(__file__).resolve().parents[1] / "kinds" / "gated.py"


@pytest.fixture
def allowed_failures() -> int:
    """Workers lost before Dask gives up on a task; a test may parametrize it."""
    return 0


@pytest.fixture
def cluster(tmp_path: Path, allowed_failures: int) -> Iterator[DaskCluster]:
    root = tmp_path / "cluster"
    root.mkdir()
    started = DaskCluster(root, allowed_failures)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture
def settings(settings: Settings, cluster: DaskCluster) -> Settings:
    """A server whose tasks run on the cluster by default, with the gated kind loaded."""
    return replace(
        settings,
        executor="dask",
        scheduler=cluster.address,
        kinds_file=GATED_KINDS,
        kill_grace=1.0,
        cluster_stop_timeout=10.0,
    )


def dask_executor(http: httpx.Client) -> dict:
    """The dask executor as GET /executors says it now."""
    return next(e for e in http.get("/executors").json() if e["name"] == "dask")


def connected(server: LiveServer, workers: int = 2) -> dict:
    """The dask executor once it is connected with `workers`."""

    def check() -> dict | None:
        with server.client() as http:
            dask = dask_executor(http)
        return dask if dask["connected"] and dask["workers"] == workers else None

    return until(check, 30, f"the app to be connected to {workers} workers")
