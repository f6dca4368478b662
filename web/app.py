"""The composition root: create_app(settings) builds everything; nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import get_route_path
from starlette.datastructures import State
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from web import __version__, api, history_api, pages, signin, ws
from web.clock import Clock, SystemClock
from web.cluster.executors import Executors, cluster_id
from web.collector import tune_for_serving
from web.columns import Columns
from web.headers import SecurityHeadersMiddleware
from web.history import History
from web.notices import NoticeSink, NoticeWatcher
from web.notify_prefs import NotifyPrefsBook
from web.query import OneValueEach
from web.realtime import Hub
from web.schemas import Problem
from web.security import COOKIE, OPEN_PATHS, TOKEN_HELP, SecurityMiddleware, load_or_create_token
from web.settings import Settings
from web.store import StoreError
from web.tasks.engine import TaskEngine, new_task_id
from web.tasks.errors import InvalidParams, InvalidTask, Refused, TaskNotFound
from web.tasks.logs import LogBook
from web.tasks.model import TaskConflict
from web.tasks.registry import KindsError, load_kinds
from web.writer import Ahead, Writer

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    new_id: Callable[[], str] = new_task_id,
    tune_gc: bool = False,
    notices: NoticeSink | None = None,
    writer_in_thread: bool = False,
    writer_ahead: Ahead | None = None,
) -> FastAPI:
    """The app. `tune_gc`: this process exists to serve it (web/collector.py); not for an
    app that shares its process with other work, such as a test run. `notices`: what tells
    the user that a task ended (the desktop app's notifications; web/notices.py).
    `writer_in_thread`: the database's writer in this process (web/writer.py), for tests
    that reach into it; `writer_ahead`: its process, started while this was imported."""
    clock = clock or SystemClock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            kinds = load_kinds(settings.kinds_file, settings.kill_grace)
            writer = await Writer.open(
                settings.db_path,
                settings.db_busy_timeout,
                in_thread=writer_in_thread,
                ahead=writer_ahead,
            )
        except (StoreError, KindsError) as exc:
            _startup_failed(app, exc)
            raise
        try:
            app.state.token = settings.token or load_or_create_token(settings.token_path)
        except OSError as exc:
            await writer.close()
            _startup_failed(app, exc)
            raise
        hub = Hub(max_pending=settings.ws_max_pending)
        logs = LogBook(settings.task_logs_dir, settings.task_log_max_bytes, hub.publish_log)
        engine = TaskEngine(
            writer,
            hub,
            logs,
            clock=clock,
            kinds=kinds,
            new_id=new_id,
            max_concurrent=settings.max_concurrent,
            progress_interval=settings.progress_interval,
            allow_programs=settings.auth,
            history_window=settings.history_window,
        )
        app.state.hub = hub
        app.state.engine = engine
        app.state.columns = Columns(History(settings.db_path))  # read on the first GET /stats
        executors = app.state.executors = Executors(
            engine, hub, settings, cluster_id(str(settings.db_path.resolve()))
        )
        try:
            await executors.start(await writer.call("load_settings"))
            await engine.start()  # recovery writes: a locked or full database fails here
            await executors.engine_started()
        except (StoreError, InvalidTask, Refused) as exc:
            await executors.close()
            await writer.close()
            _startup_failed(app, exc)
            raise
        app.state.notify = NotifyPrefsBook(engine, hub)
        watcher = None
        if notices is not None:
            watcher = NoticeWatcher(
                hub,
                notices,
                lambda: app.state.notify.current,
                engine.finished_ids,
            )
            watcher.start()
        if tune_gc:
            tune_for_serving()  # started: what start-up made goes out of the collector's way
        try:
            yield
        finally:
            try:
                if watcher is not None:
                    await watcher.stop()  # first: what quitting interrupts is no news to the user
                await engine.stop()
                await executors.close()  # after: tasks on a cluster are left running there
            finally:
                hub.close_all()
                await writer.close()

    app = TaskDashboardApp(
        title="Task Dashboard",
        version=__version__,
        summary="Add, watch and cancel long-running tasks.",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # FastAPI's own docs pages load their scripts from a CDN: /docs is ours instead
        # (web/pages.py), with Swagger UI vendored in web/static/vendor.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = clock  # the engine's: the history's routes tell time by it too
    app.state.ws_send_timeout = settings.ws_send_timeout
    app.add_middleware(OneValueEach)  # innermost: after the security checks
    app.add_middleware(
        SecurityMiddleware,
        host_names=settings.host_names(),
        auth=settings.auth,
        max_body_bytes=settings.max_body_bytes,
        sign_in_page=lambda next_path, wrong: signin.sign_in_page(
            settings.token_path, next_path, wrong=wrong
        ),
    )
    # Outermost, so the security middleware's own refusals carry the headers too.
    app.add_middleware(SecurityHeadersMiddleware)
    # Straight onto the app's router, not include_router(): FastAPI keeps an included
    # router as one nested route, and matching through it cost a tenth of an add (bench/).
    # The route objects are the modules' own, so every app made in a process shares them
    # (they hold no state); app.dependency_overrides does not reach them (nothing uses it).
    for module in (history_api, api, ws, pages, signin):
        app.router.routes.extend(module.router.routes)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    _map_domain_errors(app)
    _complete_openapi(app, auth=settings.auth)
    return app


class AppState(State):
    """app.state with its values as plain attributes. Starlette's State keeps them in a
    dict of its own, reached through __getattr__, which Python calls only after a normal
    lookup has failed: 0.7 us a read, and every add read two (the token, the engine)."""

    def __init__(self) -> None:
        pass  # no dict of its own: State's methods use the instance's

    @property  # type: ignore[override]
    def _state(self) -> dict[str, Any]:
        return self.__dict__


class TaskDashboardApp(FastAPI):
    """FastAPI, with app.state's values as plain attributes (AppState), and POST
    /tasks/add answered by a shorter stack of its own.

    Between the server and a route, FastAPI puts five layers of its own (error pages,
    telemetry, a body limit, exception handlers, an exit stack) and the router's search;
    for an add they cost more than the engine's whole work on it (about 45 us of 300 on
    the benchmark's machine; bench/), and adds are what scripts send by the thousand. The
    add's stack keeps what it needs of them, built from the same parts: the error page for
    a crash, the app's middleware (the security checks and headers), and its exception
    handlers. Everything else, /docs included, goes through FastAPI's. (It is dispatched
    before FastAPI.__call__, which would set a `root_path` given to FastAPI and trace the
    call when telemetry is on: create_app turns on neither.)"""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = AppState()
        self._add: ASGIApp | None = None  # built with the rest, on the first call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self._add is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and get_route_path(scope) == api.ADD
        ):
            scope["app"] = self  # as Starlette does for every call
            await self._add(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        self._add = self._add_stack()
        return super().build_middleware_stack()

    def _add_stack(self) -> ASGIApp:
        handlers = dict(self.exception_handlers)
        # As Starlette splits them: the crash page's handler is the last of 500/Exception.
        crashed = [handlers.pop(key) for key in list(handlers) if key in (500, Exception)]
        # The tables ExceptionMiddleware hands a route, by exception class and by status.
        tables = (
            {key: value for key, value in handlers.items() if not isinstance(key, int)},
            {key: value for key, value in handlers.items() if isinstance(key, int)},
        )

        async def add(scope: Scope, receive: Receive, send: Send) -> None:
            # request_response(), less the layers it puts around a route for an exception
            # raised after the answer started: this answer starts after the endpoint is done.
            request = Request(scope, receive, send)
            try:
                response = await api.serve_add(request)
            except Exception as exc:
                # Answered by the app's handlers as any route's is, by Starlette's own code.
                scope["starlette.exception_handlers"] = tables
                await wrap_app_handling_exceptions(_raising(exc), request)(scope, receive, send)
                return
            await response(scope, receive, send)

        stack: ASGIApp = add
        for cls, args, kwargs in reversed(self.user_middleware):
            stack = cls(stack, *args, **kwargs)
        return ServerErrorMiddleware(
            stack, handler=crashed[-1] if crashed else None, debug=self.debug
        )


def _raising(exc: Exception) -> ASGIApp:
    async def app(_scope: Scope, _receive: Receive, _send: Send) -> None:
        raise exc

    return app


def _startup_failed(app: FastAPI, exc: Exception) -> None:
    # Kept for whoever started the server, to show instead of a traceback.
    app.state.startup_error = exc
    log.error("cannot start: %s", exc)


def _complete_openapi(app: FastAPI, *, auth: bool) -> None:
    """Add to the OpenAPI schema the Problem schema that the routes' error answers refer to
    (web/api.py), and with `auth` what the security middleware asks of every call but
    /healthz (the middleware checks it; this only documents it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            components = schema.setdefault("components", {})
            schemas = {**components.get("schemas", {}), "Problem": Problem.model_json_schema()}
            components["schemas"] = dict(sorted(schemas.items()))  # in order, as FastAPI's
            if auth:
                _document_auth(schema)
        return app.openapi_schema  # build() cached it

    app.openapi = openapi  # type: ignore[method-assign]


def _document_auth(schema: dict[str, Any]) -> None:
    schema["components"]["securitySchemes"] = {
        "token": {"type": "http", "scheme": "bearer", "description": TOKEN_HELP},
        "cookie": {"type": "apiKey", "in": "cookie", "name": COOKIE},
    }
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            operation["security"] = [] if path in OPEN_PATHS else [{"token": []}, {"cookie": []}]


def _map_domain_errors(app: FastAPI) -> None:
    def problem(status: int) -> Callable[[Request, Exception], JSONResponse]:
        def handler(_request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handler

    app.add_exception_handler(TaskNotFound, problem(404))
    app.add_exception_handler(TaskConflict, problem(409))
    app.add_exception_handler(Refused, problem(403))
    app.add_exception_handler(InvalidTask, problem(422))
    app.add_exception_handler(StoreError, problem(503))
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(405, method_not_allowed)
    app.add_exception_handler(InvalidParams, invalid_params)


async def invalid_params(_request: Request, exc: Exception) -> JSONResponse:
    """The kind's parameters, reported like any other body field."""
    assert isinstance(exc, InvalidParams)
    return JSONResponse({"detail": problems(exc.errors, under=("body",))}, status_code=422)


async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    """405 whose Allow lists every method of the path that matched, not only those of its
    first route (GET and PUT /settings are two routes)."""
    routes = [r for router in (history_api.router, api.router, pages.router) for r in router.routes]
    matched = next(
        (
            r.path
            for r in routes
            if isinstance(r, APIRoute) and r.matches(request.scope)[0] is not Match.NONE
        ),
        None,
    )
    allowed = {
        m for r in routes if isinstance(r, APIRoute) and r.path == matched for m in r.methods
    }
    headers = {"Allow": ", ".join(sorted(allowed))} if allowed else getattr(exc, "headers", None)
    return JSONResponse({"detail": "Method Not Allowed"}, status_code=405, headers=headers)


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """422 with where and why for each problem; the offending input is not echoed back
    (it may be huge, or not representable in JSON, like NaN)."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": problems(exc.errors())}, status_code=422)


def problems(errors: Sequence[Any], under: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Where and why, per problem; pydantic's "Value error, " prefix says nothing to a user."""
    return [
        {
            "loc": [*under, *e["loc"]],
            "msg": e["msg"].removeprefix("Value error, "),
            "type": e["type"],
        }
        for e in errors
    ]
