"""Per-task log files: appended as a task writes, capped in size, read by offset.

Offsets count every byte the task ever wrote, so a reader that follows with
`?offset=<next_offset>` never sees a line twice, even after the oldest part was dropped.
When a file grows past its cap, its older half is dropped at a line boundary and a marker
line takes its place; the marker records how many bytes are gone, so offsets survive
restarts too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "[task-dashboard: {} earlier bytes dropped]\n"
MARKER_RE = re.compile(rb"\[task-dashboard: (\d+) earlier bytes dropped\]\n")


@dataclass(frozen=True)
class LogChunk:
    offset: int  # where `text` starts (may be past what was asked if that was dropped)
    next_offset: int  # ask for this next
    text: str
    dropped: int  # bytes gone before the file's first kept byte


def _head(path: Path) -> tuple[int, int]:
    """(bytes dropped so far, length of the marker line) of an existing log."""
    try:
        with path.open("rb") as fh:
            first = fh.readline(200)
    except FileNotFoundError:
        return 0, 0
    match = MARKER_RE.fullmatch(first)
    return (int(match[1]), len(first)) if match else (0, 0)


def _utf8_prefix(data: bytes) -> bytes:
    """Leave out a character cut in half at the end (a read limit can fall inside one)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: the character started further back
        length = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return data[:-back] if length > back else data
    return data


class TaskLog:
    def __init__(self, path: Path, cap: int) -> None:
        self.path = path
        self.cap = cap
        self.dropped, self._marker_len = _head(path)
        self._size = path.stat().st_size if path.exists() else 0

    @property
    def end(self) -> int:
        """The offset just past the last byte written."""
        return self.dropped + self._size - self._marker_len

    def append(self, data: bytes) -> int:
        """Write and return the offset the data starts at."""
        start = self.end
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            fh.write(data)
        self._size += len(data)
        if self._size > self.cap:
            self._drop_older_half()
        return start

    def _drop_older_half(self) -> None:
        data = self.path.read_bytes()[self._marker_len :]
        keep_from = len(data) - self.cap // 2
        newline = data.find(b"\n", keep_from)
        keep_from = newline + 1 if newline != -1 else keep_from
        self.dropped += keep_from
        marker = MARKER.format(self.dropped).encode()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(marker + data[keep_from:])
        os.replace(tmp, self.path)
        self._marker_len = len(marker)
        self._size = len(marker) + len(data) - keep_from

    def read(self, offset: int, limit: int) -> LogChunk:
        start = max(offset, self.dropped)
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._marker_len + start - self.dropped)
                data = _utf8_prefix(fh.read(limit))
        except FileNotFoundError:
            data = b""
        prefix = MARKER.format(self.dropped) if offset < self.dropped else ""
        return LogChunk(
            offset=start,
            next_offset=start + len(data),
            text=prefix + data.decode("utf-8", errors="replace"),
            dropped=self.dropped,
        )


class LogBook:
    """Every task's log under one folder; tells a listener about each append."""

    def __init__(
        self, folder: Path, cap: int, on_append: Callable[[str, int, str, int], None]
    ) -> None:
        self.folder = folder
        self.cap = cap
        self._on_append = on_append
        self._open: dict[str, TaskLog] = {}

    def _log(self, task_id: str) -> TaskLog:
        """The open log of a task that writes; a fresh look at the file for any other
        (kept only while written to, so reading old logs caches nothing)."""
        return self._open.get(task_id) or self._fresh(task_id)

    def _fresh(self, task_id: str) -> TaskLog:
        return TaskLog(self._path(task_id), self.cap)

    def _path(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.log"

    def append(self, task_id: str, data: bytes) -> None:
        log = self._open.get(task_id)
        if log is None:
            log = self._open[task_id] = self._fresh(task_id)
        offset = log.append(data)
        self._on_append(task_id, offset, data.decode("utf-8", errors="replace"), len(data))

    def read(self, task_id: str, offset: int = 0, limit: int = 64 * 1024) -> LogChunk:
        return self._log(task_id).read(offset, limit)

    def end(self, task_id: str) -> int:
        return self._log(task_id).end

    def close(self, task_id: str) -> None:
        """The task is done writing; the file stays for reading."""
        self._open.pop(task_id, None)

    def delete(self, task_id: str) -> None:
        self._open.pop(task_id, None)
        self._path(task_id).unlink(missing_ok=True)
