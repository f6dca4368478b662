"""Request and response bodies of the API contract (pydantic), and their limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from web.cluster import ADDRESS_PATTERN
from web.notify_prefs import NotifyMode
from web.tasks.model import TaskStatus

MAX_DURATION = 7 * 24 * 3600.0
MAX_NAME = 200
MAX_DELAY = 365 * 24 * 3600.0

Seconds = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _integral(value: object) -> object:
    """JSON Schema's `integer` includes 2.0 (the schema promises it): take it as 2. Strict
    otherwise, so "2" and true stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The constraints come before the validator, or they vanish from the JSON schema.
Priority = Annotated[int, Field(strict=True, ge=-1000, le=1000), BeforeValidator(_integral)]
Limit = Annotated[int, Field(strict=True, ge=1, le=100_000), BeforeValidator(_integral)]


def _document_kind_parameters(schema: dict[str, Any]) -> None:
    # What _one_start_time checks, so that the schema admits only what the server accepts.
    schema["not"] = {
        "required": ["delay", "run_at"],
        "properties": {"delay": {"type": "number"}, "run_at": {"type": "string"}},
    }
    schema["properties"]["duration"] = {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": MAX_DURATION,
        "description": "timer kind: how long it runs, in seconds (at most 7 days).",
    }
    # The default kind, the timer, needs its duration and takes no other parameter.
    schema["if"] = {"properties": {"kind": {"const": "timer"}}}
    schema["then"] = {
        "required": ["duration"],
        "properties": {name: {} for name in schema["properties"]},
        "additionalProperties": False,
    }


def _unpaired_surrogate(body: object) -> str | None:
    """Where in the body a string holds half of a UTF-16 pair (JSON can spell \\ud800 on
    its own), e.g. `env.X`; None if nowhere. Such text cannot be stored or sent as UTF-8,
    so it is refused at the door rather than failing deep inside (a whole pair decodes to
    one character, which is fine). A work list, not recursion: the body may nest as deep
    as the JSON parser allowed."""
    work: list[tuple[str, object]] = [("", body)]
    while work:
        where, value = work.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return where or "the body"
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                work += [(f"a key in {where or 'the body'}", key), (path, item)]
        elif isinstance(value, list):
            work += [(f"{where}[{i}]", item) for i, item in enumerate(value)]
    return None


class AddTask(BaseModel):
    """The fields every task has, plus the parameters of its kind (`duration` for the
    timer; see GET /kinds for the others), which the kind validates."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_kind_parameters)

    name: str = Field(
        "",
        max_length=MAX_NAME,
        description="A label shown in lists.",
        json_schema_extra={"pattern": "^[^\\u0000-\\u001f]*$"},  # what _no_control_chars checks
    )
    kind: str = Field("timer", max_length=64, description="The task kind; `timer` by default.")
    executor: Literal["local", "dask"] | None = Field(
        None,
        description="Where it runs: `local` or `dask` (the cluster in the settings); "
        "by default the settings' `executor`.",
    )
    priority: Priority = Field(0, description="Higher runs first when slots are scarce.")
    delay: Seconds | None = Field(
        None, ge=0, le=MAX_DELAY, description="Wait this many seconds before queueing."
    )
    run_at: datetime | None = Field(
        None, description="Queue at this time (ISO 8601; no zone means UTC)."
    )
    after: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list,
        max_length=100,
        description="Start only after these tasks completed; fail if one of them does not.",
    )

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @field_validator("run_at", mode="before")
    @classmethod
    def _text_only(cls, value: object) -> object:
        # pydantic would also take a number (Unix time); the schema promises ISO 8601 text.
        if value is not None and not isinstance(value, str):
            raise ValueError("run_at must be an ISO 8601 string, e.g. 2030-01-31T12:00:00Z")
        return value

    @field_validator("run_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            value.astimezone(UTC)  # 9999-12-31T23:00-05:00 is in year 10000 in UTC
        except OverflowError:
            raise ValueError("run_at must fall within the years 1 to 9999 in UTC") from None
        return value

    @field_validator("name")
    @classmethod
    def _no_control_chars(cls, value: str) -> str:
        if any(ord(c) < 32 for c in value):
            raise ValueError("name must not contain control characters (newlines, tabs, ...)")
        return value.strip()

    @model_validator(mode="before")
    @classmethod
    def _valid_unicode(cls, data: object) -> object:
        if (where := _unpaired_surrogate(data)) is not None:
            raise ValueError(
                f"{where} must be valid Unicode: it has a \\ud800-\\udfff escape without its pair"
            )
        return data

    @model_validator(mode="after")
    def _one_start_time(self) -> AddTask:
        if self.delay is not None and self.run_at is not None:
            raise ValueError("give either delay or run_at, not both")
        return self


class KindOut(BaseModel):
    name: str
    description: str
    resumable: bool = Field(description="Can be paused and resumed.")
    requires_token: bool = Field(description="Refused when the server runs with --no-auth.")
    params: dict[str, Any] = Field(description="JSON Schema of the kind's parameters.")


class LogChunkOut(BaseModel):
    task_id: str
    offset: int = Field(description="Where `text` starts, in bytes since the task began.")
    next_offset: int = Field(description="Pass this as `offset` to read on.")
    text: str
    dropped: int = Field(description="Bytes dropped from the start of the log (size cap).")
    complete: bool = Field(description="The task is finished and everything was read.")


class CancelTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1, max_length=100)


def _document_one_of(schema: dict[str, Any]) -> None:
    # What _one_of checks: a priority number, or "front": true, never both.
    schema["oneOf"] = [
        {
            "required": ["priority"],
            "properties": {"priority": {"type": "integer"}, "front": {"const": False}},
        },
        {
            "required": ["front"],
            "properties": {"front": {"const": True}, "priority": {"type": "null"}},
        },
    ]


class Reprioritize(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_document_one_of)

    priority: Priority | None = None
    front: bool = Field(False, description="Put it ahead of every waiting task.")

    @model_validator(mode="after")
    def _one_of(self) -> Reprioritize:
        if (self.priority is None) == (not self.front):
            raise ValueError('give either "priority": n or "front": true')
        return self


class QueueSettingsBody(BaseModel):
    """Both optional in PUT: what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent: Limit | None = Field(None, description="Tasks run at once; null: no limit.")
    queue_paused: bool = Field(False, strict=True, description="While true nothing new starts.")


