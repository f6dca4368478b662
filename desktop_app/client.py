"""A small HTTP client for a running instance (the CLI and the window's close check use it).

Standard library only: the client commands must work from the bundled binary without
pulling an HTTP library into it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.client import HTTPResponse
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode


class ClientError(RuntimeError):
    """The instance refused the call (`status` is its HTTP code) or did not answer (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class InstanceClient:
    def __init__(self, base_url: str, token: str | None, timeout: float = 5.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def add(self, duration: float, name: str | None = None, **options: Any) -> dict[str, Any]:
        """A timer task; options as for add_task()."""
        return self.add_task("timer", {"duration": duration}, name, **options)

    def add_task(
        self,
        kind: str,
        params: dict[str, Any],
        name: str | None = None,
        *,
        priority: int | None = None,
        delay: float | None = None,
        run_at: str | None = None,
        after: Sequence[str] = (),
    ) -> dict[str, Any]:
        """A task of any kind; `params` are the kind's (see GET /kinds)."""
        body: dict[str, Any] = {**params}
        if kind != "timer":
            body["kind"] = kind
        optional = {"name": name, "priority": priority, "delay": delay, "run_at": run_at}
        body.update((key, value) for key, value in optional.items() if value is not None)
        if after:
            body["after"] = list(after)
        return self._call("POST", "/tasks/add", body)

    def task(self, task_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tasks/{quote(task_id, safe='')}")

    def logs(self, task_id: str, offset: int = 0, limit: int = 65536) -> dict[str, Any]:
        """One chunk of a task's log: {offset, next_offset, text, dropped, complete}."""
        query = urlencode({"offset": offset, "limit": limit})
        return self._call("GET", f"/tasks/{quote(task_id, safe='')}/logs?{query}")

    def kinds(self) -> Any:
        """Every task kind with the JSON Schema of its parameters (a list)."""
        return self._call("GET", "/kinds")

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._call("POST", "/tasks/cancel", {"task_id": task_id})

    def task_action(self, task_id: str, action: str, body: object = None) -> dict[str, Any]:
        """POST /tasks/{id}/{action}: pause, resume, retry, priority."""
        return self._call("POST", f"/tasks/{quote(task_id, safe='')}/{action}", body)

    def settings(self, **changes: object) -> dict[str, Any]:
        """The queue settings; with changes (max_concurrent, queue_paused), PUT them first."""
        if changes:
            return self._call("PUT", "/settings", changes)
        return self._call("GET", "/settings")

    def queue(self, action: str) -> dict[str, Any]:
        """POST /queue/pause or /queue/resume; answers the settings."""
        return self._call("POST", f"/queue/{action}")

    def status(self, **query: str | int) -> dict[str, Any]:
        return self._call("GET", f"/tasks/status?{urlencode(query)}" if query else "/tasks/status")

    def running_count(self) -> int:
        return int(self.status(status="running", limit=1)["counts"].get("running", 0))

    def export(self, out: BinaryIO, fmt: str, **filters: str) -> None:
        """GET /tasks/export (csv, json or ndjson) into `out` as it arrives: a history of
        any size passes through without being held in memory."""
        query = urlencode({"format": fmt, **filters})
        with self._open("GET", f"/tasks/export?{query}") as response:
            while piece := self._read(response, 64 * 1024):
                out.write(piece)

    def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        with self._open(method, path, body) as response:
            return json.loads(self._read(response))

    def _open(self, method: str, path: str, body: object = None) -> HTTPResponse:
        headers, data = self._headers, None
        if body is not None:
            headers = {**headers, "Content-Type": "application/json"}
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            with exc:
                raise ClientError(_detail(exc), exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise self._no_answer(exc) from None

    def _read(self, response: HTTPResponse, size: int = -1) -> bytes:
        try:
            return response.read(size)
        except OSError as exc:
            raise self._no_answer(exc) from None

    def _no_answer(self, exc: OSError) -> ClientError:
        reason = getattr(exc, "reason", exc)
        return ClientError(f"no answer from {self.base_url}: {reason}")


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.load(exc)["detail"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code} {exc.reason}"
    # FastAPI validation errors are a list of {"loc", "msg"}; say them in one line.
    if isinstance(detail, list):
        return "; ".join(f"{_field(d.get('loc', []))}: {d.get('msg')}" for d in detail)
    return str(detail)


def _field(location: list[object]) -> str:
    return ".".join(map(str, location[1:]))  # location[0] is "body" or "query"
