"""Deadline polls for tests that watch a real server or real processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def until(
    probe: Callable[[], T], timeout: float = 15, what: str = "the condition", every: float = 0.02
) -> T:
    """Call probe() until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)  # a poll interval, not a wait for something to happen
    return result


def task_in(http: httpx.Client, task_id: str, *statuses: str, deadline: float = 15) -> dict:
    def check() -> dict | None:
        task = http.get(f"/tasks/{task_id}").json()
        return task if task["status"] in statuses else None

    return until(check, deadline, f"task {task_id} to be {' or '.join(statuses)}")


def alive(pid: int) -> bool:
    """Running (not a zombie awaiting its parent's wait)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return os.path.exists(f"/proc/{pid}")
