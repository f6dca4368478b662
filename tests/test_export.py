"""GET /tasks/export and `task-dashboard export`: the history as CSV, JSON or NDJSON, with
the list's filters, streamed (a large export never sits in memory whole)."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.browser.seed import seed_history
from tests.conftest import LiveServer
from tests.waiting import task_in
from web.schemas import TaskOut
from web.settings import Settings

# Task object fields that may be null: an empty CSV cell means null there, "" elsewhere.
NULLABLE = {name for name, field in TaskOut.model_fields.items() if not field.is_required()} | {
    name for name, field in TaskOut.model_fields.items() if "None" in str(field.annotation)
}
NUMBERS = {"duration": float, "progress": float, "priority": int, "elapsed": float}
JSON_TEXT = {"params", "after"}


def from_csv(text: str) -> list[dict]:
    """The CSV's rows back as task objects."""
    tasks = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        task: dict = {}
        for key, cell in row.items():
            if cell == "" and key in NULLABLE:
                task[key] = None
            elif key in JSON_TEXT:
                task[key] = json.loads(cell)
            elif key in NUMBERS:
                task[key] = NUMBERS[key](cell)
            else:
                task[key] = cell
        tasks.append(task)
    return tasks


def listed(http: httpx.Client, **query: str) -> list[dict]:
    return http.get("/tasks/status", params={"limit": 1000, **query}).json()["tasks"]


@pytest.fixture
def history(http: httpx.Client) -> list[str]:
    """Tasks of every sort, through the API: done, cancelled, running, failed, odd names."""

    def add(**body: object) -> str:
        response = http.post("/tasks/add", json=body)
        assert response.status_code == 201, response.text
        return response.json()["task_id"]

    done = [add(duration=0.01, name=name) for name in ("plain", 'quote " and, comma', "Ünïcode ✓")]
    failed = add(kind="command", command=["sh", "-c", "exit 3"], shell=False, name="fails")
    cancelled = add(duration=3600, name="")
    http.post("/tasks/cancel", json={"task_id": cancelled})
    running = add(duration=3600, name="Nightly BACKUP", priority=5)
    for task_id in done:
        task_in(http, task_id, "completed")
    task_in(http, failed, "failed")
    return [*done, failed, cancelled, running]


def test_csv_parsed_back_equals_the_list(http: httpx.Client, history: list[str]) -> None:
    response = http.get("/tasks/export", params={"format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert from_csv(response.text) == listed(http)


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_json_and_ndjson_equal_the_list(http: httpx.Client, history: list[str], fmt: str) -> None:
    response = http.get("/tasks/export", params={"format": fmt})
    assert response.status_code == 200
    body = response.text
    tasks = json.loads(body) if fmt == "json" else [json.loads(line) for line in body.splitlines()]
    assert tasks == listed(http)


def test_the_lists_filters_apply(http: httpx.Client, history: list[str]) -> None:
    def exported(**query: str) -> list[str]:
        body = http.get("/tasks/export", params={"format": "json", **query}).json()
        return [t["task_id"] for t in body]

    everything = [t["task_id"] for t in listed(http)]
    assert exported(status="completed,failed") == [
        t["task_id"] for t in listed(http, status="completed,failed")
    ]
    assert exported(kind="command") == [history[3]]
    assert exported(search="backup") == [history[5]]  # any case
    assert exported(search="ÜNÏ") == [history[2]]  # beyond ASCII too
    assert exported(search=history[1][:6]) == [history[1]]  # an id prefix
    assert exported(search="no such task") == []
    assert exported() == everything


def test_an_empty_history_exports_just_the_frame(http: httpx.Client) -> None:
    assert http.get("/tasks/export", params={"format": "json"}).json() == []
    assert http.get("/tasks/export", params={"format": "ndjson"}).text == ""
    header = http.get("/tasks/export", params={"format": "csv"}).text
    assert header.rstrip("\r\n").split(",") == list(TaskOut.model_fields)


def test_bad_format_or_filter_is_422(http: httpx.Client) -> None:
    bad = http.get("/tasks/export", params={"format": "xml"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "format"]
    bad = http.get("/tasks/export", params={"status": "finished"})
    assert bad.status_code == 422
    assert "unknown status 'finished'" in bad.json()["detail"]


def test_a_large_export_is_streamed_in_bounded_memory(settings: Settings, tmp_path: Path) -> None:
    """30,000 tasks are about 11 MB of NDJSON; the process's memory at its peak while they
    are sent grows by a small part of that (a page of tasks). An export built whole before
    it is sent would need at least the whole body at once."""
    seed_history(settings.db_path, 30_000)
    server = LiveServer(replace(settings)).start()
    try:
        with server.client() as http:
            # Once the history is in memory (it is paged in behind the start): only the
            # export's own allocations count.
            assert http.get("/tasks/status", params={"search": "backup"}).status_code == 200
            size, lines, last = 0, 0, b""
            tracemalloc.start()
            try:
                with http.stream("GET", "/tasks/export", params={"format": "ndjson"}) as response:
                    assert response.status_code == 200
                    for piece in response.iter_raw():
                        size += len(piece)
                        lines += piece.count(b"\n")
                        last = piece
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        server.stop()
    assert lines == 30_000
    assert b'"name":"Nightly backup #0",' in last  # down to the oldest
    assert size > 8_000_000
    assert peak < size / 5, f"peak {peak:,} bytes for a {size:,}-byte export"


def test_search_takes_wildcards_literally(http: httpx.Client) -> None:
    names = ["50% off", "5000 rows", "snake_case", "snakeXcase"]
    ids = {}
    for name in names:
        ids[name] = http.post("/tasks/add", json={"duration": 600, "name": name}).json()["task_id"]

    def found(search: str) -> set[str]:
        body = http.get("/tasks/export", params={"format": "json", "search": search}).json()
        return {t["name"] for t in body}

    assert found("50%") == {"50% off"}
    assert found("e_c") == {"snake_case"}
    assert found("_") == {"snake_case"}
