"""The CLI's queue commands: the scheduling options of `add`, `pause`/`resume`/`retry`/
`priority` for one task, `queue pause|resume`, `settings`, and what `status` says about
where a task waits."""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: `serve` need not import the client (urllib)
    from desktop_app.client import InstanceClient


Task = dict[str, Any]

_CLOCK = re.compile(r"\d+(:\d{1,2}){1,2}")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)?\s*")
_UNITS = {"ms": 0.001, "d": 86400, "h": 3600, "m": 60, "s": 1, None: 1}
_NO_LIMIT = ("none", "no", "unlimited", "∞", "inf")
UNSET = object()  # `settings` without --max-concurrent: leave the limit as it is


def parse_duration(text: str) -> float:
    """Seconds from "90", "1.5", "1m30s", "2h 5m", "1:30" (the dashboard's forms too).

    A plain number, negative ones included, goes through as it is: the server says what
    range it accepts."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        seconds = _friendly_seconds(value)
    if not math.isfinite(seconds):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return seconds


def _friendly_seconds(value: str) -> float:
    if _CLOCK.fullmatch(value):
        total = 0.0
        for part in value.split(":"):
            total = total * 60 + int(part)
        return total
    total, unitless, at = 0.0, 0, 0
    while value and at < len(value):
        match = _PART.match(value, at)
        if not match:
            break
        number, unit = match.groups()
        unitless += unit is None
        total += float(number) * _UNITS[unit]
        at = match.end()
    # "1m 30" reads as 1m30s, but "10 20" is a typo, not 30 seconds.
    if not value or at < len(value) or unitless > 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a duration: try 90, 1m30s, 2h or 1:30")
    return total


def parse_when(text: str) -> str:
    """An ISO 8601 time; without a zone it is the local time (as a person typing it means)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2030-01-31T18:00 or 2030-01-31T18:00:00Z"
        ) from None
    return when.astimezone().isoformat()


def parse_limit(text: str) -> int | None:
    if text.strip().lower() in _NO_LIMIT:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a limit: give a whole number, or `none` for no limit"
        ) from None


# -- the parser ---------------------------------------------------------------------------


def add_scheduling_options(add: argparse.ArgumentParser) -> None:
    add.add_argument("--priority", type=int, help="higher starts first (default 0)")
    start = add.add_mutually_exclusive_group()
    start.add_argument(
        "--delay", type=parse_duration, metavar="DURATION", help="start after this long, e.g. 5m"
    )
    start.add_argument(
        "--run-at",
        type=parse_when,
        metavar="TIME",
        help="start at this ISO 8601 time (local time unless it names a zone)",
    )
    add.add_argument(
        "--after",
        action="append",
        default=[],
        metavar="TASK_ID",
        help="start only once this task completed (repeat for several)",
    )


def add_queue_commands(commands: argparse._SubParsersAction) -> None:
    for name, what in [
        ("pause", "pause a running task (it keeps its progress)"),
        ("resume", "resume a paused task (it runs again when a slot is free)"),
        ("retry", "run a finished task again, as a new task; prints the new id"),
    ]:
        command = commands.add_parser(name, help=what)
        command.add_argument("task_id")
        command.add_argument("--json", action="store_true", help="print the task as JSON")

    priority = commands.add_parser("priority", help="re-rank a waiting task")
    priority.add_argument("task_id")
    priority.add_argument("priority", type=int, nargs="?", help="the new priority")
    priority.add_argument("--front", action="store_true", help="move it ahead of every task")
    priority.add_argument("--json", action="store_true", help="print the task as JSON")

    queue = commands.add_parser("queue", help="pause or resume the whole queue")
    queue.add_argument("action", choices=["pause", "resume"])
    queue.add_argument("--json", action="store_true", help="print the settings as JSON")

    settings = commands.add_parser("settings", help="show or change the settings")
    settings.add_argument(
        "--max-concurrent",
        type=parse_limit,
        default=UNSET,
        metavar="N|none",
        help="run at most N tasks at once; `none` for no limit",
    )
    settings.add_argument(
        "--notify",
        choices=["all", "failures", "never"],
        help="which task ends the desktop app (or a dashboard tab) tells of",
    )
    settings.add_argument(
        "--notify-min",
        type=parse_duration,
        metavar="DURATION",
        help="no notification for tasks that ran for less than this (e.g. 30, 2m)",
    )
    settings.add_argument(
        "--executor", choices=["local", "dask"], help="where tasks that name none run"
    )
    settings.add_argument(
        "--scheduler",
        metavar="ADDRESS|none",
        help="the dask executor's scheduler (tcp://host:8786, local:N); `none` for no cluster",
    )
    settings.add_argument("--json", action="store_true", help="print the settings as JSON")


