"""The REST routes: validate, call the engine, map domain errors to HTTP. Nothing else."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from web import __version__
from web.cluster.executors import Executors
from web.notify_prefs import NotifyPrefs, NotifyPrefsBook
from web.schemas import (
    AddTask,
    CancelTask,
    ExecutorOut,
    Health,
    KindOut,
    LogChunkOut,
    QueueSettingsBody,
    Removed,
    Reprioritize,
    SettingsBody,
    TaskList,
    TaskOut,
)
from web.tasks.engine import NewTask, TaskEngine
from web.tasks.listing import Wanted
from web.tasks.model import Task, TaskStatus

router = APIRouter()

# Routes are `async def` on purpose: the engine lives on the event loop and is not
# thread-safe, so no route may run in the threadpool.

PROBLEM = {"$ref": "#/components/schemas/Problem"}


def problem(description: str) -> dict[str, Any]:
    """An error answer, documented by reference to the Problem schema rather than with
    `"model": Problem`: for each such answer of each route, FastAPI builds a pydantic field
    at import that only /openapi.json uses (102 of them, some 20 ms of every start-up).
    web/app.py adds the schema referred to to the document."""
    return {"description": description, "content": {"application/json": {"schema": PROBLEM}}}


COMMON = {
    400: problem("Host header not allowed."),
    401: problem("Missing or wrong token."),
    403: problem("Cross-origin request refused."),
    413: problem("Request body too large."),
    503: problem(
        "The task database cannot be written (disk full, locked, read-only); "
        "`detail` names the file and what to do."
    ),
}
INVALID = {422: {"description": "Invalid input; `detail` says which field and why."}}
NOT_FOUND = {404: problem("No task with that id.")}
CONFLICT = {409: problem("The task is in the wrong state for this.")}
REFUSED = {403: problem("Not allowed here (see detail).")}
ON_TASK = {**COMMON, **INVALID, **NOT_FOUND, **CONFLICT}
# Offsets past this are refused (422), not passed on to slicing and seeking that overflow (500).
MAX_OFFSET = 2**53 - 1


def engine_of(request: Request) -> TaskEngine:
    # A plain lookup, not a FastAPI dependency: solving one cost a tenth of the add path
    # (bench/), and a `def` dependency would even hop to the threadpool.
    return request.app.state.engine


def task_response(engine: TaskEngine, task: Task, status_code: int = 200) -> Response:
    # The engine keeps each task's JSON ready; sent as it is, FastAPI validates nothing again.
    return Response(
        engine.listing.render(task), status_code=status_code, media_type="application/json"
    )


ADD = "/tasks/add"


@router.post(
    ADD,
    status_code=201,
    response_model=TaskOut,
    responses={**COMMON, **INVALID, **REFUSED},
)
async def add_task(body: AddTask, request: Request) -> Response:
    # What /openapi.json shows of POST /tasks/add (no docstring: it would become the
    # operation's description). serve_add() answers it (web/app.py); this answers only an
    # add that reaches FastAPI's router: one that came before the app's first call built
    # the short stack (an app driven without its lifespan).
    return await add(body, request)


async def serve_add(request: Request) -> Response:
    """POST /tasks/add without FastAPI's per-request machinery (dependencies, body field,
    response handling; with its middleware, half the cost of an add: bench/): the body is
    checked by the same model, and a bad one gets the same 422 as on every other route."""
    return await add(await json_body(request, AddTask), request)


async def add(body: AddTask, request: Request) -> Response:
    engine = engine_of(request)
    spec = NewTask(
        kind=body.kind,
        params=body.params,
        name=body.name,
        priority=body.priority,
        delay=body.delay,
        run_at=body.run_at.timestamp() if body.run_at else None,
        after=tuple(body.after),
        executor=body.executor,
    )
    return task_response(engine, await engine.add(spec), 201)


M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The request's body as `model`, checked as FastAPI checks a body parameter (the
    same steps, so the same answers): only a body declared as JSON is parsed, a missing one
    is `missing`, one that is not JSON is `json_invalid` at its position, and the model's
    own problems are under `body`."""
    try:
        raw = await _body(request)
        if not raw:
            raise RequestValidationError([_problem("missing", "Field required")])
        value: Any = raw
        if _is_json(_content_type(request)):
            value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [_problem("json_invalid", "JSON decode error", exc.pos)]
        ) from None
    except RequestValidationError:
        raise
    except Exception as exc:  # not UTF-8, a client gone half-way: FastAPI's answer
        raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI does
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def _body(request: Request) -> bytes:
    """The whole body, read from the server's messages as Request.body() reads it, less
    its async generator (2 us of an add). Kept where Request.body() keeps it: a handler
    that asked for it again would otherwise wait for a message that never comes."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            request._body = body = b"".join(chunks)
            return body


def _content_type(request: Request) -> str | None:
    """The first Content-Type header, as request.headers.get() finds it, without building
    the Headers object (1 us of an add). ASGI header names are lowercase."""
    found = next(
        (value for name, value in request.scope["headers"] if name == b"content-type"), None
    )
    return None if found is None else found.decode("latin-1")


def _problem(kind: str, msg: str, *where: int) -> dict[str, Any]:
    return {"type": kind, "loc": ("body", *where), "msg": msg}


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").partition(";")[0].strip().lower()
    main, _, sub = media.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


@router.post("/tasks/cancel", response_model=TaskOut, responses=ON_TASK)
async def cancel_task(body: CancelTask, request: Request) -> Response:
    engine = engine_of(request)
    return task_response(engine, await engine.cancel(body.task_id))


_ONE_STATUS = f" *(?:{'|'.join(TaskStatus)}) *"
# Exactly what parse_statuses accepts, so the schema documents it.
STATUSES_PATTERN = f"^(?:{_ONE_STATUS}(?:,{_ONE_STATUS})*)?$"


async def parse_statuses(
    status: Annotated[
        str | None,
        Query(
            description="Comma-separated statuses to keep, e.g. `running,queued`.",
            json_schema_extra={"pattern": STATUSES_PATTERN},
        ),
    ] = None,
) -> list[TaskStatus] | None:
    if not status:
        return None
    wanted = []
    for word in status.split(","):
        try:
            wanted.append(TaskStatus(word.strip(" ")))
        except ValueError:
            raise HTTPException(
                422, f"unknown status {word.strip()!r}; use any of: {', '.join(TaskStatus)}"
            ) from None
    return wanted


@router.get("/tasks/status", response_model=TaskList, responses={**COMMON, **INVALID})
async def list_tasks(
    request: Request,
    statuses: Annotated[list[TaskStatus] | None, Depends(parse_statuses)],
    limit: Annotated[int, Query(ge=1, le=100_000, description="Page size.")] = 100,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Tasks to skip (newest first).")
    ] = 0,
    kind: Annotated[
        str | None, Query(max_length=200, description="Only tasks of this kind, e.g. `command`.")
    ] = None,
    search: Annotated[
        str,
        Query(
            max_length=200,
            description="Only tasks whose name holds this text (in any case), or whose id "
            "starts with it.",
        ),
    ] = "",
    order: Annotated[
        Literal["newest", "line"],
        Query(
            description="`newest` first, or `line`: queued tasks first, in the order they "
            "will start, then the rest newest first."
        ),
    ] = "newest",
) -> Response:
    engine = engine_of(request)
    wanted = Wanted(
        frozenset(statuses or ()), limit, offset, kind or None, search.strip(), order == "line"
    )
    if engine.listing.needs_history(wanted):
        await engine.whole_history()
    tasks, total = engine.listing.page(wanted)
    counts = ",".join(f'"{k}":{v}' for k, v in engine.counts().items())
    tail = f'],"counts":{{{counts}}},"total":{total}}}'.encode()
    return Response(_joined(tasks, b'{"tasks":[', tail), media_type="application/json")


def _joined(items: list[bytes], head: bytes, tail: bytes) -> bytes:
    """head + b",".join(items) + tail, copying the items once: 10,000 tasks are 3.5 MB,
    and each extra copy took longer than the naive app's whole answer (bench/)."""
    if not items:
        return head + tail
    items[0] = head + items[0]
    items[-1] += tail
    return b",".join(items)


