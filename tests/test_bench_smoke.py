"""The benchmark suite runs end to end (tiny sizes). Its figures are not checked here:
they belong in the benchmark's table, not in assertions."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.clients import DASHBOARD_BATCH_MS
from bench.report import rows
from bench.scenarios import QUICK

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (scripts/system-deps)")
def test_quick_bench_runs_and_prints_every_figure(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # a hang guard; it takes about 15 s
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for row in rows(QUICK):
        assert row.label in run.stdout
    results = json.loads(figures.read_text())
    for row in rows(QUICK):  # a number for each (a delivery lag may be negative)
        assert math.isfinite(results["ours"][row.key])
        assert math.isfinite(results[row.baseline][row.base_key or row.key])


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (scripts/system-deps)")
def test_bench_can_run_the_bursts_of_adds_alone() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--adds"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard; it takes a few seconds
    )
    assert run.returncode == 0, run.stderr[-3000:]
    labels = {row.key: row.label for row in rows(QUICK)}
    assert labels["add_rate_watched"] in run.stdout
    assert labels["add_rate_watched_plain"] in run.stdout
    assert labels["status_page"] not in run.stdout


def test_bench_dashboards_ask_for_what_the_page_asks_for() -> None:
    live_js = (ROOT / "web" / "static" / "js" / "live.js").read_text()
    assert re.search(r"const BATCH_MS = (\d+);", live_js)[1] == str(DASHBOARD_BATCH_MS)  # type: ignore[index]


def test_the_cluster_bench_runs_against_a_real_cluster() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.cluster", "--tasks", "5", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard; it takes about 5 s
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for label in ("tasks/s, added at once", "add to completed, median", "add to completed, p90"):
        assert label in run.stdout
