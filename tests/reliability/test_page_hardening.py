"""Page hardening: a strict CSP on the page and its files, no Referer, no sniffing, no
caching of the signed-in URL, and the token never in a log line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.conftest import TOKEN, LiveServer
from tests.reliability.serving import ServeProcess

AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATIC = ["/static/app.css", "/static/js/main.js", "/static/favicon.svg"]


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the live server; each test says whether it sends the token."""
    with httpx.Client(base_url=live_server.url, timeout=10) as c:
        yield c


def policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(response: httpx.Response) -> None:
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    for directive, sources in csp.items():
        assert "'unsafe-inline'" not in sources, directive
        assert "'unsafe-eval'" not in sources, directive
        assert not any(re.match(r"(https?|wss?):|\*", s) for s in sources), (directive, sources)
    assert csp["script-src"] == ["'self'"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_dashboard_sends_a_strict_policy_and_is_never_cached(client: httpx.Client) -> None:
    page = client.get("/dashboard", headers=AUTH)
    assert page.status_code == 200
    assert_strict(page)
    assert page.headers["cache-control"] == "no-store"  # it shows the token


@pytest.mark.parametrize("path", STATIC)
def test_static_files_send_the_policy_too(client: httpx.Client, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/tasks/status", AUTH), ("/tasks/status", {}), ("/healthz", {}), ("/nope", AUTH)],
)
def test_api_answers_and_refusals_carry_the_headers(
    client: httpx.Client, path: str, headers: dict
) -> None:
    response = client.get(path, headers=headers)
    assert_strict(response)
    assert response.headers["cache-control"] == "no-store"


def test_the_signed_in_url_is_not_cached_and_leaks_no_referer(client: httpx.Client) -> None:
    response = client.get(f"/dashboard?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303
    assert TOKEN not in response.headers["location"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]  # not twice


class _Inline(HTMLParser):
    """Whatever the policy would block: inline script, handlers, style attributes."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self.origin = origin
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.found += [f"<{tag} {n}=...>" for n in names if n.startswith("on") or n == "style"]
        if tag == "script":
            if not self._own(names.get("src")):
                self.found.append(f"<script src={names.get('src')!r}>")
            self._in_script = True
        if tag == "link" and not self._own(names.get("href")):
            self.found.append(f"<link href={names.get('href')!r}>")
        if tag == "style":
            self.found.append("<style>")

    def _own(self, url: str | None) -> bool:
        return bool(url) and (url.startswith(self.origin + "/") or url.startswith("/"))  # type: ignore[union-attr]

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("inline <script> code")


def test_the_page_needs_nothing_the_policy_forbids(
    client: httpx.Client, live_server: LiveServer
) -> None:
    inline = _Inline(live_server.url)
    inline.feed(client.get("/dashboard", headers=AUTH).text)
    assert inline.found == []


def test_docs_stay_unframeable(client: httpx.Client) -> None:
    response = client.get("/docs", headers=AUTH)
    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == ["'none'"]


def test_the_token_never_appears_in_logs(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "home").start()
    try:
        token = server.token
        with httpx.Client(base_url=server.url, timeout=10, follow_redirects=True) as http:
            assert http.get(f"/dashboard?token={token}").status_code == 200  # 303, then page
            assert http.get("/dashboard?token=wrong-token-guess").status_code == 401
            assert http.get("/tasks/status", headers=server.headers).status_code == 200
        # Scripts may put the token in the WebSocket URL; uvicorn logs that URL.
        with connect(f"ws://127.0.0.1:{server.port}/ws?token={token}") as ws:
            assert '"snapshot"' in str(ws.recv(timeout=10))
    finally:
        assert server.stop() == 0
    logs = [*(server.home / "logs").glob("*.log*"), server.out_path, server.err_path]
    text = "".join(p.read_text(errors="replace") for p in logs)
    assert "WebSocket /ws" in text, "expected uvicorn's WebSocket line in the log"
    assert token not in text
    assert "wrong-token-guess" not in text


def test_the_sign_in_page_needs_nothing_the_policy_forbids(
    client: httpx.Client, live_server: LiveServer
) -> None:
    page = client.get("/dashboard", headers={"Accept": "text/html"})  # no token: sign in
    assert page.status_code == 401
    assert policy(page) == policy(client.get("/dashboard", headers=AUTH))
    inline = _Inline(live_server.url)
    inline.feed(page.text)
    assert inline.found == []
