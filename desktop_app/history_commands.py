"""The CLI's history commands: `export` (the history as CSV, JSON or NDJSON on stdout)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: `serve` need not import the client (urllib)
    from desktop_app.client import InstanceClient


def add_history_commands(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="write the task history to stdout, e.g. `export --format csv > tasks.csv`",
    )
    export.add_argument(
        "--format",
        choices=["csv", "json", "ndjson"],
        default="json",
        help="csv, json (an array; the default) or ndjson (one task per line)",
    )
    export.add_argument("--status", help="only these statuses, e.g. completed,failed")
    export.add_argument("--kind", help="only these kinds, e.g. command")
    export.add_argument("--search", help="only tasks whose name has this, or whose id starts so")


def export(args: argparse.Namespace, client: InstanceClient) -> int:
    filters = {key: getattr(args, key) for key in ("status", "kind", "search")}
    sys.stdout.flush()  # the bytes go under the text layer
    client.export(
        sys.stdout.buffer,
        args.format,
        **{key: value for key, value in filters.items() if value is not None},
    )
    sys.stdout.buffer.flush()
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, InstanceClient], int]] = {"export": export}
