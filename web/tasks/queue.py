"""WaitingLine: the queued tasks in the order they will start.

Higher priority first; equal priorities in submission order. A sorted list of keys gives
the next task and any task's place in line by bisection (inserting shifts pointers in C,
which stays cheap far beyond the queue sizes a person or a script makes).
"""

from __future__ import annotations

import bisect

Key = tuple[int, int, str]  # (-priority, submission order, task id)


class WaitingLine:
    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._members: dict[str, Key] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._members

    def put(self, task_id: str, priority: int, order: int) -> None:
        """Add, or re-place after a priority change."""
        key = (-priority, order, task_id)
        if self._members.get(task_id) == key:
            return
        self.discard(task_id)
        self._members[task_id] = key
        bisect.insort(self._keys, key)

    def discard(self, task_id: str) -> None:
        key = self._members.pop(task_id, None)
        if key is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def first(self) -> str | None:
        return self._keys[0][2] if self._keys else None

    def position(self, task_id: str) -> int | None:
        """1 for the next to start; None if not in line."""
        key = self._members.get(task_id)
        return None if key is None else bisect.bisect_left(self._keys, key) + 1
