"""A start reads only the newest part of the history before it answers and pages the older
part in behind it (web/tasks/ledger.py, Paging). While it comes in, what needs it waits
for it and everything else answers as it would; once in, the history is whole and in the
order the tasks were added."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from websockets.sync.client import connect

from bench.history import write_history
from tests.conftest import LiveServer
from tests.engine_rig import Rig
from web.clock import settle
from web.realtime import SNAPSHOT_TASKS
from web.settings import Settings, SettingsError
from web.store import Store, StoreError
from web.tasks.engine import NewTask
from web.tasks.errors import TaskNotFound
from web.tasks.listing import Wanted
from web.tasks.model import TaskConflict, TaskStatus

pytestmark = pytest.mark.anyio
S = TaskStatus
WINDOW = 4


@pytest.fixture
def held_paging(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Paging in waits (in the writer's thread) until the test sets the event."""
    go = threading.Event()
    read = Store.load_finished

    def held(store: Store, *args: object, **kwargs: object) -> list:
        assert go.wait(timeout=30), "the test never let paging go on"
        return read(store, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "load_finished", held)
    yield go
    go.set()


async def history(rig: Rig) -> list[str]:
    """Twelve tasks, oldest first: finished ones, with waiting ones among the old ones
    (one runs after an old finished task and waits for its start time too)."""
    ids = []
    for i in range(12):
        if i == 3:
            spec = NewTask(duration=1, name="waits", delay=3600, after=(ids[0],))
        elif i == 5:
            spec = NewTask(duration=1, name="later", delay=7200)
        else:
            spec = NewTask(duration=0.5, name=f"done {i}")
        ids.append((await rig.engine.add(spec)).task_id)
        await rig.clock.advance(0.6)
    return ids


async def test_a_start_answers_from_the_newest_part_and_pages_in_the_rest(
    make_rig: Callable, held_paging: threading.Event
) -> None:
    rig = await make_rig(history_window=WINDOW)
    ids = await history(rig)
    newest_first = [t.task_id for t in rig.engine.all_tasks()]
    counts = rig.engine.counts()
    rig = await rig.restart()
    engine = rig.engine

    # The older part is not read yet; counts and totals are whole, the newest page is there.
    assert engine.counts() == counts
    page, total = engine.listing.page(Wanted(limit=WINDOW))
    assert total == 12
    assert [json.loads(t)["task_id"] for t in page] == newest_first[:WINDOW]
    assert engine.listing.needs_history(Wanted(limit=WINDOW + 1))
    assert engine.listing.needs_history(Wanted(frozenset([S.COMPLETED]), limit=1))
    assert engine.listing.needs_history(Wanted(limit=1, query="done"))
    live, live_total = engine.listing.page(Wanted(frozenset([S.SCHEDULED]), limit=100))
    assert live_total == 2
    assert [json.loads(t)["task_id"] for t in live] == [ids[5], ids[3]]
    # What needs an old task waits for it: none answers "unknown" meanwhile.
    found = asyncio.ensure_future(engine.find(ids[1]))
    retried = asyncio.ensure_future(engine.retry(ids[2]))
    cancelled = asyncio.ensure_future(engine.cancel(ids[4]))
    after_old = asyncio.ensure_future(engine.add(NewTask(duration=1, after=(ids[6],))))
    await settle()
    assert not any(f.done() for f in (found, retried, cancelled, after_old))

    held_paging.set()
    assert (await found).status is S.COMPLETED
    assert (await retried).retry_of == ids[2]
    with pytest.raises(TaskConflict):
        await cancelled
    assert (await after_old).status is S.RUNNING  # its dependency completed long ago
    # Whole, and in the order the tasks were added (the waiting ones among the old ones).
    listed = [t.task_id for t in engine.all_tasks()]
    assert set(listed[:2]) == {(await after_old).task_id, (await retried).task_id}
    assert listed[2:] == newest_first
    finished = {i for i in ids if engine.get(i).status.is_final}
    # (Kept: what the two waiting tasks run after.)
    assert set(await engine.clear_finished()) == finished - {ids[0], ids[6]}
    with pytest.raises(TaskNotFound):
        await engine.find(ids[1])
    # The waiting task's old dependency was read at start: it ran when its time came
    # (an unknown one would have failed it).
    await rig.clock.advance(3600)
    assert engine.get(ids[3]).status is S.COMPLETED
    await rig.close()


