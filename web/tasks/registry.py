"""Where task kinds come from: built in, installed packages, and a file the user names.

Installed packages declare kinds as entry points in the group `task_dashboard.kinds`
(`name = "package.module:kind_object"`). A kinds file is a Python file; every Kind
defined at its top level is registered. A broken package is logged and skipped (the user
may not know it is installed); a broken kinds file stops the start-up, since the user
asked for it by name.
"""

from __future__ import annotations

import importlib.util
import logging
from importlib.metadata import entry_points
from pathlib import Path

from web.tasks.command import make_command_kind
from web.tasks.kinds import Kind, timer

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "task_dashboard.kinds"


class KindsError(RuntimeError):
    """A kinds file that cannot be loaded; the message names the file and the cause."""


def builtin_kinds(kill_grace: float = 5.0) -> dict[str, Kind]:
    return {k.name: k for k in (timer, make_command_kind(kill_grace))}


def load_kinds(kinds_file: Path | None = None, kill_grace: float = 5.0) -> dict[str, Kind]:
    kinds = builtin_kinds(kill_grace)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found = entry.load()
        except Exception:
            log.exception(
                "skipping task kind %r from %s: it failed to load", entry.name, entry.value
            )
            continue
        _register(kinds, found, source=f"entry point {entry.value}")
    if kinds_file is not None:
        for found in _kinds_in_file(kinds_file):
            _register(kinds, found, source=str(kinds_file))
    return kinds


def _register(kinds: dict[str, Kind], found: object, source: str) -> None:
    if not isinstance(found, Kind):
        log.error("skipping %s: it is not a task kind (decorate the function with @kind)", source)
    elif found.name in kinds:
        log.error("skipping %s: a kind named %r exists already", source, found.name)
    else:
        kinds[found.name] = found


def _kinds_in_file(path: Path) -> list[Kind]:
    spec = importlib.util.spec_from_file_location(f"task_dashboard_kinds_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise KindsError(f"kinds file {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except FileNotFoundError:
        raise KindsError(f"kinds file {path} does not exist") from None
    except Exception as exc:
        raise KindsError(f"kinds file {path} failed to load: {exc!r}") from exc
    return [value for value in vars(module).values() if isinstance(value, Kind)]
