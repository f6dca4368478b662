"""The history's routes: GET /stats (series for the charts) and GET /tasks/export.

Both read the SQLite file in worker threads (web/history.py; GET /stats through a copy of
its columns, web/columns.py), never the engine's memory nor on the event loop. They come
before the API's routes: `/tasks/{task_id}` would otherwise take `/tasks/export` for a
task id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from anyio.to_thread import run_sync
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from web import stats
from web.api import COMMON, INVALID, parse_statuses
from web.export import FORMATS, export
from web.history import History, TaskFilter
from web.schemas import Stats
from web.tasks.model import TaskStatus

router = APIRouter()


def history_of(request: Request) -> History:
    return History(request.app.state.settings.db_path)


async def task_filter(
    statuses: Annotated[list[TaskStatus] | None, Depends(parse_statuses)],
    kind: Annotated[
        str | None, Query(description="Comma-separated kinds to keep, e.g. `timer,command`.")
    ] = None,
    search: Annotated[
        str | None,
        Query(max_length=200, description="A part of the name (any case) or an id prefix."),
    ] = None,
) -> TaskFilter:
    kinds = tuple(k.strip() for k in (kind or "").split(",") if k.strip())
    return TaskFilter(tuple(s.value for s in statuses or ()), kinds, search or "")


Filter = Annotated[TaskFilter, Depends(task_filter)]


@router.get("/stats", response_model=Stats, responses={**COMMON, **INVALID})
async def get_stats(
    request: Request,
    where: Filter,
    range_: Annotated[
        Literal["hour", "day", "week", "all"],
        Query(alias="range", description="How far back: the last hour, day, week, or all."),
    ] = "day",
    bucket: Annotated[
        Literal["minute", "hour", "day"] | None,
        Query(
            description="Bucket size; by default minutes for an hour, hours for a day "
            "or a week, days for all."
        ),
    ] = None,
) -> dict:
    now = request.app.state.clock.now()
    hub = request.app.state.hub
    try:
        window = stats.Window.of(range_, bucket, now)
        # `seq`: every change the WebSocket numbered up to it is in these counts, and none
        # after it, so the page can go on from them with the deltas it gets. A read during
        # which changes were published is made again (deltas come all the time under load,
        # so at most twice more; most of them are progress, which moves no count anyway).
        # Changes are committed by the database's writer a moment before they are published:
        # the read counts as of `seq` only if nothing was on its way between the two
        # when it began and when it ended.
        engine = request.app.state.engine
        for _ in range(3):
            quiet, seq = engine.quiet, hub.seq
            series = await run_sync(stats.compute, request.app.state.columns, where, window)
            if quiet and engine.quiet and hub.seq == seq:
                break
    except stats.StatsError as exc:
        raise HTTPException(422, str(exc)) from None
    chosen = bucket or stats.DEFAULT_BUCKET[range_]
    return {"range": range_, "bucket": chosen, "now": now, "seq": seq, **series}


@router.get(
    "/tasks/export",
    response_class=StreamingResponse,
    responses={
        **COMMON,
        **INVALID,
        200: {
            "description": "Every matching task, newest first, as the task object "
            "(queue_position is always null: the line is live state, see /tasks/status).",
            "content": {fmt.media_type: {} for fmt in FORMATS.values()},
        },
    },
)
async def export_tasks(
    request: Request,
    where: Filter,
    format: Annotated[
        Literal["csv", "json", "ndjson"], Query(description="csv, json (an array) or ndjson.")
    ] = "json",
) -> StreamingResponse:
    body = export(history_of(request), where, format)
    first = await anext(body)  # a history that cannot be read is a 503, not a cut-off body
    return StreamingResponse(
        _chain(first, body),
        media_type=FORMATS[format].media_type,
        headers={"Content-Disposition": f'attachment; filename="tasks.{format}"'},
    )


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    # A client that goes away mid-way leaves both generators unfinished; the event loop
    # closes them (and so the history's connection) as soon as they are dropped.
    yield first
    async for piece in rest:
        yield piece