async def test_a_history_shorter_than_the_window_is_read_whole(make_rig: Callable) -> None:
    rig = await make_rig(history_window=WINDOW)
    for i in range(WINDOW - 1):
        await rig.engine.add(NewTask(duration=0.5, name=f"done {i}"))
        await rig.clock.advance(0.6)
    rig = await rig.restart()
    assert rig.engine._ledger.paging is None
    assert not rig.engine.listing.needs_history(Wanted(frozenset([S.COMPLETED])))
    assert rig.engine.listing.page(Wanted())[1] == WINDOW - 1
    await rig.close()


def test_the_api_answers_from_the_newest_part_and_waits_for_the_rest(
    settings: Settings, held_paging: threading.Event
) -> None:
    write_history(settings.db_path, 1000)  # bench/history.py: old000000 .. old000999
    server = LiveServer(replace(settings, history_window=200), writer_in_thread=True).start()
    try:
        with server.client() as http, ThreadPoolExecutor(2) as pool:
            one = pool.submit(http.get, "/tasks/old000005")
            found = pool.submit(http.get, "/tasks/status", params={"search": "nightly 7"})
            # Meanwhile: the newest page, the counts, the snapshot and new tasks.
            page = http.get("/tasks/status", params={"limit": 100}).json()
            assert page["total"] == 1000 and page["counts"]["failed"] == 100
            assert page["tasks"][0]["task_id"] == "old000999"
            with connect(server.ws_url, additional_headers=server.headers) as ws:
                snapshot = json.loads(ws.recv(timeout=10))
            assert snapshot["total"] == 1000 and len(snapshot["tasks"]) == 200
            assert not one.done() and not found.done()  # they wait for the older part
            held_paging.set()
            assert one.result().json()["name"] == "nightly 5"  # not a 404
            assert found.result().json()["total"] == 111  # 7, 70-79, 700-799
            assert (
                http.get("/tasks/status", params={"offset": 999}).json()["tasks"][0]["task_id"]
                == "old000000"
            )
    finally:
        held_paging.set()
        server.stop()


async def test_a_history_that_cannot_be_read_answers_503_until_it_can(
    make_rig: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = await make_rig(history_window=WINDOW)
    ids = await history(rig)
    read = Store.load_finished
    failures = [StoreError("task database: disk I/O error (injected)")]

    def failing_once(store: Store, *args: object, **kwargs: object) -> list:
        if failures:
            raise failures.pop()
        return read(store, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "load_finished", failing_once)
    rig = await rig.restart()
    with pytest.raises(StoreError, match="disk I/O error"):
        await rig.engine.find(ids[1])
    assert rig.engine.listing.page(Wanted(limit=WINDOW))[1] == 12  # the rest answers as before
    # Asked again, it reads on from where it stopped.
    assert (await rig.engine.find(ids[1])).status is S.COMPLETED
    assert len(rig.engine.all_tasks()) == 12
    await rig.close()


def test_a_read_that_fails_is_a_store_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "tasks.db")
    store.close()
    with pytest.raises(StoreError, match=r"tasks\.db"):
        store.load_finished()
    with pytest.raises(StoreError, match=r"tasks\.db"):
        store.load_opening(newest=10)


def test_the_window_holds_at_least_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="history_window must be at least 200"):
        Settings(data_dir=tmp_path, history_window=SNAPSHOT_TASKS - 1)
