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

import bisect
import collections
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from web.history import History, TaskFilter
from web.tasks.model import FINAL_STATUSES, TaskStatus

RANGES: dict[str, float | None] = {"hour": 3600, "day": 86400, "week": 7 * 86400, "all": None}
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400}
# The bucket a range gets when none is asked for: an hour by minutes, a day by hours, ...
DEFAULT_BUCKET = {"hour": "minute", "day": "hour", "week": "hour", "all": "day"}
# A day of minutes; a longer series is more points than a chart has pixels.
MAX_POINTS = 24 * 60
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
    def until(self) -> float:
        return (self.last + 1) * self.size


# One row per bucket, from :first to :last (bucket indexes).
_BUCKETS = (
    "WITH RECURSIVE bucket(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM bucket WHERE i < :last)"
)


def compute(history: History, where: TaskFilter, window: Window) -> dict[str, Any]:
    """The answer's series (blocking: run it in a worker thread).

    Every figure is a COUNT(*) over a range of one of the indexes of migration 5 (see
    web/store.py): walking index entries is cheap, while an expression or a GROUP BY per
    row (which sorts) took several times the 50 ms this has for 100,000 tasks. A name
    search cannot narrow those ranges, so its tasks are counted by _tally instead."""
    condition, filters = where.sql()
    conn = history.connect()
    try:
        first = window.first
        if first is None:  # the whole history: from the bucket of its oldest task on
            oldest = history.rows("SELECT created_at FROM tasks ORDER BY seq LIMIT 1", {}, conn)
            first = math.floor(oldest[0][0] / window.size) if oldest else window.last
            first = min(first, window.last)
        points = window.last - first + 1
        if points > MAX_POINTS:
            raise StatsError(
                f"the whole history by the {_name(window.size)} is {points:,} points, "
                f"more than {MAX_POINTS:,}; ask for a longer bucket"
            )
        params = {
            **filters,
            "first": first,
            "last": window.last,
            "size": window.size,
            "since": first * window.size,
            "until": window.until,
        }
        if where.search.strip():
            (found,) = history.rows(_SEARCHED.format(condition), params, conn)
            series, classes, statuses = _tally(found, first, window)
        else:
            series, classes, statuses = _counted(history, conn, condition, params)
    finally:
        conn.close()
    return {
        "bucket_seconds": window.size,
        "times": [(first + i) * window.size for i in range(points)],
        "series": dict(zip(("started", *ENDED), series, strict=True)),
        "durations": {"edges": list(DURATION_EDGES), "counts": classes, "count": sum(classes)},
        "statuses": dict(zip(TaskStatus, statuses, strict=True)),
    }


def _counted(
    history: History, conn: sqlite3.Connection, condition: str, params: dict[str, object]
) -> tuple[list[list[int]], list[int], list[int]]:
    """The series, duration classes and statuses, counted by SQLite in index ranges."""
    in_bucket = "{0} >= i * :size AND {0} < (i + 1) * :size AND " + condition
    # INDEXED BY: given a status filter, the planner would rather walk that status's
    # tasks once per bucket (two seconds for a week by hours, instead of 40 ms).
    counts = ", ".join(
        f"(SELECT COUNT(*) FROM tasks INDEXED BY {index} WHERE {in_bucket.format(column)}{extra})"
        for index, column, extra in [
            ("tasks_started", "started_at", ""),
            *(("tasks_ended", "finished_at", f" AND status = '{s}'") for s in ENDED),
        ]
    )
    series = history.rows(f"{_BUCKETS} SELECT {counts} FROM bucket ORDER BY i", params, conn)
    durations = history.rows(
        _union(
            _duration_class(lo, hi, condition)
            for lo, hi in zip((0, *DURATION_EDGES), (*DURATION_EDGES, None), strict=True)
        ),
        params,
        conn,
    )
    statuses = history.rows(
        _union(
            f"SELECT COUNT(*) FROM tasks INDEXED BY tasks_created "
            f"WHERE status = '{status.value}' AND created_at >= :since "
            f"AND created_at < :until AND {condition}"
            for status in TaskStatus
        ),
        params,
        conn,
    )
    return (
        [list(column) for column in zip(*series, strict=True)],
        [count for _, count in sorted(durations)],
        [count for _, count in sorted(statuses)],
    )