class SettingsBody(QueueSettingsBody):
    """Every setting; in PUT, what is left out stays as it is."""

    notify: NotifyMode = Field(
        "all",
        description="Which task ends get a desktop (or browser) notification: `failures` "
        "(failed tasks only), `all` (completed, failed, cancelled, interrupted) or `never`.",
    )
    notify_min_seconds: Seconds = Field(
        10.0,
        ge=0,
        le=MAX_DURATION,
        description="No notification for tasks that ran for less than this many seconds.",
    )
    executor: Literal["local", "dask"] = Field(
        "local", description="Where tasks that name no executor run."
    )
    scheduler: str | None = Field(
        None,
        max_length=500,
        json_schema_extra={"pattern": ADDRESS_PATTERN},  # checked in web/cluster/executors.py
        description="The Dask scheduler of the `dask` executor: tcp://host:8786, "
        "tls://host:8786 or local:N (N worker processes started by the app); null: none.",
    )


class ExecutorOut(BaseModel):
    name: str = Field(description="`local` (this machine) or `dask`.")
    default: bool = Field(description="Tasks that name no executor run here.")
    address: str | None = Field(None, description="The scheduler's address (dask).")
    connected: bool | None = Field(None, description="Whether the scheduler answers now.")
    workers: int | None = Field(None, description="Workers the scheduler has.")
    threads: int | None = Field(None, description="Threads over all its workers.")
    error: str | None = Field(None, description="Why it is not connected.")


class TaskOut(BaseModel):
    """The task object. Timestamps are ISO 8601 UTC."""

    task_id: str
    name: str
    kind: str
    duration: float | None
    status: TaskStatus
    progress: float = Field(ge=0, le=1)
    priority: int
    created_at: str
    run_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    params: dict[str, Any] = Field(description="The kind's parameters.")
    after: list[str]
    retry_of: str | None
    elapsed: float = Field(
        description="Seconds spent running, pauses left out: a finished task's whole run; "
        "while it runs, up to the start of its current run."
    )
    executor: str = Field(description="Where it runs: `local`, or `dask` (a Dask cluster).")
    worker: str | None = Field(description="The cluster worker running it, once known.")
    queue_position: int | None = Field(description="1 = next to start; null unless queued.")


class TaskList(BaseModel):
    tasks: list[TaskOut]
    counts: dict[TaskStatus, int]
    total: int = Field(description="How many tasks match the filter (for paging).")


class Removed(BaseModel):
    removed: int
    task_ids: list[str]


class Health(BaseModel):
    status: str
    version: str


class Problem(BaseModel):
    detail: str


class DurationClasses(BaseModel):
    edges: list[float] = Field(
        description="Upper bounds in seconds; counts[i] ran less than edges[i] and at least "
        "edges[i-1], the last count ran edges[-1] or longer."
    )
    counts: list[int]
    count: int = Field(description="Tasks that ended in the range after they started.")


class Stats(BaseModel):
    range: str = Field(description="hour, day, week or all.")
    bucket: str = Field(description="minute, hour or day.")
    bucket_seconds: int
    now: float = Field(description="The server's time of the answer (Unix seconds).")
    seq: int = Field(
        description="The WebSocket's message number these counts include every change up to."
    )
    times: list[int] = Field(description="Start of each bucket (Unix seconds, UTC-aligned).")
    series: dict[str, list[int]] = Field(
        description="Per bucket: tasks that `started`, and that ended as `completed`, "
        "`failed`, `cancelled` or `interrupted`."
    )
    durations: DurationClasses = Field(description="Tasks that ended in the range, by run time.")
    statuses: dict[TaskStatus, int] = Field(description="Tasks created in the range, by status.")
