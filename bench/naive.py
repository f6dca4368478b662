"""The naive baseline: the original README's design, written out for comparison.

A dict of tasks, one `asyncio.create_task` per task (its reference kept in a dict), and
the whole task list sent to every WebSocket client, one awaited send after another, on
every change. No persistence, no auth, no progress updates (the original had none), so it
is, if anything, flattered.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from bench.floor import AddBody


class CancelBody(BaseModel):
    task_id: str


def _now() -> str:
    return datetime.now(UTC).isoformat()


def create_naive_app() -> FastAPI:
    app = FastAPI()
    # Kept in the closure rather than at module level, so each app has its own.
    tasks: dict[str, dict[str, Any]] = {}
    runners: dict[str, asyncio.Task[None]] = {}
    clients: set[WebSocket] = set()

    async def broadcast() -> None:
        message = {"tasks": list(tasks.values())}
        for client in list(clients):
            try:
                await client.send_json(message)
            except Exception:
                clients.discard(client)

    async def run(task_id: str, duration: float) -> None:
        await asyncio.sleep(duration)
        tasks[task_id].update(status="completed", progress=1.0, finished_at=_now())
        await broadcast()

    @app.post("/tasks/add", status_code=201)
    async def add(body: AddBody) -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        now = _now()
        tasks[task_id] = {
            "task_id": task_id,
            "name": body.name,
            "duration": body.duration,
            "status": "running",
            "progress": 0.0,
            "created_at": now,
            "started_at": now,
            "finished_at": None,
            "error": None,
        }
        runners[task_id] = asyncio.create_task(run(task_id, body.duration))
        await broadcast()
        return tasks[task_id]

    @app.post("/tasks/cancel")
    async def cancel(body: CancelBody) -> dict[str, Any]:
        task = tasks.get(body.task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        if task["status"] != "running":
            raise HTTPException(409, "already finished")
        runners[body.task_id].cancel()
        task.update(status="cancelled", finished_at=_now())
        await broadcast()
        return task

    @app.get("/tasks/status")
    async def status() -> dict[str, Any]:
        return {"tasks": list(tasks.values())}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        clients.add(websocket)
        try:
            await websocket.send_json({"tasks": list(tasks.values())})
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(websocket)

    return app
