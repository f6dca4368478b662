"""GET /stats's counting (web/stats.py): each figure is a histogram of one column of keys
(web/columns.py), over the tasks the list's filters keep.

numpy counts a figure over 100,000 tasks in well under a millisecond; a Counter of the
same keys (in C too, but an object per task) took 4-6 ms, so a week's four figures took
25-40 ms with no filter at all. numpy takes ~90 ms to import: web/stats.py imports this
on the first GET /stats, not at every start.
"""

from __future__ import annotations

import functools
import operator
from itertools import repeat

import numpy as np

from web.columns import CLASSES, CODE, ENDED_CODES, ID_WIDTH, STATUSES, Columns
from web.history import TaskFilter
from web.tasks.search import fold

Figures = tuple[list[list[int]], list[int], list[int]]  # series, duration classes, statuses


def count(columns: Columns, where: TaskFilter, size: int, first: int, last: int) -> Figures:
    """Per bucket from `first` to `last` (indexes since the epoch, `size` seconds each),
    of the tasks `where` keeps: how many started, and ended by how they ended; of those
    that ended in them, how many ran how long (by DURATION_EDGES); of those added in them,
    how many have each status now."""
    kept = _kept(columns, where)
    started, ended, ran, added = (
        _histogram(_view(keys, np.int64, kept), first, last, per)
        for keys, per in zip(columns.keys(size), (1, STATUSES, CLASSES, STATUSES), strict=True)
    )
    series = [started[:, 0].tolist(), *(ended[:, code].tolist() for code in ENDED_CODES)]
    return series, ran.sum(axis=0).tolist(), added.sum(axis=0).tolist()


def _view(column: object, dtype: type, kept: np.ndarray | None = None) -> np.ndarray:
    """A column (an array or bytes) as numpy reads it, without a copy; only what is kept."""
    values = np.frombuffer(column, dtype)  # type: ignore[call-overload]
    return values if kept is None else values[kept]


def _histogram(keys: np.ndarray, first: int, last: int, per: int) -> np.ndarray:
    """How many keys (bucket * per + what) there are of each what in each bucket from
    `first` to `last`: a row per bucket, a column per what."""
    low, high = first * per, (last + 1) * per
    inside = keys[(keys >= low) & (keys < high)] - low
    return np.bincount(inside, minlength=high - low).reshape(-1, per)


def _kept(columns: Columns, where: TaskFilter) -> np.ndarray | None:
    """True for each task the filters keep (None: they keep every task)."""
    masks = []
    if where.statuses:
        codes = [CODE[s] for s in where.statuses]
        masks.append(np.isin(_view(columns.status, np.int8), codes))
    if where.kinds:
        codes = [columns.kind_codes[k] for k in where.kinds if k in columns.kind_codes]
        masks.append(np.isin(_view(columns.kinds, np.uint16), codes))
    query = fold(where.search.strip())
    if query:
        masks.append(_found(columns, query))
    return functools.reduce(operator.and_, masks) if masks else None


def _found(columns: Columns, query: str) -> np.ndarray:
    """The search as the list has it (TaskFilter.search_sql): a part of the folded name,
    or the start of the id in any ASCII case (ids are ASCII, and held in lower case)."""
    named = _view(bytes(map(operator.contains, columns.names, repeat(query))), np.bool_)
    if not query.isascii() or len(query) > ID_WIDTH:
        return named
    ids = _view(columns.ids, np.uint8).reshape(-1, ID_WIDTH)
    prefix = _view(query.encode(), np.uint8)
    return named | (ids[:, : len(prefix)] == prefix).all(axis=1)
