"""Choosing the cluster: `serve --executor dask --scheduler local:N` (a LocalCluster the app
starts), PUT /settings, and refusals: never under --no-auth, never a made-up address."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from bench.dask_cluster import DaskCluster
from desktop_app import discovery
from tests.cluster.conftest import dask_executor
from tests.conftest import TOKEN, serving
from tests.waiting import alive, task_in, until
from web.cluster import WITHOUT_TOKEN
from web.settings import HOME_ENV, Settings, SettingsError

CLI = [sys.executable, "-m", "desktop_app"]


def test_serve_starts_a_local_cluster_and_runs_tasks_on_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, HOME_ENV: str(home)}
    served = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--executor", "dask", "--scheduler", "local:1"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    try:
        instance = until(lambda: discovery.read(home / "instance.json"), 30, "instance.json")
        headers = {"Authorization": f"Bearer {instance.token()}"}
        with httpx.Client(base_url=instance.url, headers=headers, timeout=30) as http:
            dask = until(
                lambda: next(
                    (e for e in http.get("/executors").json() if e.get("connected")), None
                ),
                60, "the local cluster to be up",
            )  # fmt: skip
            assert (dask["default"], dask["address"], dask["workers"]) == (True, "local:1", 1)
            task = http.post(
                "/tasks/add", json={"kind": "command", "command": ["sh", "-c", "echo $$"]}
            ).json()
            done = task_in(http, task["task_id"], "completed", "failed", deadline=60)
            assert done["status"] == "completed", done["error"]
            assert done["worker"].startswith("tcp://127.0.0.1:")
            assert http.get("/settings").json()["scheduler"] == "local:1"  # and stored
            shell_pid = int(http.get(f"/tasks/{task['task_id']}/logs").json()["text"])
            assert shell_pid != served.pid
    finally:
        served.send_signal(signal.SIGTERM)
        assert served.wait(30) == 0
    assert not alive(shell_pid)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No cluster (this folder's conftest gives every other test one)."""
    return Settings(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", token=TOKEN, port=0)


def test_no_cluster_without_a_token(tmp_path: Path, settings: Settings) -> None:
    env = {**os.environ, HOME_ENV: str(tmp_path / "home")}
    refused = subprocess.run(
        [*CLI, "serve", "--port", "0", "--no-auth", "--scheduler", "local:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 1
    assert WITHOUT_TOKEN in refused.stderr
    with pytest.raises(SettingsError):
        Settings(auth=False, executor="dask", scheduler="tcp://127.0.0.1:8786")

    open_settings = Settings(data_dir=settings.data_dir, log_dir=settings.log_dir, auth=False)
    with serving(open_settings) as server, httpx.Client(base_url=server.url) as http:
        put = http.put("/settings", json={"scheduler": "tcp://127.0.0.1:8786"})
        assert put.status_code == 403 and "without a token" in put.json()["detail"]
        add = http.post("/tasks/add", json={"duration": 1, "executor": "dask"})
        assert add.status_code == 403 and "without a token" in add.json()["detail"]
        assert http.get("/settings").json()["scheduler"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"scheduler": "my-cluster"}, "scheduler must look like tcp://host:8786"),
        ({"scheduler": "local:0"}, "scheduler must look like"),
        ({"executor": "dask"}, "needs a scheduler address"),
        ({"executor": "cloud"}, "executor"),
    ],
)
def test_a_choice_that_cannot_work_is_422_and_changes_nothing(
    settings: Settings, body: dict, says: str
) -> None:
    with serving(settings) as server, server.client() as http:
        before = http.get("/settings").json()
        answer = http.put("/settings", json={**body, "max_concurrent": 3})
        assert answer.status_code == 422, answer.text
        assert says in answer.text
        assert http.get("/settings").json() == before
        add = http.post("/tasks/add", json={"duration": 1, "executor": "dask"})
        assert add.status_code == 422 and "unknown executor 'dask'" in add.json()["detail"]


def test_a_tls_scheduler_with_the_security_files_from_the_settings(
    tmp_path: Path, settings: Settings
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=dask", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    (tmp_path / "cluster").mkdir()
    cluster = DaskCluster(tmp_path / "cluster", tls=(cert, key))
    try:
        cluster.start(workers=1)
        assert cluster.address.startswith("tls://")
        with serving(settings) as server, server.client() as http:
            put = http.put("/settings", json={"scheduler": cluster.address})
            assert put.status_code == 422 and "--tls-ca-file" in put.json()["detail"]
        secured = replace(
            settings, scheduler=cluster.address, executor="dask",
            tls_ca_file=cert, tls_cert=cert, tls_key=key,
        )  # fmt: skip
        with serving(secured) as server, server.client() as http:
            until(lambda: dask_executor(http)["connected"], 30, "the app to connect over TLS")
            task = http.post("/tasks/add", json={"kind": "command", "command": ["true"]}).json()
            assert task_in(http, task["task_id"], "completed", deadline=30)["worker"].startswith(
                "tls://"
            )
    finally:
        cluster.stop()


def test_a_scheduler_nobody_answers_at(settings: Settings) -> None:
    """The app serves, says why it is not connected, fails cluster tasks at once with the
    reason, and stops cleanly (no half-made Dask client left behind: warnings are errors)."""
    nobody = replace(settings, scheduler="tcp://127.0.0.1:9", executor="dask")
    with serving(nobody) as server, server.client() as http:
        dask = until(lambda: (now := dask_executor(http))["error"] and now, 30, "the reason")
        assert not dask["connected"] and "127.0.0.1:9" in dask["error"]
        task = http.post("/tasks/add", json={"duration": 1}).json()
        failed = task_in(http, task["task_id"], "failed", deadline=30)
        assert "could not reach the Dask scheduler at tcp://127.0.0.1:9" in failed["error"]
        assert http.get("/healthz").status_code == 200


def test_a_stored_cluster_is_set_aside_without_a_token_and_none_forgets_it(
    settings: Settings,
) -> None:
    def cluster_settings(given: Settings) -> tuple[dict, list[str]]:
        with (
            serving(given) as server,
            httpx.Client(base_url=server.url, headers=server.headers) as http,
        ):
            chosen = http.get("/settings").json()
            names = [e["name"] for e in http.get("/executors").json()]
        return {k: chosen[k] for k in ("executor", "scheduler")}, names

    nobody = replace(settings, scheduler="tcp://127.0.0.1:9", executor="dask")
    assert cluster_settings(nobody)[0] == {"executor": "dask", "scheduler": "tcp://127.0.0.1:9"}
    # Without a token the stored cluster is not used (the server starts, local only)...
    open_settings = replace(settings, auth=False, token=None)
    assert cluster_settings(open_settings) == (
        {"executor": "local", "scheduler": None},
        ["local"],
    )
    # ...and stays stored for a server with one, until `serve --scheduler none`.
    assert cluster_settings(settings)[0]["scheduler"] == "tcp://127.0.0.1:9"
    assert cluster_settings(replace(settings, scheduler="none"))[0] == {
        "executor": "local",
        "scheduler": None,
    }
    assert cluster_settings(settings) == ({"executor": "local", "scheduler": None}, ["local"])
