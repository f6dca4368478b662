"""The sign-in page a browser gets instead of a JSON 401, and its form post, on a real server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.conftest import TOKEN, LiveServer
from web.security import COOKIE, TOKEN_HELP
from web.settings import Settings
from web.signin import safe_next

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SECRET_NAME = "payroll-export-for-ceo"


@pytest.fixture
def anon(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client with no token and no cookie, as a browser opening the plain URL."""
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        yield client


def own_origin(server: LiveServer) -> dict[str, str]:
    return {"Origin": server.url}


def sign_in(client: httpx.Client, server: LiveServer, token: str, next_path: str = "/dashboard"):
    return client.post(
        "/signin", data={"token": token, "next": next_path}, headers=own_origin(server)
    )


def test_a_browser_gets_the_sign_in_page_as_a_401(
    live_server: LiveServer, anon: httpx.Client, http: httpx.Client, settings: Settings
) -> None:
    assert http.post("/tasks/add", json={"duration": 60, "name": SECRET_NAME}).status_code == 201
    page = anon.get("/dashboard", headers=BROWSER)
    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "task-dashboard info" in page.text
    assert str(settings.token_path) in page.text
    assert 'action="/signin"' in page.text
    assert '<input type="hidden" name="next" value="/dashboard">' in page.text
    # It says nothing about tasks, and is hardened like every other answer.
    assert SECRET_NAME not in page.text and TOKEN not in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    # Not `no-referrer`: a form post from such a page says `Origin: null`, which is refused.
    assert page.headers["referrer-policy"] == "same-origin"
    assert "set-cookie" not in page.headers


def test_scripts_keep_the_json_401(anon: httpx.Client) -> None:
    for accept in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):
        response = anon.get("/dashboard", headers=accept)
        assert response.status_code == 401
        assert response.json() == {"detail": TOKEN_HELP}
    assert anon.post("/tasks/add", json={"duration": 1}, headers=BROWSER).status_code == 401
    assert anon.post("/tasks/add", json={"duration": 1}, headers=BROWSER).json()["detail"]


def test_a_websocket_is_still_refused_whatever_it_accepts(live_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        connect(live_server.ws_url, additional_headers=BROWSER)
    assert info.value.response.status_code == 403


def test_the_page_asks_to_go_on_to_the_page_asked_for(anon: httpx.Client) -> None:
    page = anon.get("/docs?x=1", headers=BROWSER)
    assert '<input type="hidden" name="next" value="/docs?x=1">' in page.text


def test_a_wrong_token_in_the_url_says_so_on_the_page(anon: httpx.Client) -> None:
    page = anon.get("/dashboard?token=guess&status=running", headers=BROWSER)
    assert page.status_code == 401
    assert "not this server&#39;s token" in page.text
    assert "guess" not in page.text
    assert 'value="/dashboard?status=running"' in page.text


def test_signing_in_sets_the_cookie_and_goes_on(live_server: LiveServer, anon: httpx.Client):
    response = sign_in(anon, live_server, f" {TOKEN}\n", "/docs?x=1")  # pasted with spaces
    assert response.status_code == 303
    assert response.headers["location"] == "/docs?x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert anon.get("/tasks/status").status_code == 200  # the cookie alone now signs in


def test_a_wrong_token_says_so_and_sets_nothing(live_server: LiveServer, anon: httpx.Client):
    response = sign_in(anon, live_server, "not-the-token", "/docs")
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert 'role="alert"' in response.text and "not this server&#39;s token" in response.text
    assert 'value="/docs"' in response.text  # a second try still goes on to /docs
    assert anon.get("/tasks/status").status_code == 401


def test_a_sign_in_from_a_foreign_origin_is_refused(live_server: LiveServer, anon: httpx.Client):
    response = anon.post(
        "/signin",
        data={"token": TOKEN, "next": "/dashboard"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert "evil.example" in response.json()["detail"]
    assert "set-cookie" not in response.headers


def test_a_sign_in_without_an_origin_is_refused(anon: httpx.Client) -> None:
    response = anon.post("/signin", data={"token": TOKEN, "next": "/dashboard"})
    assert response.status_code == 403
    assert "Origin" in response.json()["detail"]
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\t/evil.example",
        "evil.example",
        "",
    ],
)
def test_going_on_never_leaves_this_server(
    live_server: LiveServer, anon: httpx.Client, target: str
) -> None:
    assert safe_next(target) == "/dashboard"
    response = sign_in(anon, live_server, TOKEN, target)
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"


def test_only_the_pages_own_files_are_open(anon: httpx.Client) -> None:
    assert anon.get("/static/app.css").status_code == 200
    assert anon.get("/static/favicon.svg").status_code == 200
    assert anon.get("/static/js/main.js").status_code == 401
    assert anon.get("/openapi.json").status_code == 401
