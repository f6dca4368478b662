"""A short soak in CI (bench/soak.py runs the long one): adds, cancels and WebSocket churn
against the real server, with memory and open files flat at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.serving import ROOT


def test_short_soak_stays_flat(tmp_path: Path) -> None:
    figures = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--seconds", "8", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,  # a hang guard
    )
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    result = json.loads(figures.read_text())
    assert result["flat"], result
    assert result["adds"] > 0 and result["cancels"] > 0 and result["ws_connections"] > 0
    print(result)
