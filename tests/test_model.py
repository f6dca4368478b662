"""The state machine: every legal and every illegal status change; the task's JSON."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from web.tasks.model import (
    FINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    Task,
    TaskStatus,
    finished_task,
    transition,
)

S = TaskStatus
LEGAL = {
    (S.SCHEDULED, S.QUEUED), (S.SCHEDULED, S.CANCELLED), (S.SCHEDULED, S.FAILED),
    (S.QUEUED, S.RUNNING), (S.QUEUED, S.CANCELLED), (S.QUEUED, S.FAILED),
    (S.RUNNING, S.COMPLETED), (S.RUNNING, S.CANCELLED), (S.RUNNING, S.FAILED),
    (S.RUNNING, S.INTERRUPTED), (S.RUNNING, S.PAUSED),
    (S.PAUSED, S.QUEUED), (S.PAUSED, S.CANCELLED),
}  # fmt: skip


def make(status: TaskStatus) -> Task:
    return Task(task_id="t1", name="n", kind="timer", duration=1.0, status=status, created_at=0.0)


def test_table_is_exactly_the_documented_one() -> None:
    table = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == LEGAL


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transition(source: TaskStatus, target: TaskStatus) -> None:
    task = transition(make(source), target, error="why")
    assert task.status is target
    assert task.error == "why"


ILLEGAL = sorted(set(itertools.product(S, S)) - LEGAL)


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_raises(source: TaskStatus, target: TaskStatus) -> None:
    with pytest.raises(IllegalTransition) as info:
        transition(make(source), target)
    assert info.value.task.status is source


def test_final_statuses_have_no_way_out() -> None:
    assert {s for s in S if not TRANSITIONS[s]} == FINAL_STATUSES
    assert all(s.is_final for s in FINAL_STATUSES)


def test_refusal_says_the_task_is_already_finished() -> None:
    with pytest.raises(IllegalTransition, match="t1 is already completed"):
        transition(make(S.COMPLETED), S.CANCELLED)


def contract_object(task: Task, queue_position: int | None = None) -> dict[str, Any]:
    """The task object as the API contract spells it, built the plain way."""

    def iso(ts: float | None) -> str | None:
        if ts is None:
            return None
        text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")

    return {
        "task_id": task.task_id,
        "name": task.name,
        "kind": task.kind,
        "duration": task.duration,
        "status": task.status.value,
        "progress": round(task.progress, 4),
        "priority": task.priority,
        "created_at": iso(task.created_at),
        "run_at": iso(task.run_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "error": task.error,
        "params": task.params,
        "after": list(task.after),
        "retry_of": task.retry_of,
        "elapsed": task.elapsed,
        "executor": task.executor,
        "worker": task.worker,
        "queue_position": queue_position,
    }


def test_task_json_has_the_contract_keys_and_iso_times() -> None:
    task = transition(make(S.QUEUED), S.RUNNING, started_at=1_800_000_000.5)
    public = json.loads(task.to_json())
    assert list(public) == list(contract_object(task))
    assert public["started_at"] == "2027-01-15T08:00:00.500Z"
    assert public["finished_at"] is None
    assert json.loads(task.to_json(queue_position=3))["queue_position"] == 3
    named = dataclasses.replace(task, name='Café ☕ "q"')
    assert '"name":"Café ☕ \\"q\\""'.encode() in named.to_json(), "UTF-8 as it is"


# From year 1 to year 9999: run_at may be any time datetime can hold.
times = st.none() | st.floats(min_value=-62_135_596_800, max_value=253_402_300_000)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
tasks = st.builds(
    Task,
    task_id=st.text(min_size=1),
    name=st.text(),
    kind=st.text(min_size=1),
    # A kind's `duration` parameter may be of any type; the timer's is a float.
    duration=st.none() | st.floats(allow_nan=False, allow_infinity=False) | json_values,
    status=st.sampled_from(TaskStatus),
    created_at=st.floats(min_value=0, max_value=4e9),
    params=st.dictionaries(st.text(), json_values, max_size=4),
    progress=st.floats(min_value=0, max_value=1),
    priority=st.integers(min_value=-1000, max_value=1000),
    run_at=times,
    started_at=times,
    finished_at=times,
    error=st.none() | st.text(),
    after=st.lists(st.text(min_size=1), max_size=3).map(tuple),
    retry_of=st.none() | st.text(min_size=1),
    elapsed=st.floats(min_value=0, max_value=1e9),
    executor=st.sampled_from(["local", "dask"]),
    worker=st.none() | st.text(min_size=1),
)


@given(tasks, st.none() | st.integers(min_value=1, max_value=10**6))
def test_task_json_is_the_contract_object_whatever_it_holds(
    task: Task, queue_position: int | None
) -> None:
    assert json.loads(task.to_json(queue_position)) == contract_object(task, queue_position)


@pytest.mark.parametrize(
    "ts",
    [
        *(0.0, 1e-7, 1.0000004, 1.9995, 1.9999996, 1_800_000_000.9999995, 1_700_000_000.0004999),
        *(-1e-7, -0.9995, -30_610_224_000.25, -62_135_596_800.0),  # before 1970, years < 1000
    ],
)
def test_times_round_like_datetime_at_the_edges(ts: float) -> None:
    task = dataclasses.replace(make(S.COMPLETED), finished_at=ts)
    assert json.loads(task.to_json())["finished_at"] == contract_object(task)["finished_at"]


def test_half_a_surrogate_pair_is_escaped_not_lost() -> None:
    task = Task(
        task_id="t1", name="bad \udcff", kind="timer", duration=1.0, status=S.FAILED,
        created_at=0.0, error="also \ud800", params={"k": ["\udfff"]},
    )  # fmt: skip
    assert json.loads(task.to_json()) == contract_object(task)


@given(tasks)
def test_a_finished_task_comes_back_from_its_json(task: Task) -> None:
    """Memory and the history keep a finished task as its JSON; it comes back the same,
    as the API shows it."""
    final = dataclasses.replace(task, status=S.COMPLETED)
    again = finished_task(final.to_json())
    assert again.to_json() == final.to_json()
    assert (again.params, again.after, again.elapsed) == (final.params, final.after, final.elapsed)
