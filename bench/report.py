"""The table: each figure of ours next to its baseline from the same run, and the target."""

from __future__ import annotations

import math
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass

from bench.scenarios import Plan

Results = dict[str, dict[str, float]]  # kind -> figure name -> value


@dataclass(frozen=True)
class Target:
    text: str
    holds: Callable[[float, float], bool]  # (ours, ratio) -> bool


def at_least_ratio(x: float) -> Target:
    return Target(f"ratio >= {x:g}", lambda _ours, ratio: ratio >= x)


def at_most_ratio(x: float) -> Target:
    return Target(f"ratio <= {x:g}", lambda _ours, ratio: ratio <= x)


def below(x: float, unit: str) -> Target:
    return Target(f"< {x:g} {unit}", lambda ours, _ratio: ours < x)


@dataclass(frozen=True)
class Row:
    label: str
    key: str
    baseline: str  # "floor" or "naive"
    unit: str
    target: Target | None = None
    base_key: str | None = None  # the baseline's figure, when it is not `key`


def rows(plan: Plan) -> list[Row]:
    n, c = f"{plan.tasks:,}", plan.clients
    h = f"{plan.history:,}"
    watched = f"{n} live + {h} finished, {c} clients"
    lock = f"during a {plan.lock_seconds:g} s lock by another process"
    return [
        Row(f"adds/s to {n} live tasks, 0 WS clients", "add_rate", "floor", "/s"),
        Row(f"adds/s to {n} live tasks, 0 WS clients", "add_rate", "naive", "/s"),
        Row(f"adds/s, {c} dashboards open", "add_rate_watched", "floor", "/s", at_least_ratio(0.7)),
        Row(f"adds/s, {c} dashboards open", "add_rate_watched", "naive", "/s"),
        Row("  every delta delivered, after the last answer", "delivery_lag_ms", "naive", "ms"),
        Row(
            f"adds/s, {c} plain WS clients",
            "add_rate_watched_plain",
            "floor",
            "/s",
            at_least_ratio(0.5),
        ),
        Row(
            "  every delta delivered, after the last answer", "delivery_lag_plain_ms", "naive", "ms"
        ),
        Row(
            f"WS bytes/client/change, {n} tasks", "bytes_per_change", "naive", "B", below(500, "B")
        ),
        Row(f"delta latency p50, {watched}", "latency_p50", "naive", "ms"),
        Row(f"delta latency p99, {watched}", "latency_p99", "naive", "ms", below(50, "ms")),
        Row("  same, from the request (p99)", "request_latency_p99", "naive", "ms"),
        Row(
            "  same, a plain client, from the request (p99)",
            "plain_request_latency_p99",
            "naive",
            "ms",
        ),
        Row(
            f"GET /tasks/status page, {n} + {h} (p50)",
            "status_page",
            "naive",
            "ms",
            below(10, "ms"),
        ),
        Row(f"GET /tasks/status {n} at once (p50)", "status_full", "naive", "ms", at_most_ratio(1)),
        Row(f"cancel {plan.cancels:,} running tasks", "cancel_seconds", "naive", "s"),
        Row(
            f"RSS per 10,000 finished tasks, on {h}",
            "rss_per_10k",
            "naive",
            "MB",
            below(20, "MB"),
        ),
        Row(
            f"RSS per 10,000 finished tasks held, {h} vs none",
            "history_rss_per_10k",
            "naive",
            "MB",
            below(20, "MB"),
            base_key="rss_per_10k",
        ),
        Row("start-up to first HTTP 200", "startup_ms", "floor", "ms", at_most_ratio(1.5)),
        Row(
            f"start-up on {h} finished tasks",
            "startup_history_ms",
            "floor",
            "ms",
            below(1000, "ms"),
            base_key="startup_ms",
        ),
        Row(
            f"same, until all {h} are in memory (paged in behind)",
            "startup_whole_history_ms",
            "floor",
            "ms",
            base_key="startup_ms",
        ),
        Row(
            f"GET /healthz p99, {lock}",
            "locked_healthz_p99",
            "ours",
            "ms",
            at_most_ratio(2),
            "healthz_p99",
        ),
        Row(
            f"GET /tasks/status p99, {lock}",
            "locked_status_p99",
            "ours",
            "ms",
            at_most_ratio(2),
            "status_p99",
        ),
        Row(
            f"WS connect to snapshot p99, {lock}",
            "locked_snapshot_p99",
            "ours",
            "ms",
            at_most_ratio(2),
            "snapshot_p99",
        ),
        Row(f"  an add {lock}: 503 after", "locked_add_seconds", "ours", "s"),
    ]


def _fmt(value: float, unit: str) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def table(results: Results, plan: Plan) -> tuple[str, bool]:
    """The table as text, and whether every target holds. A row whose figures this run did
    not take (`python -m bench --adds`) is left out."""
    header = ("figure", "ours", "baseline", "ratio", "target", "result")
    lines = [header]
    all_hold = True
    for row in rows(plan):
        if row.key not in results["ours"] or (row.base_key or row.key) not in results[row.baseline]:
            continue
        ours = results["ours"][row.key]
        base = results[row.baseline][row.base_key or row.key]
        # No ratio of a zero or negative figure (e.g. a delta that came before its answer).
        ratio = ours / base if base > 0 and ours >= 0 else float("nan")
        verdict = ""
        if row.target is not None:
            holds = row.target.holds(ours, ratio)
            all_hold &= holds
            verdict = "PASS" if holds else "FAIL"
        lines.append(
            (
                row.label,
                _fmt(ours, row.unit),
                f"{row.baseline} {_fmt(base, row.unit)}",
                "n/a" if math.isnan(ratio) else f"{ratio:.2f}x",
                row.target.text if row.target else "",
                verdict,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) for line in lines
    ]
    text.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(text), all_hold


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(x.split(":", 1)[1].strip() for x in info if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {sys.version.split()[0]}, {platform.system()}"