@router.delete("/tasks/finished", response_model=Removed, responses=COMMON)
async def clear_finished(request: Request) -> Removed:
    engine = engine_of(request)
    ids = await engine.clear_finished()
    return Removed(removed=len(ids), task_ids=ids)


@router.get("/tasks/{task_id}/logs", response_model=LogChunkOut, responses={**COMMON, **NOT_FOUND})
async def read_log(
    task_id: str,
    request: Request,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Byte offset to read from.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1024 * 1024, description="Bytes at most.")] = 65536,
) -> LogChunkOut:
    engine = engine_of(request)
    task = await engine.find(task_id)
    chunk = engine.logs.read(task_id, offset, limit)
    return LogChunkOut(
        task_id=task_id,
        offset=chunk.offset,
        next_offset=chunk.next_offset,
        text=chunk.text,
        dropped=chunk.dropped,
        complete=task.status.is_final and chunk.next_offset >= engine.logs.end(task_id),
    )


@router.get("/kinds", response_model=list[KindOut], responses=COMMON)
async def list_kinds(request: Request) -> list[dict]:
    engine = engine_of(request)
    return [k.public for k in engine.kinds]


@router.get("/tasks/{task_id}", response_model=TaskOut, responses={**COMMON, **NOT_FOUND})
async def get_task(task_id: str, request: Request) -> Response:
    engine = engine_of(request)
    await engine.find(task_id)  # it may be in the history still being paged in
    return Response(engine.listing.task_json(task_id), media_type="application/json")


