"""The local-server security model as one ASGI middleware (HTTP and WebSocket alike).

Checks, in order: Host names a loopback host or a configured name (400, defeats DNS
rebinding); an Origin, where sent, is our own origin (403, defeats CSRF and cross-site
WebSocket hijacking); the token (401, or for a browser loading a page, the sign-in page
of web/signin.py); the body size (413).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "task_dashboard_token"
SIGN_IN_PATH = "/signin"
OPEN_PATHS = frozenset({"/healthz"})
# Besides OPEN_PATHS, what the sign-in page needs before anyone has signed in: its form's
# target (it checks the token itself) and its two files, which hold nothing private.
SIGN_IN_PATHS = frozenset({SIGN_IN_PATH, "/static/app.css", "/static/favicon.svg"})
TOKEN_HELP = (
    "missing or wrong token: run `task-dashboard info` to see it, then send "
    "`Authorization: Bearer <token>` (or open the dashboard URL it prints)"
)


def load_or_create_token(path: Path) -> str:
    """The per-install token: created once with mode 0600, read on every start."""
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: never follow or reuse a file someone else planted; write it private from birth.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return token


def session_cookie(token: str) -> str:
    """The Set-Cookie value that signs a browser in: script-proof and never sent cross-site."""
    return f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"


def tokens_match(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# A request's headers by name, as bytes: names come lowercased (ASGI), and of a header sent
# twice the last counts. Only the few looked at are decoded (decoding them all was a tenth
# of what the checks cost an add; bench/).
RawHeaders = dict[bytes, bytes]


def _text(headers: RawHeaders, name: bytes) -> str:
    return headers.get(name, b"").decode("latin-1")


def _query_token(query_string: bytes) -> str | None:
    if b"token=" not in query_string:  # most requests: no need to parse
        return None
    return dict(parse_qsl(query_string.decode())).get("token")


def _wants_page(scope: Scope, headers: RawHeaders) -> bool:
    """A browser loading a page (address bar, link), not a script or the page's own calls."""
    return (
        scope["type"] == "http"
        and scope["method"] == "GET"
        and b"text/html" in headers.get(b"accept", b"")
    )


def _without_token(scope: Scope) -> str:
    """The requested path and query, minus any ?token=: where to go on to after signing in."""
    rest = [(k, v) for k, v in parse_qsl(scope["query_string"].decode()) if k != "token"]
    return scope["path"] + (f"?{urlencode(rest)}" if rest else "")


# Draws the sign-in page: (where to go on to, whether a wrong token was given) -> 401 page.
SignInPage = Callable[[str, bool], Response]


def _hostname(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:8000
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        host_names: frozenset[str],
        auth: bool,
        max_body_bytes: int,
        sign_in_page: SignInPage | None = None,
    ) -> None:
        self.app = app
        self.host_names = host_names
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        # None: every refusal is JSON (an app without pages).
        self.sign_in_page = sign_in_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: RawHeaders = dict(scope["headers"])
        host = _text(headers, b"host")
        if _hostname(host).lower() not in self.host_names:
            await self._refuse(scope, send, 400, f"Host {host!r} is not allowed here")
            return
        origin = headers.get(b"origin")
        if origin is not None and (origin := origin.decode("latin-1")).lower() != (
            f"http://{host}".lower()
        ):
            await self._refuse(scope, send, 403, f"cross-origin request from {origin!r} refused")
            return
        path = scope["path"]
        if self.auth and path not in OPEN_PATHS and path not in SIGN_IN_PATHS:
            expected: str = scope["app"].state.token
            query_token = _query_token(scope.get("query_string", b""))
            if query_token is not None and scope["type"] == "http" and scope["method"] == "GET":
                if tokens_match(query_token, expected):
                    await self._sign_in(scope, send, expected)
                else:
                    await self._unauthenticated(scope, receive, send, headers, wrong=True)
                return
            if not self._authenticated(headers, query_token, expected):
                await self._unauthenticated(scope, receive, send, headers, wrong=False)
                return
        if scope["type"] == "http":
            length = headers.get(b"content-length")
            if length is not None:  # the HTTP server holds the client to it
                if not length.isdigit() or int(length) > self.max_body_bytes:
                    await self._refuse(scope, send, 413, self._too_large)
                    return
            elif b"chunked" in headers.get(b"transfer-encoding", b""):
                replay = await self._read_chunked(scope, receive, send)
                if replay is None:
                    return
                receive = replay
        await self.app(scope, receive, send)

    def _authenticated(self, headers: RawHeaders, query_token: str | None, expected: str) -> bool:
        scheme, _, value = _text(headers, b"authorization").partition(" ")
        if scheme.lower() == "bearer" and tokens_match(value.strip(), expected):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(_text(headers, b"cookie"))
        except Exception:
            return False
        morsel = cookie.get(COOKIE)
        if morsel is not None and tokens_match(morsel.value, expected):
            return True
        # WebSocket clients outside a browser may put it in the URL (browsers use the cookie).
        return tokens_match(query_token, expected)

    async def _unauthenticated(
        self, scope: Scope, receive: Receive, send: Send, headers: RawHeaders, *, wrong: bool
    ) -> None:
        """A browser loading a page gets the sign-in page; everyone else the JSON 401 (or,
        for a WebSocket, a refused handshake)."""
        if self.sign_in_page is not None and _wants_page(scope, headers):
            page = self.sign_in_page(_without_token(scope), wrong)
            await page(scope, receive, send)
            return
        await self._refuse(scope, send, 401, TOKEN_HELP)

    @staticmethod
    async def _sign_in(scope: Scope, send: Send, token: str) -> None:
        """First page load with the right ?token=: set the cookie, redirect to the clean URL."""
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", _without_token(scope).encode()),
                    (b"set-cookie", session_cookie(token).encode()),
                    (b"cache-control", b"no-store"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @property
    def _too_large(self) -> str:
        return f"request body larger than {self.max_body_bytes} bytes"

    async def _read_chunked(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """A body sent without a length: read here (it is small, capped), so an oversized
        one gets a clean 413 instead of failing half-way inside the route. The receive that
        replays it, or None after answering 413."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._refuse(scope, send, 413, self._too_large)
                return None
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        return replay

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            # Refusing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})
            return
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
