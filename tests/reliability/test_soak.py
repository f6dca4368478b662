"""A short soak in CI (bench/soak.py runs the long one): adds at a steady rate, cancels, and
ten WebSocket clients that keep a view of the tasks while churning their connections,
against the real server. Every view must equal the server's list at the end, with memory and
open files flat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.serving import ROOT


def test_short_soak_stays_flat_and_loses_no_delta(tmp_path: Path) -> None:
    figures = tmp_path / "soak.json"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "bench.soak", "--seconds", "6", "--clients", "10"),
            *("--stay", "2", "--json", str(figures)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # a hang guard
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    result = json.loads(figures.read_text())
    assert result["views_equal"] and result["view_failures"] == [], result
    assert result["flat"] and result["ok"], result
    # Not vacuous: tasks came and went, the views were built from snapshots and kept up by
    # deltas (some in batches), clients left and came back, and the end had tasks to compare.
    assert result["adds"] > 0 and result["cancels"] > 0 and result["clears"] > 0, result
    assert result["ws_connections"] > result["clients"] + 1, result  # reconnects happened
    assert result["deltas_applied"] > result["adds"], result
    assert result["removals_applied"] > 0 and result["batches_applied"] > 0, result
    assert result["final_tasks"] > 0 and result["seq_regressions"] == 0, result
    # The slope is reported (judged only over long runs: bench/soak.py says why).
    assert result["samples"] >= 3, result
    assert isinstance(result["rss_slope_mib_per_hour"], float), result
    assert isinstance(result["fds_slope_per_hour"], float), result
    print(result)