# A search cannot narrow _counted's ranges (testing the name of each entry in them took
# twice as long as the ranges alone), so it finds its tasks in one pass over the index of
# migration 8 (the rows themselves are five times its size). What they add to each figure
# comes back as one row of texts of numbers: the bucket each started in, the bucket each
# ended in (by how it ended), the whole seconds each ran, the status of each added. A row
# per task found instead (20,000 for `backup` in bench/stats.py) cost SQLite and Python
# more than counting the numbers does (in C, by collections.Counter); SQLite's GROUP BY
# sorts, which cost more again.
# Exact as the ranges are: the whole seconds of a time divided in whole numbers is the
# bucket the range comparisons put it in (times are after 1970, so truncating floors);
# float division could round a time just below an edge up to the next bucket. A run is
# counted in a class by its whole seconds, the edges being whole seconds too.
_ENDED_IN = ", ".join(
    f"group_concat(CAST(finished_at AS INTEGER) / :size) FILTER (WHERE status = '{s}')"
    for s in ENDED
)
_SEARCHED = (
    f"SELECT group_concat(CAST(started_at AS INTEGER) / :size), {_ENDED_IN}, "
    "group_concat(CAST(finished_at - started_at AS INTEGER)) FILTER (WHERE "
    "finished_at >= :since AND finished_at < :until AND finished_at >= started_at), "
    "group_concat(status) FILTER (WHERE created_at >= :since AND created_at < :until) "
    "FROM tasks INDEXED BY tasks_search WHERE {} "
    "AND (created_at >= :since AND created_at < :until "
    "OR started_at >= :since AND started_at < :until "
    "OR finished_at >= :since AND finished_at < :until)"
)


def _tally(
    texts: tuple[str | None, ...], first: int, window: Window
) -> tuple[list[list[int]], list[int], list[int]]:
    """What _counted counts, from the row of _SEARCHED (a text is None where no task
    added a number). Buckets outside the range are those of tasks that count elsewhere
    in it (added in the range, started before it)."""
    started, *ended, ran, added = (
        collections.Counter(text.split(",") if text else ()) for text in texts
    )
    series = [
        [counts[str(i)] for i in range(first, window.last + 1)] for counts in (started, *ended)
    ]
    classes = [0] * (len(DURATION_EDGES) + 1)
    for seconds, n in ran.items():
        classes[bisect.bisect_right(DURATION_EDGES, int(seconds))] += n
    return series, classes, [added[status.value] for status in TaskStatus]


def _duration_class(low: float, high: float | None, condition: str) -> str:
    """How many tasks that ended in the range ran at least `low` and less than `high`
    seconds (the expression is the index's, so the range is an index range)."""
    ran = "finished_at - started_at"
    below = f" AND {ran} < {high}" if high is not None else ""
    return (
        f"SELECT COUNT(*) FROM tasks INDEXED BY tasks_ran "
        f"WHERE started_at IS NOT NULL AND {ran} >= {low}{below} "
        f"AND finished_at >= :since AND finished_at < :until AND {condition}"
    )


def _union(selects: Iterable[str]) -> str:
    """One row per SELECT (each a single count), each led by its place in the list: SQL
    promises no order of rows, so they are sorted by it."""
    return " UNION ALL ".join(
        select.replace("SELECT ", f"SELECT {i}, ", 1) for i, select in enumerate(selects)
    )


def _name(size: int) -> str:
    return next(name for name, seconds in BUCKETS.items() if seconds == size)
