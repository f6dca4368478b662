"""`python -m bench.binary_startup [--binary PATH] [--runs N]`: the PyInstaller binary's figures.

- size on disk of dist/TaskDashboard (built by scripts/build-binary);
- exec to the first HTTP 200 of `serve`, the binary against `python -m desktop_app serve`
  started in the same run (interleaved, one warm-up each, medians), and their ratio;
- exec to the window's page being loaded (needs a display, e.g. xvfb-run), binary against
  `python -m desktop_app`, through the app's test hooks (TASK_DASHBOARD_TEST_HOOKS=1).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.procs import start

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BINARY = ROOT / "dist" / "TaskDashboard" / "TaskDashboard"
PYTHON_M = [sys.executable, "-m", "desktop_app"]


def size_on_disk(folder: Path) -> tuple[int, int]:
    """(bytes in files, bytes of disk blocks used), like `du --apparent-size` and `du`."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), sum(p.stat().st_blocks * 512 for p in files)


def serve_start(launcher: list[str], workdir: Path) -> float:
    with start("ours", workdir, launcher=launcher) as server:
        return server.started_in


def page_loaded(launcher: list[str], workdir: Path, timeout: float = 30) -> float:
    """Seconds from exec to the window's `loaded` event; then the window is closed."""
    home = Path(tempfile.mkdtemp(dir=workdir))
    env = {**os.environ, "TASK_DASHBOARD_HOME": str(home), "TASK_DASHBOARD_TEST_HOOKS": "1"}
    env["BROWSER"] = "true"  # with no window backend the fallback must open no browser
    began = time.perf_counter()
    proc = subprocess.Popen(
        launcher,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        deadline = began + timeout
        while (left := deadline - time.perf_counter()) > 0:
            line = lines.get(timeout=left)
            if line.startswith("{") and json.loads(line).get("event") == "loaded":
                loaded = time.perf_counter() - began
                proc.stdin.write(json.dumps({"id": 1, "cmd": "close"}) + "\n")
                proc.stdin.flush()
                if proc.wait(15) != 0:
                    raise RuntimeError(f"{launcher[0]} exited with {proc.returncode}")
                return loaded
        raise TimeoutError
    except (queue.Empty, TimeoutError):
        raise RuntimeError(f"{launcher}: no page loaded within {timeout} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(5)


def compare(
    measure: Callable[[list[str], Path], float], binary: Path, runs: int, workdir: Path
) -> tuple[float, float]:
    """Median seconds for (binary, python -m), interleaved so both see the same machine."""
    times: dict[str, list[float]] = {"binary": [], "python": []}
    for run in range(runs + 1):
        for kind, launcher in (("binary", [str(binary)]), ("python", PYTHON_M)):
            took = measure(launcher, workdir)
            if run:  # run 0 warms the page cache and the .pyc files
                times[kind].append(took)
    return statistics.median(times["binary"]), statistics.median(times["python"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    args = parser.parse_args(argv)
    if not args.binary.is_file():
        parser.error(f"no {args.binary}: build it first with scripts/build-binary")

    apparent, used = size_on_disk(args.binary.parent)
    print(
        f"binary folder {args.binary.parent}: {apparent / 1e6:.1f} MB in files, "
        f"{used / 1e6:.1f} MB on disk"
    )
    with tempfile.TemporaryDirectory(prefix="task-dashboard-binary-") as tmp:
        frozen, python = compare(serve_start, args.binary, args.runs, Path(tmp))
        print(
            f"exec to first 200 of serve (median of {args.runs}): binary {frozen * 1000:.0f} ms,"
            f" python -m desktop_app {python * 1000:.0f} ms, ratio {frozen / python:.2f}"
        )
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            print("window: skipped, no display (run under xvfb-run)")
            return 0
        frozen, python = compare(page_loaded, args.binary, args.runs, Path(tmp))
        print(
            f"exec to window page loaded (median of {args.runs}): binary {frozen:.2f} s,"
            f" python -m desktop_app {python:.2f} s, ratio {frozen / python:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
