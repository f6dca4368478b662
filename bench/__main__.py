"""`python -m bench [--quick] [--adds] [--json FILE]`: run the whole suite (or only the
bursts of adds) and print the table."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import scenarios
from bench.procs import Server, start
from bench.report import Results, machine, table
from bench.scenarios import QUICK, Figures, Plan

Scenario = Callable[[Server, Plan], Figures]

# Each run of a (kind, scenario) pair gets a fresh server of its own.
#
# One burst of adds lasts 2-3 s, so its rate scatters from run to run more than any other
# figure. These run `plan.repeats` rounds, taking turns within each round, so that a slow
# stretch of the shared machine (a neighbour, CPU throttling after minutes of load) hits
# the floor and ours alike; each of their figures is the median.
TAKING_TURNS: tuple[tuple[str, Scenario], ...] = (
    ("floor", scenarios.floor_adds),
    ("ours", scenarios.adds_watched),
    ("ours", scenarios.adds_watched_plain),
)
ONCE: tuple[tuple[str, Scenario], ...] = (
    ("naive", scenarios.history),
    ("ours", scenarios.history),
    ("naive", scenarios.adds_watched),
    ("naive", scenarios.memory),
    ("ours", scenarios.memory),
    ("ours", scenarios.locked),
)
# Ours runs these on a long history already on disk (plan.history finished tasks): the
# naive app keeps everything in memory and has none.
AT_SCALE = {scenarios.history, scenarios.memory}


def run(plan: Plan, log: Callable[[str], None], adds_only: bool = False) -> Results:
    results: Results = {"floor": {}, "naive": {}, "ours": {}}
    samples: defaultdict[tuple[str, Scenario], list[Figures]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="task-dashboard-bench-") as tmp:
        workdir = Path(tmp)
        # Each round starts with the next of them, so none always runs first.
        turns = [k % len(TAKING_TURNS) for k in range(plan.repeats)]
        rounds = [TAKING_TURNS[k:] + TAKING_TURNS[:k] for k in turns]
        once = () if adds_only else ONCE
        for kind, scenario in [*(pair for r in rounds for pair in r), *once]:
            began = time.monotonic()
            at_scale = kind == "ours" and scenario in AT_SCALE
            with start(kind, workdir, history=plan.history if at_scale else 0) as server:
                samples[kind, scenario].append(scenario(server, plan))
            log(f"{kind:>5} {scenario.__name__:<18} {time.monotonic() - began:5.1f} s")
        for (kind, _), figures in samples.items():
            results[kind].update(
                {key: statistics.median(f[key] for f in figures) for key in figures[0]}
            )
        if not adds_only:
            for kind, figures in scenarios.startup(("floor", "ours"), plan, workdir).items():
                results[kind].update(figures)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs")
    parser.add_argument(
        "--adds",
        action="store_true",
        help="only the bursts of adds, floor and ours taking turns (a minute or two)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    plan = QUICK if args.quick else Plan()
    print(f"machine: {machine()}", flush=True)
    results = run(plan, lambda line: print(line, file=sys.stderr, flush=True), args.adds)
    text, all_hold = table(results, plan)
    print(text)
    print("every target holds" if all_hold else "SOME TARGETS DO NOT HOLD")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
