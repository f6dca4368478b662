"""The REST routes: validate, call the engine, map domain errors to HTTP. Nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from web import __version__
from web.schemas import AddTask, CancelTask, Health, Problem, Removed, TaskList, TaskOut
from web.tasks.engine import NewTask, TaskEngine
from web.tasks.model import Task, TaskStatus

router = APIRouter()

# Routes are `async def` on purpose: the engine lives on the event loop and is not
# thread-safe, so no route may run in the threadpool.

ERRORS = {
    401: {"model": Problem, "description": "Missing or wrong token."},
    403: {"model": Problem, "description": "Cross-origin request refused."},
    400: {"model": Problem, "description": "Host header not allowed."},
}
NOT_FOUND = {404: {"model": Problem, "description": "No task with that id."}}
CONFLICT = {409: {"model": Problem, "description": "The task is already finished."}}


def engine(request: Request) -> TaskEngine:
    return request.app.state.engine


Engine = Annotated[TaskEngine, Depends(engine)]


def task_response(task: Task, status_code: int = 200) -> Response:
    # The task's JSON is cached per version; skipping re-validation keeps big lists cheap.
    return Response(task.json, status_code=status_code, media_type="application/json")


@router.post(
    "/tasks/add",
    status_code=201,
    response_model=TaskOut,
    responses={**ERRORS, 422: {"description": "Invalid body; detail says which field."}},
)
async def add_task(body: AddTask, engine: Engine) -> Response:
    spec = NewTask(
        duration=body.duration,
        name=body.name,
        kind=body.kind,
        priority=body.priority,
        delay=body.delay,
        run_at=body.run_at.timestamp() if body.run_at else None,
    )
    return task_response(engine.add(spec), 201)


@router.post("/tasks/cancel", response_model=TaskOut, responses={**ERRORS, **NOT_FOUND, **CONFLICT})
async def cancel_task(body: CancelTask, engine: Engine) -> Response:
    return task_response(engine.cancel(body.task_id))


def parse_statuses(
    status: Annotated[
        str | None,
        Query(description="Comma-separated statuses to keep, e.g. `running,queued`."),
    ] = None,
) -> list[TaskStatus] | None:
    if not status:
        return None
    wanted = []
    for word in status.split(","):
        try:
            wanted.append(TaskStatus(word.strip()))
        except ValueError:
            raise HTTPException(
                422, f"unknown status {word.strip()!r}; use any of: {', '.join(TaskStatus)}"
            ) from None
    return wanted


@router.get("/tasks/status", response_model=TaskList, responses=ERRORS)
async def list_tasks(
    engine: Engine,
    statuses: Annotated[list[TaskStatus] | None, Depends(parse_statuses)],
    limit: Annotated[int, Query(ge=1, le=100_000, description="Page size.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Tasks to skip (newest first).")] = 0,
) -> Response:
    page, total = engine.page(statuses, limit, offset)
    counts = ",".join(f'"{k}":{v}' for k, v in engine.counts().items())
    body = f'{{"tasks":[{",".join(t.json for t in page)}],"counts":{{{counts}}},"total":{total}}}'
    return Response(body, media_type="application/json")


@router.delete("/tasks/finished", response_model=Removed, responses=ERRORS)
async def clear_finished(engine: Engine) -> Removed:
    ids = engine.clear_finished()
    return Removed(removed=len(ids), task_ids=ids)


@router.get("/tasks/{task_id}", response_model=TaskOut, responses={**ERRORS, **NOT_FOUND})
async def get_task(task_id: str, engine: Engine) -> Response:
    return task_response(engine.get(task_id))


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok", version=__version__)
