"""A kinds file for the cluster tests: a sync kind that works until a gate file appears."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

from web.tasks.kinds import TaskContext, kind


class Gate(BaseModel):
    gate: str  # the file whose existence lets it finish; `<gate>.ran` says it started
    stubborn: bool = False  # never looks at its cancel flag


@kind("gated", params=Gate, resumable=True)
def gated(params: Gate, ctx: TaskContext) -> None:
    """Say where it runs, report half-way, wait for the gate (or a cancel), then finish."""
    Path(params.gate + ".ran").touch()
    ctx.log(f"running in pid {os.getpid()}")
    ctx.progress(0.5)
    while not Path(params.gate).exists():
        if not params.stubborn:
            ctx.check_cancelled()
        time.sleep(0.02)  # the work this kind stands for
    ctx.log("through the gate")
