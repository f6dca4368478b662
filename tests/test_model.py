"""The state machine: every legal and every illegal status change."""

from __future__ import annotations

import itertools

import pytest

from web.tasks.model import (
    FINAL_STATUSES,
    TRANSITIONS,
    IllegalTransition,
    Task,
    TaskStatus,
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


def test_public_object_has_the_contract_keys_and_iso_times() -> None:
    task = transition(make(S.QUEUED), S.RUNNING, started_at=1_800_000_000.5)
    assert set(task.public) == {
        "task_id", "name", "kind", "duration", "status", "progress", "priority",
        "created_at", "run_at", "started_at", "finished_at", "error", "params", "after", "retry_of",
        "queue_position",
    }  # fmt: skip
    assert task.public["started_at"] == "2027-01-15T08:00:00.500Z"
    assert task.public["finished_at"] is None
