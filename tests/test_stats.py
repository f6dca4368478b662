"""GET /stats against a history built through the API, with the engine's clock in the
test's hands: exact counts per bucket, the ranges, the list's filters, an empty history,
and what a bad range or bucket gets (422)."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from desktop_app.server import ServerThread, bind_socket
from tests.browser.seed import history_task, store_tasks
from tests.conftest import TOKEN
from tests.waiting import until
from web.app import create_app
from web.clock import ManualClock
from web.settings import Settings
from web.tasks.model import Task
from web.tasks.search import fold

EDGES = [1, 5, 15, 60, 300, 900, 3600, 14400]  # the duration classes' edges
T0 = 1_800_000_000.0  # a whole minute and a whole hour (not a whole day)
MINUTE = T0 // 60


class Rig:
    """A real server whose clock the test moves (on the server's own loop)."""

    def __init__(self, client: httpx.Client, clock: ManualClock, server: ServerThread) -> None:
        self.client, self.clock = client, clock
        self.loop = server.server.servers[0].get_loop()

    def add(self, **body: object) -> str:
        response = self.client.post("/tasks/add", json=body)
        assert response.status_code == 201, response.text
        return response.json()["task_id"]

    def advance(self, seconds: float) -> None:
        asyncio.run_coroutine_threadsafe(self.clock.advance(seconds), self.loop).result(30)

    def stats(self, **query: str) -> dict:
        response = self.client.get("/stats", params=query)
        assert response.status_code == 200, response.text
        return response.json()

    def status(self, task_id: str) -> str:
        return self.client.get(f"/tasks/{task_id}").json()["status"]


@pytest.fixture
def rig(settings: Settings) -> Iterator[Rig]:
    with serve(settings) as rig:
        yield rig


@contextmanager
def serve(settings: Settings) -> Iterator[Rig]:
    """A server on the data dir of `settings` (and the history already in it)."""
    clock = ManualClock(start=T0)
    app = create_app(settings, clock=clock)
    server = ServerThread(app, bind_socket("127.0.0.1", 0))
    server.start()
    # Each step of the clock also waits for the writes it set off (they land in the file
    # GET /stats reads).
    clock.also_wait = app.state.engine.idle
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"http://127.0.0.1:{server.port}"
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            yield Rig(client, clock, server)
    finally:
        server.stop()


@pytest.fixture
def history(rig: Rig) -> dict[str, str]:
    """At T0: `a` (30 s) and `b` (90 s) start, `c` fails at once; `d` waits for its delay.
    At T0+90: `a` and `b` have completed, `d` is cancelled, `e` starts (and runs on)."""
    ids = {
        "a": rig.add(duration=30, name="alpha job"),
        "b": rig.add(duration=90, name="beta job"),
        "c": rig.add(kind="command", command=["sh", "-c", "exit 3"], name="gamma job"),
        "d": rig.add(duration=5, delay=600, name="delta job"),
    }
    until(lambda: rig.status(ids["c"]) == "failed", what="the command to fail")
    rig.advance(30)
    assert rig.status(ids["a"]) == "completed"
    rig.advance(60)
    assert rig.status(ids["b"]) == "completed"
    rig.client.post("/tasks/cancel", json={"task_id": ids["d"]})
    ids["e"] = rig.add(duration=3600, name="epsilon job")
    return ids


def test_last_hour_by_minute_counts_each_bucket_exactly(rig: Rig, history: dict) -> None:
    stats = rig.stats(range="hour")
    assert (stats["range"], stats["bucket"], stats["bucket_seconds"]) == ("hour", "minute", 60)
    assert stats["now"] == T0 + 90
    # Sixty whole minutes, the last one the minute "now" is in.
    assert len(stats["times"]) == 60
    assert stats["times"][-1] == T0 + 60
    assert stats["times"][0] == T0 + 60 - 59 * 60
    series = stats["series"]
    zeros = [0] * 58
    assert series["started"] == [*zeros, 3, 1]  # a, b, c; then e (d never started)
    assert series["completed"] == [*zeros, 1, 1]  # a at T0+30, b at T0+90
    assert series["failed"] == [*zeros, 1, 0]  # c
    assert series["cancelled"] == [*zeros, 0, 1]  # d
    assert series["interrupted"] == [0] * 60
    # c ran no time at all, a 30 s, b 90 s; d never ran.
    assert stats["durations"] == {
        "edges": [1, 5, 15, 60, 300, 900, 3600, 14400],
        "counts": [1, 0, 0, 1, 1, 0, 0, 0, 0],
        "count": 3,
    }
    assert stats["statuses"] == {
        "scheduled": 0, "queued": 0, "running": 1, "paused": 0,
        "completed": 2, "cancelled": 1, "failed": 1, "interrupted": 0,
    }  # fmt: skip


def test_ranges_and_buckets(rig: Rig, history: dict) -> None:
    day = rig.stats(range="day")
    assert (day["bucket"], len(day["times"])) == ("hour", 24)
    assert day["times"][-1] == T0  # T0 is a whole hour
    assert day["series"]["started"][-1] == 4
    assert sum(day["series"]["started"]) == 4

    week = rig.stats(range="week")
    assert (week["bucket"], len(week["times"])) == ("hour", 168)
    assert rig.stats(range="week", bucket="day")["series"]["completed"][-1] == 2

    everything = rig.stats(range="all")
    assert everything["bucket"] == "day"
    assert everything["times"] == [T0 // 86400 * 86400]  # one day: the history's only one
    assert everything["series"]["started"] == [4]
    by_minute = rig.stats(range="all", bucket="minute")
    assert by_minute["times"] == [T0, T0 + 60]
    assert by_minute["series"]["completed"] == [1, 1]

    # Two hours on, the last hour holds nothing; the day still holds everything.
    rig.advance(2 * 3600)
    later = rig.stats(range="hour")
    assert later["series"]["started"] == [0] * 60
    assert later["statuses"]["completed"] == 0
    assert later["durations"]["count"] == 0  # e ended at T0+3690, before this hour's minutes
    day = rig.stats(range="day")
    assert sum(day["series"]["started"]) == 4
    assert day["series"]["completed"][-3:] == [2, 1, 0]  # a and b; then e, in the next hour


def test_the_lists_filters_apply(rig: Rig, history: dict) -> None:
    done = rig.stats(range="hour", status="completed")
    assert done["series"]["started"][-2:] == [2, 0]  # a and b, which completed since
    assert done["series"]["failed"][-2:] == [0, 0]
    assert done["statuses"]["completed"] == 2
    assert sum(done["statuses"].values()) == 2

    command = rig.stats(range="hour", kind="command")
    assert command["series"]["failed"][-2:] == [1, 0]
    assert command["series"]["started"][-2:] == [1, 0]
    assert command["durations"]["counts"][0] == 1

    named = rig.stats(range="hour", search="ALPHA")  # any case, as the search box
    assert named["series"]["completed"][-2:] == [1, 0]
    assert rig.stats(range="hour", search=history["b"][:8])["series"]["completed"][-2:] == [0, 1]
    assert sum(rig.stats(range="hour", search="nobody")["series"]["started"]) == 0


RANGES = [
    {"range": "hour"},
    {"range": "day"},
    {"range": "day", "bucket": "minute"},
    {"range": "week", "bucket": "day"},
    {"range": "all"},
    {"range": "all", "bucket": "minute"},
]


def test_the_counts_follow_the_history_after_the_first_request(rig: Rig, history: dict) -> None:
    # The server counts a copy of the history's columns (web/columns.py), read from the
    # file on the first request; each later one first takes in what changed since: new
    # tasks, tasks that were running and have ended, tasks that were cleared.
    before = rig.stats(range="hour")
    assert before["statuses"]["running"] == 1  # e
    rig.add(duration=10, name="zeta job")  # f, at T0+90: in the last minute, with e
    rig.advance(10)
    after = rig.stats(range="hour")
    assert after["series"]["started"][-2:] == [3, 2]  # e and f
    assert after["series"]["completed"][-2:] == [1, 2]  # b, then f
    assert after["durations"]["counts"] == [1, 0, 1, 1, 1, 0, 0, 0, 0]  # f ran 10 s
    assert after["statuses"]["completed"] == 3

    removed = rig.client.delete("/tasks/finished").json()["removed"]
    assert removed == 5  # all but e
    cleared = rig.stats(range="hour")
    assert cleared["series"]["started"][-2:] == [0, 1]  # e alone
    assert sum(cleared["series"]["completed"]) == 0
    assert cleared["durations"]["count"] == 0
    assert cleared["statuses"] == {**dict.fromkeys(cleared["statuses"], 0), "running": 1}

    rig.add(duration=5, name="eta job")  # after a clear, new tasks count again
    rig.advance(5)
    again = rig.stats(range="hour", search="ETA")
    assert again["series"]["started"][-1] == 1
    assert again["series"]["completed"][-1] == 1
    assert again["durations"]["counts"][2] == 1  # 5 s: at least 5, less than 15
    assert rig.stats(range="hour")["statuses"]["running"] == 1  # e runs on

    rig.advance(3600)  # e, held as running since the first request, ends at T0+3690
    ended = rig.stats(range="hour")
    assert ended["series"]["completed"][-1] == 1
    assert ended["durations"]["counts"] == [0, 0, 0, 0, 0, 0, 0, 1, 0]  # 3600 s
    assert sum(ended["statuses"].values()) == 0  # it was added before this hour
    assert rig.stats(range="day")["statuses"]["completed"] == 2  # e and eta


def kept(task: Task, status: str = "", kind: str = "", search: str = "") -> bool:
    """Whether the list's filters keep a task, as the API documents them."""
    query = fold(search.strip())
    return (
        (not status or task.status.value in status.split(","))
        and (not kind or task.kind in kind.split(","))
        and (not query or query in fold(task.name) or task.task_id.lower().startswith(query))
    )


def test_the_filters_together_keep_what_each_keeps(settings: Settings) -> None:
    # Statuses, kinds and a search, alone and together, over tasks of three kinds and
    # four ends, checked against the tasks the filters keep, counted the slow way.
    tasks = [
        dataclasses.replace(
            history_task(i, T0 - 3000, 10), kind=("timer", "command", "hash")[i % 3]
        )
        for i in range(200)
    ]
    store_tasks(settings.db_path, tasks)
    with serve(settings) as rig:
        for status in ("", "failed,cancelled", "completed"):
            for kind in ("", "command", "timer,hash", "nothing"):
                for search in ("", "backup", "#1", tasks[7].task_id[:3].upper()):
                    query = {"status": status, "kind": kind, "search": search}
                    filters = {k: v for k, v in query.items() if v}
                    for window in ({"range": "hour"}, {"range": "day", "bucket": "minute"}):
                        stats = rig.stats(**window, **filters)
                        found = [t for t in tasks if kept(t, **query)]
                        assert {k: stats[k] for k in ("series", "durations", "statuses")} == (
                            counted(found, stats)
                        ), (window, filters)


# Names a search could get wrong: case beyond ASCII, letters whose lower case is ASCII,
# what SQL LIKE reads as wildcards, what JSON escapes.
TRICKY = [
    "Été à Zürich", "ete without accents", "ÉTÉ", "50% off", "5000 rows", "snake_case",
    "snakeXcase", 'say "Hi"', "back\\slash", "Kelvin \u212a", "İstanbul",
    "istanbul", "straße", "STRASSE", "Ωmega", "x", "",
]  # fmt: skip
QUERIES = [
    "été", "ÉTÉ", "ete", "é", "É", "e", "E", "t", "x", "a", "1", "ta", "50%", "%", "_", "e_c",
    "%o", "\\", '"', '"hi"', "\t", "ss", "ß", "k", "\u212a", "i", "İ", "ω", " ZÜ ",
]  # fmt: skip


def test_a_search_finds_what_the_lists_search_finds(rig: Rig) -> None:
    # One task a minute: each one's start is a bucket of its own, so the series says
    # exactly which tasks the search found.
    minute = {}
    for i, name in enumerate(TRICKY):
        minute[rig.add(duration=1, name=name)] = i
        rig.advance(60)
    ids = list(minute)
    by_id = [ids[0][:1], ids[1][:2], ids[2][:6].upper()]  # ids are searched too
    for query in QUERIES + by_id:
        listed = rig.client.get("/tasks/status", params={"search": query, "limit": 100}).json()
        expected = [0] * 60
        for task in listed["tasks"]:
            expected[minute[task["task_id"]] + 59 - len(TRICKY)] = 1
        stats = rig.stats(range="hour", search=query)
        assert stats["series"]["started"] == expected, (query, listed["tasks"])
        assert stats["series"]["completed"] == expected, query
        assert sum(stats["statuses"].values()) == listed["total"], query
    found = rig.stats(range="hour", search="ÉTÉ")["series"]["started"]
    assert sum(found) == 2  # "Été à Zürich" and "ÉTÉ": accents count, case does not
    assert sum(rig.stats(range="hour", search="%")["series"]["started"]) == 1  # "50% off"


def counted(tasks: list[Task], stats: dict) -> dict:
    """What GET /stats should answer for `tasks`, found the slow way: each time's bucket
    by comparing it with the answer's bucket edges, each run's class by its edges."""
    size, starts = stats["bucket_seconds"], stats["times"]

    def bucket(time: float) -> int | None:
        return next((i for i, start in enumerate(starts) if start <= time < start + size), None)

    series = {name: [0] * len(starts) for name in stats["series"]}
    classes = [0] * (len(EDGES) + 1)
    statuses = dict.fromkeys(stats["statuses"], 0)
    for task in tasks:
        if task.started_at is not None and (i := bucket(task.started_at)) is not None:
            series["started"][i] += 1
        if task.finished_at is not None and (i := bucket(task.finished_at)) is not None:
            series[task.status.value][i] += 1
            ran = task.finished_at - task.started_at
            if ran >= 0:
                classes[sum(ran >= edge for edge in EDGES)] += 1
        if bucket(task.created_at) is not None:
            statuses[task.status.value] += 1
    durations = {"edges": EDGES, "counts": classes, "count": sum(classes)}
    return {"series": series, "durations": durations, "statuses": statuses}


def test_times_at_an_edge_count_in_the_bucket_that_begins_there(settings: Settings) -> None:
    # The server buckets a time by its whole seconds (web/columns.py); the contract is
    # the comparison start <= time < start + size. Times just below, at and just above a
    # minute, hour and day edge, and runs just short of a class edge, or negative (an end
    # before a start), must count where the comparisons put them.
    day = T0 // 86400 * 86400  # 8 hours before T0
    times = [
        t
        for edge in (T0 - 600, T0 - 3600, day)
        for t in (math.nextafter(edge, 0), edge, math.nextafter(edge, math.inf))
    ]
    runs = [math.nextafter(1, 0), 1, 14.999999, 59.9999999, 3600, -0.5]
    tasks = [
        dataclasses.replace(history_task(i, 0), created_at=at, started_at=at, finished_at=at + ran)
        for i, (at, ran) in enumerate((at, ran) for at in times for ran in runs)
    ]
    store_tasks(settings.db_path, tasks)
    with serve(settings) as rig:
        for query in [*RANGES, {"range": "day", "bucket": "hour"}]:
            stats = rig.stats(**query)
            assert {k: stats[k] for k in ("series", "durations", "statuses")} == counted(
                tasks, stats
            ), query
            # Every name in the history has a "#" (history_task): the search finds all.
            assert rig.stats(**query, search="#") == stats, query
        by_minute = rig.stats(range="hour")["series"]["started"]
        assert by_minute[-12:-9] == [len(runs), 2 * len(runs), 0]  # the edge at T0 - 600


def test_an_empty_history(rig: Rig) -> None:
    stats = rig.stats(range="all")
    assert stats["times"] == [T0 // 86400 * 86400]
    assert all(values == [0] for values in stats["series"].values())
    assert stats["durations"]["counts"] == [0] * 9
    assert set(stats["statuses"].values()) == {0}
    assert rig.stats()["range"] == "day"  # the default


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"range": "year"}, "Input should be 'hour', 'day', 'week' or 'all'"),
        ({"bucket": "second"}, "Input should be 'minute', 'hour' or 'day'"),
        ({"range": "hour", "bucket": "day"}, "a bucket of one day is longer than the range"),
        ({"range": "week", "bucket": "minute"}, "ask for a longer bucket"),
        ({"status": "done"}, "unknown status 'done'"),
    ],
)
def test_bad_range_or_bucket_is_422(rig: Rig, query: dict, says: str) -> None:
    response = rig.client.get("/stats", params=query)
    assert response.status_code == 422
    assert says in str(response.json()["detail"])


def test_a_start_does_not_import_numpy() -> None:
    # numpy takes ~90 ms to import: web/stats.py imports it (web/tally.py) on the first
    # GET /stats. What a start imports (the CLI, the server, the app) must not pull it in.
    modules = "desktop_app.cli, desktop_app.hosting, desktop_app.server, web.app, web.stats"
    probe = f"import sys; import {modules}; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
