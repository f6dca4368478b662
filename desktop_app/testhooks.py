"""Test hooks: a JSON-lines command channel on stdin/stdout for the real-window test.

Off unless TASK_DASHBOARD_TEST_HOOKS=1, so normal use never reads stdin or prints these.
The app announces events (`{"event": "loaded", ...}`); the test sends commands
(`{"id": 1, "cmd": "eval", "js": "..."}`) and gets one answer per command
(`{"id": 1, "result": ...}` or `{"id": 1, "error": "..."}`). The window registers `eval`
and `close`, the launcher `ws_clients`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

log = logging.getLogger(__name__)

ENV = "TASK_DASHBOARD_TEST_HOOKS"

Command = Callable[[dict[str, Any]], object]


class CommandChannel:
    def __init__(self, commands_in: TextIO, answers_out: TextIO) -> None:
        self._in = commands_in
        self._out = answers_out
        self._commands: dict[str, Command] = {}
        self._write_lock = threading.Lock()  # events and answers come from different threads

    @classmethod
    def from_env(cls) -> CommandChannel | None:
        if os.environ.get(ENV) != "1" or sys.stdin is None or sys.stdout is None:
            return None
        return cls(sys.stdin, sys.stdout)

    def register(self, name: str, command: Command) -> None:
        self._commands[name] = command

    def emit(self, event: str, **fields: object) -> None:
        self._write({"event": event, **fields})

    def start(self) -> None:
        # A daemon: it blocks on stdin, which nothing can interrupt portably; it exists
        # only under the test hooks and ends with the process.
        threading.Thread(target=self._serve, name="test-hooks", daemon=True).start()

    def _serve(self) -> None:
        for line in self._in:
            request = json.loads(line)
            answer: dict[str, object] = {"id": request.get("id")}
            try:
                answer["result"] = self._commands[request["cmd"]](request)
            except Exception as exc:  # reported to the test, which decides
                answer["error"] = f"{type(exc).__name__}: {exc}"
            self._write(answer)

    def _write(self, message: dict[str, object]) -> None:
        with self._write_lock:
            self._out.write(json.dumps(message) + "\n")
            self._out.flush()
