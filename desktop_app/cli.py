"""`task-dashboard`: the command line entry point."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace

from desktop_app.server import ServerStartError, ServerThread, bind_socket
from web import __version__
from web.app import create_app
from web.settings import Settings, SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="task-dashboard", description="A local dashboard for long-running tasks."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the server without a window")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    serve.add_argument("--no-auth", action="store_true", help="no token (allowed on loopback only)")
    serve.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="run at most N tasks at once (default: no limit)",
    )
    return parser


def serve(args: argparse.Namespace) -> int:
    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            auth=not args.no_auth,
            max_concurrent=args.max_concurrent,
        )
        sock = bind_socket(settings.host, settings.port)
    except (SettingsError, ServerStartError) as exc:
        print(f"task-dashboard: {exc}", file=sys.stderr)
        return 2
    settings = replace(settings, port=sock.getsockname()[1])
    server = ServerThread(create_app(settings), sock)
    try:
        server.start()
    except ServerStartError as exc:
        print(f"task-dashboard: {exc}", file=sys.stderr)
        return 1
    print(f"Task Dashboard {__version__} serving on {server.url}", flush=True)
    print(f"  dashboard: {server.url}/dashboard   data: {settings.data_dir}", flush=True)
    if settings.auth:
        print(f"  token: in {settings.token_path} (or run `task-dashboard info`)", flush=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    while not stopped.wait(0.5) and server.alive:
        pass
    server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return serve(args)
    build_parser().print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
