"""The CLI's commands for task kinds: what `add` sends for a command or another kind
(`add -- CMD ARGS...`, `add --kind K --param key=value`), `logs ID [--follow]` and `kinds`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desktop_app.queue_commands import UsageError, parse_duration

if TYPE_CHECKING:  # annotations only: `serve` need not import the client (urllib)
    from desktop_app.client import InstanceClient

FINAL = ("completed", "cancelled", "failed", "interrupted")
POLL_SECONDS = 0.25  # how often `logs --follow` asks for more
READ_LIMIT = 1024 * 1024


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """`add ... -- CMD ARGS...`: the options before `--`, and the command after it (if any).

    Split before argparse sees it, so that the command's own options (`-c`, `--epochs`)
    are never taken for ours."""
    if argv[:1] != ["add"] or "--" not in argv:
        return argv, None
    at = argv.index("--")
    return argv[:at], argv[at + 1 :]


def add_kind_options(add: argparse.ArgumentParser) -> None:
    add.add_argument(
        "--kind", help="the task kind (default: timer, or command after `--`); see `kinds`"
    )
    add.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a parameter of the kind (repeatable); VALUE is JSON if it parses (5, true, "
        '["a","b"]), else text',
    )
    command = add.add_argument_group("command tasks (`add [OPTIONS] -- CMD ARGS...`)")
    command.add_argument("--cwd", help="working folder for the command")
    command.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra variable (repeat)"
    )
    command.add_argument(
        "--timeout", type=parse_duration, metavar="DURATION", help="fail after this long"
    )
    command.add_argument(
        "--shell", action="store_true", help="run what follows `--` as one shell command line"
    )


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} takes KEY=VALUE, not {item!r}")
        pairs.append((key, value))
    return pairs


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def kind_params(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """(kind, its parameters) from the command line; UsageError when they do not fit."""
    command: list[str] | None = args.command_argv
    params = {key: _json_or_text(value) for key, value in _pairs(args.param, "--param")}
    command_only = {
        "--cwd": args.cwd,
        "--env": args.env,
        "--timeout": args.timeout,
        "--shell": args.shell,
    }
    if command is not None:
        if args.kind not in (None, "command"):
            raise UsageError(f"`-- CMD` runs a command task; it cannot be of kind {args.kind!r}")
        if args.duration is not None:
            raise UsageError(f"a command task takes no duration ({args.duration:g} s given)")
        if not command:
            raise UsageError("name the program to run after `--`")
        params["command"] = " ".join(command) if args.shell else command
        if args.shell:
            params["shell"] = True
        if args.cwd is not None:
            params["cwd"] = args.cwd
        if args.env:
            params["env"] = dict(_pairs(args.env, "--env"))
        if args.timeout is not None:
            params["timeout"] = args.timeout
        return "command", params
    given = [name for name, value in command_only.items() if value]
    if given and args.kind != "command":
        raise UsageError(f"{', '.join(given)}: only for a command, add [OPTIONS] -- CMD ARGS...")
    kind = args.kind or "timer"
    if args.duration is not None:
        if kind != "timer":
            raise UsageError(f"a {kind} task takes no duration; give its --param values")
        params["duration"] = args.duration
    elif kind == "timer" and "duration" not in params:
        raise UsageError(
            "give a duration (e.g. `add 90`), a command (`add -- CMD ARGS...`) "
            "or a kind (`add --kind NAME --param KEY=VALUE`)"
        )
    return kind, params


# -- logs ---------------------------------------------------------------------------------


def add_log_commands(commands: argparse._SubParsersAction) -> None:
    logs = commands.add_parser("logs", help="print a task's log (its output)")
    logs.add_argument("task_id")
    logs.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep printing until the task ends; exit 0 if it completed, 1 if not",
    )

    kinds = commands.add_parser("kinds", help="list the task kinds and their parameters")
    kinds.add_argument("--json", action="store_true", help="print the API's JSON answer")


def logs(args: argparse.Namespace, client: InstanceClient) -> int:
    offset = 0
    try:
        while True:
            chunk = client.logs(args.task_id, offset, READ_LIMIT)
            if chunk["text"]:
                sys.stdout.write(chunk["text"])
                sys.stdout.flush()
            moved = chunk["next_offset"] != offset
            offset = chunk["next_offset"]
            if not args.follow:
                if moved:
                    continue  # more than one read's worth: print it all
                return 0
            if chunk["complete"]:
                return _outcome(client.task(args.task_id))
            if not moved:
                time.sleep(POLL_SECONDS)  # nothing new yet: ask again shortly
    except KeyboardInterrupt:
        return 130


def _outcome(task: dict[str, Any]) -> int:
    if task["status"] == "completed":
        return 0
    reason = f": {task['error']}" if task.get("error") else ""
    print(f"task-dashboard: task {task['task_id']} {task['status']}{reason}", file=sys.stderr)
    return 1


# -- kinds --------------------------------------------------------------------------------


def describe_param(name: str, schema: dict[str, Any], required: bool) -> str:
    """`rounds  integer, 1..10000000, required  Description`."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    types = []
    for option in options:
        if option.get("type") == "array":
            types.append(f"list of {option.get('items', {}).get('type', 'values')}")
        elif option.get("type") == "object":
            types.append("KEY=VALUE map")
        else:
            types.append(option.get("type", "value"))
    facts = [" or ".join(types)]
    enum = schema.get("enum") or next((o["enum"] for o in options if "enum" in o), None)
    if enum:
        facts[0] = "one of " + "|".join(map(str, enum))
    low = next((o.get("minimum", o.get("exclusiveMinimum")) for o in options), None)
    high = next((o.get("maximum") for o in options), None)
    if low is not None or high is not None:
        facts.append(f"{_number(low)}..{_number(high)}")
    if required:
        facts.append("required")
    elif schema.get("default") not in (None, {}, []):
        facts.append(f"default {json.dumps(schema['default'])}")
    text = f"{name}  ({', '.join(facts)})"
    return f"{text}  {schema['description']}" if schema.get("description") else text


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def label(task: dict[str, Any]) -> str:
    """What a list shows for a task: its name, else a command task's command line."""
    if task["name"] or task["kind"] != "command":
        return task["name"]
    command = task.get("params", {}).get("command", "")
    line = command if isinstance(command, str) else shlex.join(command)
    return " ".join(line.split())  # one line in a list, whatever the script's newlines


def kinds(args: argparse.Namespace, client: InstanceClient) -> int:
    answer = client.kinds()
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    for number, found in enumerate(answer):
        notes = [n for n, on in [("needs the token", found["requires_token"])] if on]
        if found["resumable"]:
            notes.append("can pause")
        heading = found["name"] + (f"  [{', '.join(notes)}]" if notes else "")
        print(("\n" if number else "") + heading)
        if found["description"]:
            print(f"  {found['description']}")
        schema = found["params"]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            print(f"    {describe_param(name, prop, name in required)}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, InstanceClient], int]] = {
    "logs": logs,
    "kinds": kinds,
}
