"""How the dashboard copes with a big history: first render, scrolling through it, then a
stream of live updates.

Runs the real server and the system Chromium twice, with 100 and with 100,000 tasks in the
store, and prints the big run's figures next to the 100-task run of the same invocation (so
the machine's speed shows). Scrolling moves the page `--step` pixels every frame for 4 s
(100: about two rows a frame, 100 rows a second; the list pages from the server as it
goes); "rows loading" is the share of those frames that showed a row still waiting for its
page. The 100-task page reaches its end within the first second and idles after that.

    .venv/bin/python bench/dashboard_render.py [--tasks 100000] [--stream 300] [--step 100]
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

# Frame gaps and long tasks (> 50 ms main-thread blocks) seen over `ms` milliseconds, while
# the page scrolls `step` pixels a frame (0: not at all).
MEASURE_FRAMES = """([ms, step]) => new Promise((done) => {
  let long = 0;
  const observer = new PerformanceObserver((list) => { long += list.getEntries().length; });
  observer.observe({ type: "longtask" });
  const gaps = [];
  let loading = 0;
  let last = performance.now();
  const end = last + ms;
  requestAnimationFrame(function tick(t) {
    gaps.push(t - last);
    last = t;
    if (step) {
      if (document.querySelector("#task-rows [data-placeholder]")) loading += 1;
      window.scrollBy(0, step);
    }
    if (t < end) return requestAnimationFrame(tick);
    observer.disconnect();
    gaps.sort((a, b) => a - b);
    done({ fps: gaps.length / (ms / 1000), p95: gaps[Math.floor(gaps.length * 0.95)],
           worst: gaps[gaps.length - 1], long, loading: (100 * loading) / gaps.length });
  });
})"""


def run(browser: Browser, tasks: int, stream: int, step: int) -> dict[str, float]:
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
            # Scrolling starts a second later, as a person would: the page has just loaded
            # (kinds, fonts, the first pages ahead) and is still busy for a moment.
            page.wait_for_timeout(1000)
            scrolling = page.evaluate(MEASURE_FRAMES, [4000, step])
            page.evaluate("window.scrollTo(0, 0)")
            # Start measuring in the page, then feed it a burst of short tasks: each one is
            # added, reports progress ~4 times a second and completes within the window.
            page.evaluate(f"window.__frames = ({MEASURE_FRAMES})([6000, 0])")
            with server.client() as client:
                for i in range(stream):
                    client.post("/tasks/add", json={"duration": 2 + i % 3, "name": f"burst {i}"})
            frames = page.evaluate("window.__frames")
            scrolled = {f"scroll_{key}": value for key, value in scrolling.items()}
            return {"render_ms": render_ms, **scrolled, **frames}
        finally:
            context.close()
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--stream", type=int, default=300, help="tasks added during the run")
    parser.add_argument("--step", type=int, default=100, help="pixels scrolled per frame")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        run(browser, BASELINE, 0, args.step)  # warm-up: browser caches, Python imports
        small = run(browser, BASELINE, args.stream, args.step)
        big = run(browser, args.tasks, args.stream, args.step)
        browser.close()
    print(f"{'':>24} {BASELINE:>10,} {args.tasks:>10,}   ratio")
    rows = [
        ("first render (ms)", "render_ms"),
        ("frames/s scrolling", "scroll_fps"),
        ("p95 gap scrolling (ms)", "scroll_p95"),
        ("worst gap scrolling (ms)", "scroll_worst"),
        ("long tasks scrolling", "scroll_long"),
        ("rows loading (% frames)", "scroll_loading"),
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
