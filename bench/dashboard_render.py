"""How the dashboard copes with a big history: first render, then a stream of live updates.

Runs the real server and the system Chromium twice, with 100 and with 10,000 tasks in the
store, and prints the 10,000-task figures as ratios against the 100-task run of the same
invocation (so the machine's speed cancels out).

    .venv/bin/python bench/dashboard_render.py [--tasks 10000] [--stream 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.seed import seed_history
from tests.conftest import TOKEN, LiveServer
from web.settings import Settings

BASELINE = 100

# Frame gaps and long tasks (> 50 ms main-thread blocks) seen over `ms` milliseconds.
MEASURE_FRAMES = """(ms) => new Promise((done) => {
  let long = 0;
  const observer = new PerformanceObserver((list) => { long += list.getEntries().length; });
  observer.observe({ type: "longtask" });
  const gaps = [];
  let last = performance.now();
  const end = last + ms;
  requestAnimationFrame(function tick(t) {
    gaps.push(t - last);
    last = t;
    if (t < end) return requestAnimationFrame(tick);
    observer.disconnect();
    gaps.sort((a, b) => a - b);
    done({ fps: gaps.length / (ms / 1000), p95: gaps[Math.floor(gaps.length * 0.95)],
           worst: gaps[gaps.length - 1], long });
  });
})"""


def run(browser: Browser, tasks: int, stream: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", log_dir=Path(tmp) / "logs", token=TOKEN)
        seed_history(settings.db_path, tasks)
        server = LiveServer(settings).start()
        # bypass_csp: wait_for_function evaluates its predicate as a string, which the
        # page's CSP (no unsafe-eval) refuses; the page itself needs no exemption.
        context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        try:
            page = context.new_page()
            page.goto(f"{server.url}/dashboard?token={TOKEN}")
            page.wait_for_function("performance.getEntriesByName('tasks-rendered').length > 0")
            render_ms = page.evaluate(
                "performance.getEntriesByName('tasks-rendered')[0].startTime"
                " - performance.getEntriesByType('navigation')[0].responseEnd"
            )
            # Start measuring in the page, then feed it a burst of short tasks: each one is
            # added, reports progress ~4 times a second and completes within the window.
            page.evaluate(f"window.__frames = ({MEASURE_FRAMES})(6000)")
            with server.client() as client:
                for i in range(stream):
                    client.post("/tasks/add", json={"duration": 2 + i % 3, "name": f"burst {i}"})
            frames = page.evaluate("window.__frames")
            return {"render_ms": render_ms, **frames}
        finally:
            context.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--stream", type=int, default=300, help="tasks added during the run")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        run(browser, BASELINE, 0)  # warm-up: browser caches, Python imports
        small = run(browser, BASELINE, args.stream)
        big = run(browser, args.tasks, args.stream)
        browser.close()
    print(f"{'':>24} {BASELINE:>10,} {args.tasks:>10,}   ratio")
    rows = [
        ("first render (ms)", "render_ms"),
        ("frames/s under updates", "fps"),
        ("p95 frame gap (ms)", "p95"),
        ("worst frame gap (ms)", "worst"),
        ("long tasks (>50 ms)", "long"),
    ]
    for label, key in rows:
        ratio = f"{big[key] / small[key]:5.2f}x" if small[key] else "    -"
        print(f"{label:>24} {small[key]:>10.1f} {big[key]:>10.1f}   {ratio}")


if __name__ == "__main__":
    main()
