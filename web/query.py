"""Every query parameter of the API takes one value: a query that names one twice is
refused (422, naming it), where FastAPI would silently keep the last."""

from __future__ import annotations

from collections import Counter
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class OneValueEach:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"")
        if scope["type"] == "http" and b"&" in query:  # one parameter cannot come twice
            names = Counter(name for name, _ in parse_qsl(query.decode("latin-1"), True))
            twice = sorted(name for name, count in names.items() if count > 1)
            if twice:
                problems = [
                    {"loc": ["query", name], "msg": "give this parameter once", "type": "repeated"}
                    for name in twice
                ]
                await JSONResponse({"detail": problems}, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)
