"""What the engine refuses, each mapped to one HTTP status by web/app.py."""

from __future__ import annotations

from typing import Any


class TaskNotFound(LookupError):
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"no task with id {task_id!r}")


class InvalidTask(ValueError):
    """What was asked for cannot be a task (HTTP 422): unknown kind, unknown dependency."""


class Refused(PermissionError):
    """Not allowed on this server (HTTP 403), e.g. running programs without a token."""


class InvalidParams(ValueError):
    """The kind's parameters do not validate; `errors` are pydantic's, one per problem."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
