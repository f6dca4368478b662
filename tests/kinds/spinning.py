"""A kinds file for the tests: a sync kind that works until it is cancelled."""

from __future__ import annotations

import time

from pydantic import BaseModel, Field

from web.tasks.kinds import TaskContext, kind


class Spin(BaseModel):
    rounds: int = Field(ge=1, le=10_000_000)


@kind("spin", params=Spin)
def spin(params: Spin, ctx: TaskContext) -> None:
    """Busy work in a worker thread: it must never hold up the server."""
    for i in range(params.rounds):
        ctx.check_cancelled()
        deadline = time.monotonic() + 0.01
        while time.monotonic() < deadline:  # really busy, holding the GIL as it can
            pass
        ctx.progress((i + 1) / params.rounds)
        ctx.log(f"round {i + 1}")
