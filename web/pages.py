"""The HTML side: the dashboard page and the redirect to it."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from web import __version__

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

# Found next to this file, so it works from a checkout, a wheel and a PyInstaller bundle.
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

router = APIRouter(include_in_schema=False)


@functools.cache
def templates() -> Jinja2Templates:
    """Made by the first page served: importing Jinja2 was a tenth of what `serve` added
    to a bare FastAPI app's start-up, and a server that scripts drive never draws a page.
    The first page (which compiles its template anyway) takes about 20 ms more (bench)."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=TEMPLATES_DIR)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request) -> HTMLResponse:
    auth = request.app.state.settings.auth
    # The page is only served to authenticated clients; the API panel shows this token so
    # scripts can be pointed at this instance (JS cannot read the HttpOnly cookie).
    token = request.app.state.token if auth else ""
    response = templates().TemplateResponse(
        request,
        "dashboard.html",
        {"version": __version__, "auth": auth, "token": token},
    )
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    return response


@router.get("/docs", response_class=HTMLResponse)
async def api_docs(request: Request) -> HTMLResponse:
    """Swagger UI, vendored in web/static/vendor (works offline)."""
    return templates().TemplateResponse(
        request, "docs.html", {"openapi_url": request.app.openapi_url}
    )
