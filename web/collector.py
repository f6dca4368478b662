"""Garbage-collector settings for a process that hosts the engine.

With thousands of tasks alive, CPython's default collector took a fifth of the add path
(bench/). Two changes: gc.freeze() moves what start-up made (the app's modules and
classes, hundreds of thousands of objects alive until exit) out of every later collection;
and a larger young generation means fewer young collections, so fewer objects of requests
still in flight survive one and are promoted; promotions are what grow the old generation
until it triggers a full collection, which walks every task. Cycles are still collected.

Start-up makes little else: importing FastAPI, pydantic and the app, and loading the
history, leave a few hundred objects of garbage among some 65,000 that live until exit, yet
the collector walked them about 150 times on the way (some 70 ms of a 700 ms start of
`serve`). So `serve` pauses it for its start-up, and it resumes as everything is frozen.

(The GIL's switch interval was shortened too, while the database's writer was a thread of
this process that every add waited for; it has a process of its own now: web/writer.py.)
"""

from __future__ import annotations

import functools
import gc

YOUNG_THRESHOLD = 20_000  # the older generations keep their defaults


def pause_for_start_up() -> None:
    """First thing in a process that will serve the app and exit if it cannot (`serve`, in
    desktop_app/cli.py): no collection until tune_for_serving() resumes them."""
    gc.disable()


@functools.cache  # once per process: the settings are the process's, not an app's
def tune_for_serving() -> None:
    """Called once the app has started, in a process that serves it (web/app.py)."""
    gc.freeze()  # with start-up's garbage, if the collector was paused: a few hundred objects
    gc.set_threshold(YOUNG_THRESHOLD)
    gc.enable()
