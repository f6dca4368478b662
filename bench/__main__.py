"""`python -m bench [--quick] [--json FILE]`: run the whole suite and print the table."""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import scenarios
from bench.procs import Server, start
from bench.report import Results, machine, table
from bench.scenarios import QUICK, Figures, Plan

Scenario = Callable[[Server, Plan], Figures]

# Each (kind, scenario) pair gets a fresh server of its own.
RUNS: tuple[tuple[str, Scenario], ...] = (
    ("floor", scenarios.floor_adds),
    ("naive", scenarios.history),
    ("ours", scenarios.history),
    ("naive", scenarios.adds_watched),
    ("ours", scenarios.adds_watched),
    ("ours", scenarios.adds_watched_plain),
    ("naive", scenarios.memory),
    ("ours", scenarios.memory),
)


# One burst of adds lasts 2-3 s, so its rate scatters from run to run more than any other
# figure: these scenarios run `plan.repeats` times, each on a fresh server, and each of
# their figures is the median.
REPEATED = frozenset({scenarios.floor_adds, scenarios.adds_watched, scenarios.adds_watched_plain})


def run(plan: Plan, log: Callable[[str], None]) -> Results:
    results: Results = {"floor": {}, "naive": {}, "ours": {}}
    with tempfile.TemporaryDirectory(prefix="task-dashboard-bench-") as tmp:
        workdir = Path(tmp)
        for kind, scenario in RUNS:
            began = time.monotonic()
            samples = []
            for _ in range(plan.repeats if scenario in REPEATED else 1):
                with start(kind, workdir) as server:
                    samples.append(scenario(server, plan))
            results[kind].update(
                {key: statistics.median(s[key] for s in samples) for key in samples[0]}
            )
            log(f"{kind:>5} {scenario.__name__:<13} {time.monotonic() - began:5.1f} s")
        for kind, figures in scenarios.startup(("floor", "ours"), plan, workdir).items():
            results[kind].update(figures)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    plan = QUICK if args.quick else Plan()
    print(f"machine: {machine()}", flush=True)
    results = run(plan, lambda line: print(line, file=sys.stderr, flush=True))
    text, all_hold = table(results, plan)
    print(text)
    print("every target holds" if all_hold else "SOME TARGETS DO NOT HOLD")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
