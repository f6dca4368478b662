"""The local-server security model: Host, Origin, token (header, cookie, ?token=), limits."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import TOKEN, LiveServer, serving
from web.security import COOKIE, load_or_create_token, tokens_match
from web.settings import Settings, SettingsError


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the live server that sends no token of its own."""
    with httpx.Client(base_url=live_server.url, timeout=10) as c:
        yield c


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), {"Authorization": TOKEN}])
def test_missing_or_wrong_token_is_401_with_help(anon: httpx.Client, headers: dict) -> None:
    response = anon.get("/tasks/status", headers=headers)
    assert response.status_code == 401
    assert "task-dashboard info" in response.json()["detail"]
    assert anon.post("/tasks/add", json={"duration": 1}, headers=headers).status_code == 401


def test_right_token_in_header(anon: httpx.Client) -> None:
    assert anon.get("/tasks/status", headers=bearer()).status_code == 200


def test_query_token_sets_strict_httponly_cookie_and_redirects(anon: httpx.Client) -> None:
    response = anon.get(f"/dashboard?token={TOKEN}&tab=running", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard?tab=running"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert response.headers["cache-control"] == "no-store"
    # The client now holds the cookie: it alone authenticates the API.
    assert anon.get("/tasks/status").status_code == 200


def test_wrong_query_token_sets_nothing(anon: httpx.Client) -> None:
    response = anon.get("/dashboard?token=nope", follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_cookie_authenticates(anon: httpx.Client) -> None:
    anon.cookies.set(COOKIE, TOKEN)
    assert anon.get("/tasks/status").status_code == 200
    anon.cookies.set(COOKIE, "forged")
    assert anon.get("/tasks/status").status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_foreign_host_is_400(anon: httpx.Client, host: str) -> None:
    response = anon.get("/tasks/status", headers={**bearer(), "host": host})
    assert response.status_code == 400
    assert "not allowed" in response.json()["detail"]


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:8000"])
def test_loopback_hosts_are_accepted(anon: httpx.Client, host: str) -> None:
    assert anon.get("/tasks/status", headers={**bearer(), "host": host}).status_code == 200


def test_configured_host_name_is_accepted(settings: Settings) -> None:
    with serving(replace(settings, allowed_hosts=("tasks.lan",))) as server:
        host = {"host": f"tasks.lan:{server.port}"}
        with httpx.Client(base_url=server.url, headers=host, timeout=10) as client:
            assert client.get("/tasks/status", headers=bearer()).status_code == 200


def test_foreign_origin_is_403_even_with_the_token(anon: httpx.Client) -> None:
    response = anon.post(
        "/tasks/add",
        json={"duration": 1},
        headers={**bearer(), "Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert "evil.example" in response.json()["detail"]
    assert anon.get("/tasks/status", headers=bearer()).json()["total"] == 0


def test_own_origin_is_allowed(anon: httpx.Client, live_server: LiveServer) -> None:
    own = {**bearer(), "Origin": live_server.url}
    response = anon.post("/tasks/add", json={"duration": 1}, headers=own)
    assert response.status_code == 201


def test_healthz_needs_no_token(anon: httpx.Client) -> None:
    assert anon.get("/healthz").status_code == 200


def test_websocket_handshake_with_foreign_origin_is_refused(live_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(live_server.ws_url, origin="http://evil.example", additional_headers=bearer())
    assert info.value.response.status_code == 403


def test_websocket_without_token_is_refused(live_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(live_server.ws_url)
    assert info.value.response.status_code == 403


def test_websocket_with_own_origin_and_cookie_is_accepted(live_server: LiveServer) -> None:
    with connect(
        live_server.ws_url,
        origin=live_server.url,
        additional_headers={"Cookie": f"{COOKIE}={TOKEN}"},
    ) as ws:
        assert '"type":"snapshot"' in str(ws.recv(timeout=10))


def test_no_auth_is_for_loopback_only(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="loopback"):
        Settings(data_dir=tmp_path, host="0.0.0.0", auth=False)
    Settings(data_dir=tmp_path, host="127.0.0.1", auth=False)


def test_no_auth_serves_without_token(settings: Settings) -> None:
    with serving(replace(settings, auth=False)) as server:
        assert httpx.get(f"{server.url}/tasks/status", timeout=10).status_code == 200


def test_token_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "token"
    token = load_or_create_token(path)
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token


def test_app_creates_the_token_file_when_none_is_configured(settings: Settings) -> None:
    with serving(replace(settings, token=None)) as server, server.client() as client:
        token = settings.token_path.read_text().strip()
        assert client.get("/tasks/status", headers=bearer(token)).status_code == 200
        assert client.get("/tasks/status", headers=bearer("x" * len(token))).status_code == 401


def test_constant_time_compare() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abd", "abc")
    assert not tokens_match("", "abc")
    assert not tokens_match(None, "abc")
