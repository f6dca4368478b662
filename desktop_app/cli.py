"""`task-dashboard`: the command line entry point.

No command opens the desktop app; `serve` runs the server alone; `info`, `add`, `status`,
`cancel`, `logs`, `kinds`, `export` and the queue's commands (`pause`, `resume`, `retry`,
`priority`, `queue`, `settings`) talk to the running instance found through instance.json, so
nobody has to hunt for its port or token.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app import discovery, history_commands, kind_commands, queue_commands
from desktop_app.discovery import Instance
from desktop_app.logs import setup_logging
from web import __version__
from web.collector import pause_for_start_up
from web.frozen import COMMIT, SUPERVISE
from web.settings import Settings, SettingsError

# What only some commands need is imported by them: the server (FastAPI and the app) by
# `serve`, the client (urllib) by the commands that talk to a server. A start-up of `serve`
# does not pay for the client, nor a `status` for FastAPI.
if TYPE_CHECKING:
    from desktop_app.client import InstanceClient


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="task-dashboard",
        description="A local dashboard for long-running tasks. "
        "Without a command, opens the dashboard in a window.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the server without a window")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    serve.add_argument("--no-auth", action="store_true", help="no token (allowed on loopback only)")
    serve.add_argument(
        "--open", action="store_true", help="open the signed-in dashboard in the default browser"
    )
    serve.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="run at most N tasks at once (default: no limit)",
    )
    serve.add_argument(
        "--kinds-file",
        type=Path,
        metavar="PATH",
        help="a Python file whose @kind functions become task kinds "
        "(default: $TASK_DASHBOARD_KINDS_FILE)",
    )

    serve.add_argument(
        "--executor",
        choices=("local", "dask"),
        help="where tasks that name no executor run (default: as in the settings, else local)",
    )
    serve.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="the Dask scheduler of the dask executor: tcp://host:8786, tls://host:8786, "
        "or local:N to start N local worker processes; `none` forgets the stored one",
    )
    for flag, what in (
        ("--tls-ca-file", "the CA certificate"),
        ("--tls-cert", "this client's certificate"),
        ("--tls-key", "this client's private key"),
    ):
        serve.add_argument(flag, type=Path, metavar="PATH", help=f"{what}, for a tls:// scheduler")

    info = commands.add_parser("info", help="where the running instance is: URL, port, pid, token")
    info.add_argument("--json", action="store_true", help="print JSON")

    add = commands.add_parser(
        "add",
        help="add a task to the running instance; prints its id",
        usage="%(prog)s [DURATION | -- CMD ARGS... | --kind KIND --param KEY=VALUE...] [OPTIONS]",
    )
    add.add_argument(
        "duration",
        nargs="?",
        type=queue_commands.parse_duration,
        help="a timer task: how long it runs, in seconds or e.g. 1m30s, 2h, 1:30",
    )
    add.add_argument("--name", help="a name to show on the dashboard")
    queue_commands.add_scheduling_options(add)
    kind_commands.add_kind_options(add)
    add.add_argument("--json", action="store_true", help="print the whole task as JSON")

    status = commands.add_parser("status", help="list the running instance's tasks")
    status.add_argument("--status", help="only these statuses, e.g. running,queued")
    status.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    status.add_argument("--json", action="store_true", help="print the API's JSON answer")

    cancel = commands.add_parser("cancel", help="cancel a task of the running instance")
    cancel.add_argument("task_id")
    cancel.add_argument("--json", action="store_true", help="print the task as JSON")
    queue_commands.add_queue_commands(commands)
    kind_commands.add_log_commands(commands)
    history_commands.add_history_commands(commands)
    return parser


def serve(args: argparse.Namespace) -> int:
    from desktop_app.hosting import AlreadyRunning, hosted_engine, stop_signal, wait_for_stop_signal
    from desktop_app.server import BindError, ServerStartError

    try:
        settings = Settings(
            host=args.host,
            port=args.port,
            auth=not args.no_auth,
            max_concurrent=args.max_concurrent,
            executor=args.executor,
            scheduler=args.scheduler,
            tls_ca_file=args.tls_ca_file,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            **({"kinds_file": args.kinds_file} if args.kinds_file else {}),
        )
    except SettingsError as exc:
        return _fail(exc)
    setup_logging(settings.log_dir)
    try:
        with hosted_engine(settings) as hosted:
            server = hosted.server
            stopped = stop_signal()  # before anything is printed: a script may stop us then
            # The signed-in URL holds the token: it goes to a terminal only, never to a
            # log (logging does not capture print) nor to where stdout is redirected.
            console = sys.stdout is not None and sys.stdout.isatty()
            print(serving_lines(settings, hosted.instance, signed_in=console), flush=True)
            if args.open:
                from desktop_app.browser import open_in_browser

                if open_in_browser(hosted.instance.dashboard_url()):
                    print("Opened the dashboard in your default browser.", flush=True)
                else:
                    print("No browser could be opened: open the dashboard URL above.", flush=True)
            wait_for_stop_signal(lambda: server.alive, stopped)
    except (AlreadyRunning, BindError) as exc:
        return _fail(exc, 2)
    except ServerStartError as exc:
        return _fail(exc, 1)
    return 0


def serving_lines(settings: Settings, instance: Instance, *, signed_in: bool) -> str:
    """What `serve` says at start: on a terminal, the signed-in dashboard URL first (as
    Jupyter does) with the plain one beside it, for whoever would rather paste the token
    into the sign-in page; elsewhere the plain one only."""
    plain = f"{instance.url}/dashboard"
    lines = [f"Task Dashboard {__version__} serving on {instance.url}"]
    if not settings.auth:
        lines.append(f"  dashboard: {plain}")
    else:
        where = f"(asks for the token: in {settings.token_path}, or run `task-dashboard info`)"
        if signed_in:
            lines.append(
                f"  dashboard: {instance.dashboard_url()}   (signed in: keep it to yourself)"
            )
            lines.append(f"  plain URL: {plain}   {where}")
        else:
            lines.append(f"  dashboard: {plain}   {where}")
    lines.append(f"  data:      {settings.data_dir}")
    return "\n".join(lines)


def info(args: argparse.Namespace, instance: Instance) -> int:
    facts = {
        "url": instance.url,
        "dashboard_url": instance.dashboard_url(),
        "port": instance.port,
        "pid": instance.pid,
        "token": instance.token(),
        "token_path": instance.token_path,
        "version": instance.version,
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(map(len, facts)) + 1
        for key, value in facts.items():
            print(f"{key + ':':<{width}} {'' if value is None else value}")
    return 0


def add(args: argparse.Namespace, client: InstanceClient) -> int:
    kind, params = kind_commands.kind_params(args)
    task = client.add_task(
        kind,
        params,
        args.name,
        priority=args.priority,
        delay=args.delay,
        run_at=args.run_at,
        after=args.after,
    )
    print(json.dumps(task, indent=2) if args.json else task["task_id"])
    return 0


def cancel(args: argparse.Namespace, client: InstanceClient) -> int:
    task = client.cancel(args.task_id)
    print(json.dumps(task, indent=2) if args.json else f"{task['task_id']} {task['status']}")
    return 0


def status(args: argparse.Namespace, client: InstanceClient) -> int:
    query: dict[str, str | int] = {"limit": args.limit}
    if args.status:
        query["status"] = args.status
    answer = client.status(**query)
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    # Where waiting tasks stand (and priorities) get a column, when any task has something.
    notes = [queue_commands.describe(task) for task in answer["tasks"]]
    width = max(map(len, notes), default=0)
    for task, note in zip(answer["tasks"], notes, strict=True):
        where = f"{note:<{width}}  " if width else ""
        pct = f"{task['progress']:>4.0%}"
        name = kind_commands.label(task)
        print(f"{task['task_id']}  {task['status']:<11} {pct}  {where}{name}")
    queue_line = queue_commands.queue_line(client.settings())
    if queue_line:
        print(queue_line)
    counts = ", ".join(f"{n} {s}" for s, n in answer["counts"].items() if n)
    print(f"{answer['total']} task(s){': ' + counts if counts else ''}")
    return 0


CLIENT_COMMANDS: dict[str, Callable[[argparse.Namespace, InstanceClient], int]] = {
    "add": add,
    "cancel": cancel,
    "status": status,
    **queue_commands.COMMANDS,
    **kind_commands.COMMANDS,
    **history_commands.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    # First: in a frozen build, a multiprocessing child re-enters here and must stop at it.
    multiprocessing.freeze_support()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [SUPERVISE]:
        # A frozen build has no `python -m`: command tasks start their supervisor this way.
        from web.tasks.supervisor import main as supervise

        return supervise(argv[1:])
    if argv[:1] == [COMMIT]:
        from web.committer import main as commit

        return commit(argv[1:])
    argv, command_argv = kind_commands.split_command(argv)
    args = build_parser().parse_args(argv)
    args.command_argv = command_argv
    if args.command is None:
        from desktop_app.launcher import main as open_desktop_app

        return open_desktop_app()
    if args.command == "serve":
        pause_for_start_up()  # before serve() imports the app (web/collector.py)
        return serve(args)
    settings = Settings()
    instance = discovery.read(settings.instance_path)
    if instance is None:
        return _fail(
            f"no Task Dashboard is running for {settings.data_dir}: "
            "start it with `task-dashboard` (window) or `task-dashboard serve`"
        )
    from desktop_app.client import ClientError, InstanceClient

    try:
        if args.command == "info":
            return info(args, instance)
        # Longer than the 10 s a cancel may wait for a cluster's worker to confirm.
        client = InstanceClient(instance.url, instance.token(), timeout=30.0)
        return CLIENT_COMMANDS[args.command](args, client)
    except (ClientError, OSError) as exc:
        return _fail(exc)
    except queue_commands.UsageError as exc:
        return _fail(exc, 2)


def _fail(error: object, code: int = 1) -> int:
    print(f"task-dashboard: {error}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
