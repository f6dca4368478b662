"""GET /stats: throughput per time bucket, a duration distribution and a status breakdown,
counted by SQLite over the history (the page never gets every task to count itself).

Buckets are whole minutes, hours or days since the epoch (UTC), the last one being the
one `now` falls in; a range is that many whole buckets back, so every bucket but the
current one is complete and the page can keep counting into the current one from
WebSocket deltas. What falls in the range:

- throughput: tasks that started, and tasks that ended (by final status), in each bucket;
- durations: tasks that ended in the range, by how long they ran (start to end);
- statuses: tasks created in the range, by their status now.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from web.history import History, TaskFilter
from web.tasks.model import FINAL_STATUSES, TaskStatus

RANGES: dict[str, float | None] = {"hour": 3600, "day": 86400, "week": 7 * 86400, "all": None}
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
# The bucket a range gets when none is asked for: an hour by minutes, a day by hours, ...
DEFAULT_BUCKET = {"hour": "minute", "day": "hour", "week": "hour", "all": "day"}
# A week of minutes; a longer series is more points than a chart has pixels.
MAX_POINTS = 7 * 24 * 60
# Upper edges (seconds) of the duration classes; the last class is everything longer.
DURATION_EDGES = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600)
ENDED = tuple(s.value for s in TaskStatus if s in FINAL_STATUSES)


class StatsError(ValueError):
    """A range and bucket that make no series (HTTP 422); the message says what to ask."""


@dataclass(frozen=True)
class Window:
    """Which buckets a request covers: from bucket `first` to bucket `last` (indexes since
    the epoch), each `size` seconds long; `first` is None for the whole history."""

    size: int
    first: int | None
    last: int

    @classmethod
    def of(cls, range_: str, bucket: str | None, now: float) -> Window:
        bucket = bucket or DEFAULT_BUCKET[range_]
        size = BUCKETS[bucket]
        span = RANGES[range_]
        last = math.floor(now / size)
        if span is None:
            return cls(size, None, last)
        if span < size:
            raise StatsError(f"a bucket of one {bucket} is longer than the range ({range_})")
        points = math.ceil(span / size)
        if points > MAX_POINTS:
            raise StatsError(
                f"{range_} by {bucket} is {points:,} points, more than {MAX_POINTS:,}; "
                "ask for a longer bucket"
            )
        return cls(size, last - points + 1, last)

    @property
    def since(self) -> float:
        return -math.inf if self.first is None else self.first * self.size

    @property
    def until(self) -> float:
        return (self.last + 1) * self.size


def duration_class() -> str:
    """SQL: which DURATION_EDGES class `d` (finished_at - started_at) falls in (0-based);
    -1 for a task that ended without ever starting (cancelled while it waited)."""
    steps = " ".join(f"WHEN d < {edge} THEN {i}" for i, edge in enumerate(DURATION_EDGES))
    return f"CASE WHEN d IS NULL THEN -1 {steps} ELSE {len(DURATION_EDGES)} END"


def compute(history: History, where: TaskFilter, window: Window) -> dict[str, Any]:
    """The answer's series (blocking: run it in a worker thread)."""
    condition, params = where.sql()
    size = window.size
    bounds = [window.since, window.until]
    conn = history.connect()
    try:
        started = history.rows(
            f"SELECT CAST(started_at / ? AS INTEGER) AS b, COUNT(*) FROM tasks "
            f"WHERE started_at >= ? AND started_at < ? AND {condition} GROUP BY b",
            [size, *bounds, *params],
            conn,
        )
        ended = history.rows(
            f"SELECT CAST(finished_at / ? AS INTEGER) AS b, status, {duration_class()} AS c, "
            f"COUNT(*), SUM(d) FROM (SELECT finished_at, status, finished_at - started_at AS d "
            f"FROM tasks WHERE finished_at >= ? AND finished_at < ? AND {condition}) "
            f"GROUP BY b, status, c",
            [size, *bounds, *params],
            conn,
        )
        statuses = history.rows(
            f"SELECT status, COUNT(*) FROM tasks "
            f"WHERE created_at >= ? AND created_at < ? AND {condition} GROUP BY status",
            [*bounds, *params],
            conn,
        )
    finally:
        conn.close()
    return _shape(window, started, ended, statuses)


def _shape(window: Window, started: list, ended: list, statuses: list) -> dict[str, Any]:
    first = window.first
    if first is None:  # the whole history: from its first event on
        seen = [row[0] for row in (*started, *ended)]
        first = min(seen, default=window.last)
    points = window.last - first + 1
    if points > MAX_POINTS:
        raise StatsError(
            f"the whole history by the {_name(window.size)} is {points:,} points, "
            f"more than {MAX_POINTS:,}; ask for a longer bucket"
        )
    series = {name: [0] * points for name in ("started", *ENDED)}
    for bucket, count in started:
        series["started"][bucket - first] += count
    classes = [0] * (len(DURATION_EDGES) + 1)
    timed, total = 0, 0.0
    for bucket, status, cls, count, seconds in ended:
        series[status][bucket - first] += count
        if cls >= 0:
            classes[cls] += count
            timed += count
            total += seconds
    return {
        "bucket_seconds": window.size,
        "times": [(first + i) * window.size for i in range(points)],
        "series": series,
        "durations": {
            "edges": list(DURATION_EDGES),
            "counts": classes,
            "count": timed,
            "mean": total / timed if timed else None,
        },
        "statuses": {s.value: 0 for s in TaskStatus} | dict(statuses),
    }


def _name(size: int) -> str:
    return next(name for name, seconds in BUCKETS.items() if seconds == size)