# -- the commands -------------------------------------------------------------------------


def _print_task(args: argparse.Namespace, task: Task, text: str) -> int:
    print(json.dumps(task, indent=2) if args.json else text)
    return 0


def _print_settings(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(settings, indent=2))
        return 0
    limit = settings["max_concurrent"]
    print(f"max_concurrent: {'none (no limit)' if limit is None else limit}")
    print(f"queue_paused:   {'yes' if settings['queue_paused'] else 'no'}")
    if "notify" in settings:  # an older server has no notify setting
        least = f"{settings['notify_min_seconds']:g}"
        print(f"notify:         {settings['notify']} (tasks of {least} s or more)")
    if "executor" in settings:  # nor executors
        print(f"executor:       {settings['executor']}")
        print(f"scheduler:      {settings['scheduler'] or 'none (no cluster)'}")
    return 0


def pause(args: argparse.Namespace, client: InstanceClient) -> int:
    task = client.task_action(args.task_id, "pause")
    return _print_task(args, task, f"{task['task_id']} {task['status']}")


def resume(args: argparse.Namespace, client: InstanceClient) -> int:
    task = client.task_action(args.task_id, "resume")
    return _print_task(args, task, f"{task['task_id']} {task['status']}")


def retry(args: argparse.Namespace, client: InstanceClient) -> int:
    task = client.task_action(args.task_id, "retry")
    return _print_task(args, task, task["task_id"])


def priority(args: argparse.Namespace, client: InstanceClient) -> int:
    if (args.priority is None) == (not args.front):
        raise UsageError("give a new priority, or --front (not both)")
    change = {"front": True} if args.front else {"priority": args.priority}
    task = client.task_action(args.task_id, "priority", change)
    notes = describe(task)
    return _print_task(args, task, f"{task['task_id']} {task['status']}  {notes}")


def queue(args: argparse.Namespace, client: InstanceClient) -> int:
    return _print_settings(args, client.queue(args.action))


def settings(args: argparse.Namespace, client: InstanceClient) -> int:
    changes: dict[str, object] = {}
    if args.max_concurrent is not UNSET:
        changes["max_concurrent"] = args.max_concurrent
    if args.notify is not None:
        changes["notify"] = args.notify
    if args.notify_min is not None:
        changes["notify_min_seconds"] = args.notify_min
    if args.executor is not None:
        changes["executor"] = args.executor
    if args.scheduler is not None:
        changes["scheduler"] = None if args.scheduler == "none" else args.scheduler
    return _print_settings(args, client.settings(**changes))


class UsageError(ValueError):
    """The command line asks for something impossible (exit code 2, like argparse)."""


COMMANDS: dict[str, Callable[[argparse.Namespace, InstanceClient], int]] = {
    "pause": pause,
    "resume": resume,
    "retry": retry,
    "priority": priority,
    "queue": queue,
    "settings": settings,
}


# -- what `status` says about waiting tasks -----------------------------------------------


def describe(task: Task, now: datetime | None = None) -> str:
    """Where a task waits and how it ranks: "#2 in queue, priority 5", "starts 18:00:00"."""
    notes = []
    if task["status"] == "queued" and task.get("queue_position"):
        notes.append(f"#{task['queue_position']} in queue")
    if task["status"] == "scheduled":
        start = _local(task.get("run_at"))
        now = now or datetime.now().astimezone()
        if start is not None and start > now:
            shown = start.strftime("%H:%M:%S" if start.date() == now.date() else "%Y-%m-%d %H:%M")
            notes.append(f"starts {shown}")
        after = task.get("after") or []
        if after:
            more = f" +{len(after) - 1}" if len(after) > 1 else ""
            notes.append(f"after {after[0][:8]}{more}")
    if task.get("priority"):
        notes.append(f"priority {task['priority']}")
    if task.get("retry_of"):
        notes.append(f"retry of {task['retry_of'][:8]}")
    return ", ".join(notes)


def _local(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone() if iso else None


def queue_line(settings: dict[str, Any]) -> str | None:
    """One line for `status` when the queue is not simply running everything at once."""
    parts = []
    if settings["queue_paused"]:
        parts.append("paused (nothing new starts)")
    if settings["max_concurrent"] is not None:
        parts.append(f"at most {settings['max_concurrent']} at once")
    return f"queue: {', '.join(parts)}" if parts else None
