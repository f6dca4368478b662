"""Deadline polls for tests that watch a real server or real processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def until(check: Callable[[], T], deadline: float = 15, what: str = "the condition") -> T:
    """Poll `check` until it returns something truthy, or fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline} s waiting for {what}")
        time.sleep(0.02)  # a poll interval, not a wait for something to happen


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
