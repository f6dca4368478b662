"""The floor: FastAPI + uvicorn doing the least an add can do (validate the body, answer).

Its throughput is the most any FastAPI app could reach on this machine; ours is measured
as a fraction of it.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from pydantic import BaseModel, Field


class AddBody(BaseModel):
    duration: float = Field(gt=0, le=7 * 24 * 3600)
    name: str = Field("", max_length=200)


def create_floor_app() -> FastAPI:
    app = FastAPI()

    @app.post("/tasks/add", status_code=201)
    async def add(body: AddBody) -> dict[str, object]:
        return {"task_id": uuid.uuid4().hex, "name": body.name, "duration": body.duration}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
