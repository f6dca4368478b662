"""Fixtures for the CLI tests: a real running instance, and a way to run a command."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from desktop_app.cli import main
from desktop_app.hosting import Hosted, hosted_engine
from web.settings import Settings


@pytest.fixture
def running() -> Iterator[Hosted]:
    """An engine on a real socket for the data dir the CLI finds (TASK_DASHBOARD_HOME)."""
    with hosted_engine(Settings(port=0)) as hosted:
        yield hosted


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`task-dashboard ARGV...` in this process: (exit code, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
