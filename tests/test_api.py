"""Every row of the API contract and every bad input, through httpx against a live server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from desktop_app.server import ServerThread, bind_socket
from web.app import create_app, invalid_request
from web.headers import headers_for
from web.schemas import AddTask
from web.settings import Settings


@pytest.fixture
def client(http: httpx.Client) -> httpx.Client:
    """The live server's client, with the token."""
    return http


def add(client: httpx.Client, **body: object) -> dict:
    response = client.post("/tasks/add", json={"duration": 30, **body})
    assert response.status_code == 201, response.text
    return response.json()


def test_add_returns_the_task_object(client: httpx.Client) -> None:
    task = add(client, name="backup")
    assert task["status"] == "running"
    assert task["name"] == "backup"
    assert task["kind"] == "timer"
    assert task["duration"] == 30
    assert task["progress"] == 0
    assert task["created_at"].endswith("Z")
    assert uuid.UUID(hex=task["task_id"]).hex == task["task_id"]  # 32 hex digits
    assert uuid.UUID(hex=task["task_id"]).version == 4  # random
    assert client.get(f"/tasks/{task['task_id']}").json() == task


def test_cancel_then_cancel_again(client: httpx.Client) -> None:
    task = add(client)
    response = client.post("/tasks/cancel", json={"task_id": task["task_id"]})
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = client.post("/tasks/cancel", json={"task_id": task["task_id"]})
    assert again.status_code == 409
    assert again.json() == {"detail": f"task {task['task_id']} is already cancelled"}


def test_unknown_task_is_404(client: httpx.Client) -> None:
    for response in (
        client.post("/tasks/cancel", json={"task_id": "does-not-exist"}),
        client.get("/tasks/does-not-exist"),
    ):
        assert response.status_code == 404
        assert "does-not-exist" in response.json()["detail"]


def test_status_lists_newest_first_with_counts_filters_and_paging(client: httpx.Client) -> None:
    ids = [add(client, name=f"t{i}")["task_id"] for i in range(5)]
    client.post("/tasks/cancel", json={"task_id": ids[0]})
    body = client.get("/tasks/status").json()
    assert [t["task_id"] for t in body["tasks"]] == ids[::-1]
    assert body["total"] == 5
    assert body["counts"] == {
        "scheduled": 0, "queued": 0, "running": 4, "paused": 0, "completed": 0,
        "cancelled": 1, "failed": 0, "interrupted": 0,
    }  # fmt: skip
    running = client.get("/tasks/status", params={"status": "running,queued"}).json()
    assert [t["task_id"] for t in running["tasks"]] == ids[:0:-1]
    assert running["total"] == 4
    page = client.get("/tasks/status", params={"limit": 2, "offset": 1}).json()
    assert [t["task_id"] for t in page["tasks"]] == [ids[3], ids[2]]


def test_clear_finished(client: httpx.Client) -> None:
    done = add(client)["task_id"]
    live = add(client)["task_id"]
    client.post("/tasks/cancel", json={"task_id": done})
    assert client.delete("/tasks/finished").json() == {"removed": 1, "task_ids": [done]}
    assert client.get(f"/tasks/{done}").status_code == 404
    assert client.get(f"/tasks/{live}").status_code == 200


