"""The README's curl commands, run as they are written: bash, with the port swapped in.

The API section's first bash block sets TOKEN and AUTH from the token file, then has one
curl command per call. A test picks a command by the endpoint it names, so the README and
what is tested cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

README_PORT = "localhost:8000"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class ReadmeCommands:
    def __init__(self, readme: Path) -> None:
        section = readme.read_text().split("## The API", 1)[1]
        block = re.search(r"```bash\n(.*?)```", section, re.S)
        assert block is not None, "README.md: no bash block in the API section"
        lines = block.group(1).replace("\\\n", " ").splitlines()
        commands = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        self.setup = [c for c in commands if not c.startswith("curl ")]
        self.curls = [c for c in commands if c.startswith("curl ")]

    def command(self, method: str, target: str) -> str:
        """The one curl command that calls `method` on `target` (path and query, if any)."""
        found = [c for c in self.curls if _method(c) == method and _target(c) == target]
        assert len(found) == 1, f"README.md: want one `{method} {target}` curl, found {found}"
        return found[0]

    def run(self, command: str, port: int, home: Path, task_id: str = "") -> Answer:
        """Run it with the token file in `home`; the answer's code comes from curl -w."""
        command = command.replace(README_PORT, f"localhost:{port}").replace("TASK_ID", task_id)
        script = "\n".join([*self.setup, f"{command} -w '\\n%{{http_code}}'"])
        env = {**os.environ, "TASK_DASHBOARD_HOME": str(home)}
        done = subprocess.run(
            ["bash", "-euc", script], env=env, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        body, _, status = done.stdout.rpartition("\n")
        return Answer(int(status), json.loads(body) if body else None)


def _method(command: str) -> str:
    match = re.search(r"-X (\w+)", command)
    return match.group(1) if match else "GET"


def _target(command: str) -> str:
    match = re.search(r"https?://localhost:\d+(/[^\s\"']*)", command)
    assert match is not None, f"README.md: no URL in {command}"
    return match.group(1)