@router.post("/tasks/{task_id}/pause", response_model=TaskOut, responses=ON_TASK)
async def pause_task(task_id: str, request: Request) -> Response:
    engine = engine_of(request)
    return task_response(engine, await engine.pause(task_id))


@router.post("/tasks/{task_id}/resume", response_model=TaskOut, responses=ON_TASK)
async def resume_task(task_id: str, request: Request) -> Response:
    engine = engine_of(request)
    return task_response(engine, await engine.resume(task_id))


@router.post(
    "/tasks/{task_id}/retry",
    status_code=201,
    response_model=TaskOut,
    responses={**ON_TASK, **REFUSED},
)
async def retry_task(task_id: str, request: Request) -> Response:
    engine = engine_of(request)
    return task_response(engine, await engine.retry(task_id), 201)


@router.post("/tasks/{task_id}/priority", response_model=TaskOut, responses=ON_TASK)
async def reprioritize_task(task_id: str, body: Reprioritize, request: Request) -> Response:
    engine = engine_of(request)
    return task_response(
        engine, await engine.set_priority(task_id, body.priority, front=body.front)
    )


CLUSTER_KEYS = frozenset({"executor", "scheduler"})


def all_settings(request: Request) -> dict:
    notify: NotifyPrefsBook = request.app.state.notify
    executors: Executors = request.app.state.executors
    return {
        **engine_of(request).queue.public,
        **notify.current.public,
        **executors.current.public,
    }


@router.get("/settings", response_model=SettingsBody, responses=COMMON)
async def get_settings(request: Request) -> dict:
    return all_settings(request)


@router.put("/settings", response_model=SettingsBody, responses={**COMMON, **INVALID})
async def put_settings(body: SettingsBody, request: Request) -> dict:
    engine = engine_of(request)
    given = body.model_dump(exclude_unset=True)
    # The cluster first: its choice is checked as it is made, and a refusal must leave
    # every other setting as it was.
    cluster = CLUSTER_KEYS & given.keys()
    if cluster:
        executors: Executors = request.app.state.executors
        await executors.change(
            given.get("executor"), given.get("scheduler"), keep=CLUSTER_KEYS - cluster
        )
    changes: dict[str, object] = {}
    if "max_concurrent" in given:
        changes["max_concurrent"] = given["max_concurrent"]
    if "queue_paused" in given:
        changes["paused"] = given["queue_paused"]
    notify_given = "notify" in given or "notify_min_seconds" in given
    if changes or not (notify_given or cluster):
        await engine.configure(dataclasses.replace(engine.queue, **changes))
    notify: NotifyPrefsBook = request.app.state.notify
    if notify_given:
        now = notify.current
        await notify.change(
            NotifyPrefs(
                mode=given.get("notify", now.mode),
                min_seconds=given.get("notify_min_seconds", now.min_seconds),
            )
        )
    return all_settings(request)


# exclude_unset: the local executor has no cluster fields (a cluster's are always set).
@router.get(
    "/executors",
    response_model=list[ExecutorOut],
    response_model_exclude_unset=True,
    responses=COMMON,
)
async def list_executors(request: Request) -> list[dict]:
    """Where tasks can run, and the state of the cluster if one is set."""
    executors: Executors = request.app.state.executors
    return executors.describe()


@router.post("/queue/pause", response_model=QueueSettingsBody, responses=COMMON)
async def pause_queue(request: Request) -> dict:
    engine = engine_of(request)
    return (await engine.configure(dataclasses.replace(engine.queue, paused=True))).public


@router.post("/queue/resume", response_model=QueueSettingsBody, responses=COMMON)
async def resume_queue(request: Request) -> dict:
    engine = engine_of(request)
    return (await engine.configure(dataclasses.replace(engine.queue, paused=False))).public


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok", version=__version__)
