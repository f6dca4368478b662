"""The sign-in page a browser gets instead of a JSON 401, and the form post that signs in.

web/security.py decides when a request needs it (a page load with no valid token or
cookie); this module only draws the page and checks what was pasted into it. The page says
where the token is and nothing about any task; it is a 401, so nothing mistakes it for the
page that was asked for.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from web.pages import templates
from web.security import SIGN_IN_PATH, session_cookie, tokens_match

DEFAULT_NEXT = "/dashboard"
WRONG_TOKEN = "That is not this server's token. Check it with task-dashboard info and try again."
NO_ORIGIN = "sign-in needs the Origin header a browser sends with a form"

router = APIRouter(include_in_schema=False)

# A form post from a page served with `no-referrer` carries `Origin: null`, which the Origin
# check rightly refuses; `same-origin` keeps our origin on our own posts and still sends no
# Referer anywhere else. The page's URL never holds a valid token.
PAGE_HEADERS = {"referrer-policy": "same-origin"}


def safe_next(target: str | None) -> str:
    """`target` if it is a path on this server, else the dashboard: never an open redirect.

    `//host/x` and `/\\host/x` are protocol-relative URLs to another host in browsers,
    and control characters can turn into either, so all of these are refused."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return target


def sign_in_page(token_path: Path, next_path: str, *, wrong: bool) -> HTMLResponse:
    """The page, as a 401; `wrong`: a token was given and it was not ours."""
    page = templates().get_template("signin.html")
    html = page.render(
        token_path=str(token_path),
        next_path=safe_next(next_path),
        error=WRONG_TOKEN if wrong else None,
        sign_in_path=SIGN_IN_PATH,
    )
    return HTMLResponse(html, status_code=401, headers=PAGE_HEADERS)


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request) -> Response:
    """The sign-in form: the token pasted, and where to go on to."""
    # The security middleware refused a foreign Origin already; a browser always sends one
    # with a form post, so a post without it is not our page's (CSRF-safe either way).
    if "origin" not in request.headers:
        return JSONResponse({"detail": NO_ORIGIN}, status_code=403)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    next_path = safe_next(form.get("next"))
    settings = request.app.state.settings
    if not settings.auth:
        return RedirectResponse(next_path, status_code=303)
    expected: str = request.app.state.token
    if not tokens_match(form.get("token", "").strip(), expected):
        return sign_in_page(settings.token_path, next_path, wrong=True)
    response = RedirectResponse(next_path, status_code=303)
    response.headers["set-cookie"] = session_cookie(expected)
    return response
