"""Response headers that harden every HTTP answer: one place, one ASGI middleware.

The page loads only its own script, style and images (no inline script, no outside
origin) and may not be framed. `no-referrer` keeps the token out of any Referer, and
everything but the static files is `no-store`, so neither the signed-in URL nor the page
that shows the token lands in a cache. Headers a route already set are left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# connect-src 'self' covers ws:// to the same host and port (CSP level 3).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (/docs, vendored in web/static/vendor) sets inline styles; its
# scripts are files like the dashboard's, and nothing comes from elsewhere.
DOCS_POLICY = PAGE_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
DOCS_PATHS = frozenset({"/docs"})
STATIC_PREFIX = "/static/"


def _hardening(policy: str, *, cached: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
    if not cached:
        headers.append((b"cache-control", b"no-store"))
    return headers


# Built once: every response carries one of these (never modified, only copied from).
_PAGE = _hardening(PAGE_POLICY, cached=False)
_DOCS = _hardening(DOCS_POLICY, cached=False)
_STATIC = _hardening(PAGE_POLICY, cached=True)
_NAMES = frozenset(name for headers in (_PAGE, _DOCS, _STATIC) for name, _ in headers)


def headers_for(path: str) -> list[tuple[bytes, bytes]]:
    if path.startswith(STATIC_PREFIX):
        return _STATIC
    return _DOCS if path in DOCS_PATHS else _PAGE


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                present = {name.lower() for name, _ in headers}
                added = extra
                if not present.isdisjoint(_NAMES):  # rare: the route set one of them
                    added = [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": [*headers, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
