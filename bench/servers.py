"""`python -m bench.servers floor|naive --port N`: one baseline server in its own process.

Same uvicorn options as ours (desktop_app/server.py), so only the app differs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvicorn

from bench.floor import create_floor_app
from bench.naive import create_naive_app

APPS = {"floor": create_floor_app, "naive": create_naive_app}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        APPS[args.kind](),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        ws_max_size=64 * 1024,
    )


if __name__ == "__main__":
    main()
