"""GET /stats: throughput per time bucket, a duration distribution and a status breakdown,
counted over the history's columns held in memory (web/columns.py; the page never gets
every task to count itself).

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

from web.columns import DURATION_EDGES, ENDED, Columns, bucket
from web.history import TaskFilter
from web.tasks.model import TaskStatus

RANGES: dict[str, float | None] = {"hour": 3600, "day": 86400, "week": 7 * 86400, "all": None}
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
# The bucket a range gets when none is asked for: an hour by minutes, a day by hours, ...
DEFAULT_BUCKET = {"hour": "minute", "day": "hour", "week": "hour", "all": "day"}
# A day of minutes; a longer series is more points than a chart has pixels.
MAX_POINTS = 24 * 60


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


def compute(columns: Columns, where: TaskFilter, window: Window) -> dict[str, Any]:
    """The answer's series (blocking: run it in a worker thread)."""
    from web import tally  # numpy: on the first GET /stats, not at every start (web/tally.py)

    with columns.current() as held:
        first = window.first
        if first is None:  # the whole history: from the bucket of its oldest task on
            oldest = held.oldest
            first = window.last if oldest is None else min(bucket(oldest, window.size), window.last)
        points = window.last - first + 1
        if points > MAX_POINTS:
            raise StatsError(
                f"the whole history by the {_name(window.size)} is {points:,} points, "
                f"more than {MAX_POINTS:,}; ask for a longer bucket"
            )
        series, classes, statuses = tally.count(held, where, window.size, first, window.last)
    return {
        "bucket_seconds": window.size,
        "times": [(first + i) * window.size for i in range(points)],
        "series": dict(zip(("started", *(s.value for s in ENDED)), series, strict=True)),
        "durations": {"edges": list(DURATION_EDGES), "counts": classes, "count": sum(classes)},
        "statuses": dict(zip(TaskStatus, statuses, strict=True)),
    }


def _name(size: int) -> str:
    return next(name for name, seconds in BUCKETS.items() if seconds == size)