def test_scheduled_with_delay_and_run_at(client: httpx.Client) -> None:
    delayed = add(client, delay=60)
    assert delayed["status"] == "scheduled"
    assert delayed["run_at"] is not None
    at = add(client, run_at="2999-01-01T00:00:00")
    assert at["status"] == "scheduled"
    assert at["run_at"] == "2999-01-01T00:00:00.000Z"
    long_ago = add(client, run_at="0999-01-01T00:00:00Z")  # in the past: it runs at once
    assert long_ago["run_at"] == "0999-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "duration", "Field required"),
        ({"duration": -5}, "duration", "greater than 0"),
        ({"duration": 0}, "duration", "greater than 0"),
        ({"duration": 10**9}, "duration", "less than or equal to 604800"),
        ({"duration": "ten"}, "duration", "valid number"),
        ({"duration": "10"}, "duration", "valid number"),
        ({"duration": True}, "duration", "valid number"),
        ({"duration": None}, "duration", "valid number"),
        ({"duration": 5, "name": "x" * 201}, "name", "at most 200 characters"),
        ({"duration": 5, "name": "a\nb"}, "name", "control characters"),
        ({"duration": 5, "priority": 1.5}, "priority", "valid integer"),
        ({"duration": 5, "delay": -1}, "delay", "greater than or equal to 0"),
        ({"duration": 5, "durration": 3}, "durration", "Extra inputs"),
        ({"duration": 5, "delay": 1, "run_at": "2999-01-01T00:00:00Z"}, None, "not both"),
        ({"duration": 5, "run_at": "9999-12-31T23:00:00-05:00"}, "run_at", "years 1 to 9999"),
        ({"duration": 5, "run_at": "0001-01-01T00:00:00+05:00"}, "run_at", "years 1 to 9999"),
    ],
)
def test_bad_add_bodies_say_which_field_and_why(
    client: httpx.Client, body: dict, field: str | None, message: str
) -> None:
    response = client.post("/tasks/add", json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(message in e["msg"] for e in errors), errors
    if field:
        assert any(e["loc"][-1] == field for e in errors), errors
    assert client.get("/tasks/status").json()["total"] == 0, "nothing may be half-written"


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'{"duration": 5, "name": "half a pair \\ud800"}', "name"),
        (b'{"kind": "command", "command": ["true"], "env": {"X": "\\udfff"}}', "env.X"),
        (b'{"kind": "command", "command": ["echo", {"\\ud83d": 1}]}', "a key in command[1]"),
    ],
)
def test_unpaired_surrogates_are_refused_anywhere_in_the_body(
    client: httpx.Client, raw: bytes, where: str
) -> None:
    response = client.post("/tasks/add", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert f"{where} must be valid Unicode" in response.text
    assert client.get("/tasks/status").json()["total"] == 0, "nothing may be half-written"


def test_a_whole_surrogate_pair_is_just_a_character(client: httpx.Client) -> None:
    raw = b'{"duration": 5, "name": "rocket \\ud83d\\ude80"}'
    response = client.post("/tasks/add", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "rocket \U0001f680"


def test_non_finite_and_malformed_json(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    for raw in (b'{"duration": NaN}', b'{"duration": Infinity}', b'{"duration": 5'):
        response = client.post("/tasks/add", content=raw, headers=headers)
        assert response.status_code == 422, raw


# Bodies a script might send by mistake, each with its content-type (None: no header).
BAD_BODIES = [
    (b"", None),
    (b"", "application/json"),
    (b"{", "application/json"),
    (b'{"name": "x"} and more', "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
    (b'"x"', "application/json"),
    (b'{"duration": 1}', None),
    (b'{"duration": 1}', "text/plain"),
    (b'{"duration": 1}', "multipart/form-data"),
    (b'{"name": 5, "priority": "x"}', "application/json; charset=utf-8"),
    (b'{"run_at": 5}', "application/json"),
    (b'{"after": [""]}', "application/vnd.example+json"),
    (b'{"delay": -1, "executor": "elsewhere"}', "application/json"),
    (b"\xff", "application/json"),
]


def test_a_bad_add_is_answered_as_fastapi_answers_a_bad_body(client: httpx.Client) -> None:
    """POST /tasks/add checks its body itself (web/api.py serve_add): each answer must be
    the one a FastAPI body parameter of the same model gives, through the same handler."""
    reference = FastAPI()

    @reference.post("/tasks/add")
    async def add(body: AddTask) -> None:
        raise AssertionError("every body here is bad")

    reference.add_exception_handler(RequestValidationError, invalid_request)

    async def ask_reference(raw: bytes, headers: dict[str, str]) -> httpx.Response:
        transport = httpx.ASGITransport(app=reference)
        async with httpx.AsyncClient(transport=transport, base_url="http://ref") as ref:
            return await ref.post("/tasks/add", content=raw, headers=headers)

    for raw, content_type in BAD_BODIES:
        headers = {} if content_type is None else {"content-type": content_type}
        expected = asyncio.run(ask_reference(raw, headers))
        answer = client.post("/tasks/add", content=raw, headers=headers)
        assert answer.status_code == expected.status_code in (400, 422), raw
        assert answer.json() == expected.json(), raw


def test_an_add_passes_the_same_guards_and_answers_with_the_same_headers(
    client: httpx.Client,
) -> None:
    """POST /tasks/add has a stack of its own (web/app.py TaskDashboardApp): whatever its
    answer, it carries every header the other routes' answers do, and the same checks
    stand in front of it."""
    hardening = {name.decode() for name, _ in headers_for("/tasks/add")}
    answers = {
        201: client.post("/tasks/add", json={"duration": 30}),
        422: client.post("/tasks/add", json={"duration": -1}),
        401: client.post("/tasks/add", json={"duration": 30}, headers={"authorization": ""}),
        413: client.post("/tasks/add", content=b"{" + b" " * 70_000 + b"}"),
        400: client.post("/tasks/add", json={"duration": 30}, headers={"host": "evil.example"}),
    }
    for status, answer in answers.items():
        assert answer.status_code == status, answer.text
        assert hardening <= set(answer.headers), status
    repeated = client.post("/tasks/add?name=a&name=b", json={"duration": 30})
    assert repeated.status_code == 422 and repeated.json()["detail"][0]["loc"] == ["query", "name"]
    assert client.get("/tasks/status").json()["total"] == 1


def test_bad_query_parameters(client: httpx.Client) -> None:
    response = client.get("/tasks/status", params={"status": "running,bogus"})
    assert response.status_code == 422
    assert "unknown status 'bogus'" in response.json()["detail"]
    assert client.get("/tasks/status", params={"limit": 0}).status_code == 422
    assert client.get("/tasks/status", params={"offset": -1}).status_code == 422


def test_cancel_body_is_validated(client: httpx.Client) -> None:
    assert client.post("/tasks/cancel", json={}).status_code == 422
    assert client.post("/tasks/cancel", json={"task_id": 5}).status_code == 422


def test_body_size_limit(client: httpx.Client) -> None:
    response = client.post("/tasks/add", json={"duration": 5, "name": "x" * 100_000})
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_body_size_limit_without_content_length(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"duration": 5, "name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/tasks/add", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_healthz_dashboard_redirect_and_docs(client: httpx.Client) -> None:
    health = client.get("/healthz", headers={"Authorization": ""})
    assert health.json() == {"status": "ok", "version": "0.1.0"}
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307)
    assert root.headers["location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    assert "/tasks/add" in client.get("/openapi.json").json()["paths"]


def test_a_query_parameter_given_twice_is_refused(http: httpx.Client) -> None:
    answer = http.get("/tasks/status?limit=1&limit=2&offset=0")
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"loc": ["query", "limit"], "msg": "give this parameter once", "type": "repeated"}
    ]
    assert http.get("/stats?search=a&search=b").status_code == 422
    assert http.get("/tasks/status?limit=1&offset=0").status_code == 200


def test_an_add_under_a_root_path_is_answered_like_any_other_route(settings: Settings) -> None:
    """Behind a proxy that serves the app under a prefix and strips it (uvicorn
    --root-path), the add's own stack (web/app.py) and FastAPI's routes answer alike."""
    sock = bind_socket("127.0.0.1", 0)
    server = ServerThread(create_app(settings), sock, root_path="/dash")
    server.start()
    try:
        headers = {"Authorization": f"Bearer {settings.token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as http:
            added = http.post("/tasks/add", json={"duration": 30, "name": "prefixed"})
            assert added.status_code == 201, added.text
            found = http.get(f"/tasks/{added.json()['task_id']}")
            assert found.json()["name"] == "prefixed"
    finally:
        server.stop()
