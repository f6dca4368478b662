"""Fuzzed API: schemathesis against the app's own OpenAPI schema, on a real server.

Every operation gets generated valid and invalid requests; every answer must be a non-5xx
whose status code, content type, headers and body are documented in the schema. The
server is a real uvicorn on 127.0.0.1 with auth on; stopping it at the end cancels every
task the fuzzer started. RELIABILITY_FUZZ_EXAMPLES sets the examples per operation.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from tests.conftest import TOKEN, LiveServer
from web import stats
from web.app import create_app
from web.schemas import AddTask
from web.settings import Settings

EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "25"))
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CASES: Counter[str] = Counter()  # requests sent per operation, for the figures


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    live = Settings(data_dir=root / "data", log_dir=root / "logs", token=TOKEN, port=0)
    server = LiveServer(live).start()
    yield server
    server.stop()
    print(f"fuzzed {sum(CASES.values())} cases over {len(CASES)} operations")


# The schema the server publishes at /openapi.json, taken from an app that is built but not
# started (no I/O at collection time); the requests go to the live server.
schema = schemathesis.openapi.from_dict(create_app(Settings(data_dir=Path("unused"))).openapi())

RUNS_PROGRAMS = {"command"}  # never let the fuzzer start a real program
TIMER_FIELDS = set(AddTask.model_json_schema()["properties"])


@schema.hook
def map_case(_context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """`kind` and `after` name things the server holds (a registered kind, existing tasks),
    which a schema cannot list: valid requests use the timer and no dependencies."""
    if case.operation.label == "GET /stats":
        return _one_stats_window(case)
    if case.operation.label == "PUT /settings" and isinstance(case.body, dict):
        # Never a cluster: the fuzzer would have the server connect to made-up hosts or
        # start up to 64 worker processes (tests/cluster/ test that on purpose). An invalid
        # request stays invalid (a value refused whatever else the body holds).
        positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
        for key, refused in (("executor", "nowhere"), ("scheduler", "no address")):
            if key in case.body:
                if positive:
                    del case.body[key]
                else:
                    case.body[key] = refused
        return case
    if case.operation.label != "POST /tasks/add" or not isinstance(case.body, dict):
        return case
    body = case.body
    if case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE:
        body.pop("executor", None)  # this server has no cluster: "dask" is refused (422)
        if body.get("kind", "timer") != "timer":
            for key in set(body) - TIMER_FIELDS:
                del body[key]  # the other kind's parameters
            body["kind"] = "timer"
            body.setdefault("duration", 0.5)
        if body.get("after"):
            body["after"] = []
    elif isinstance(body.get("kind"), str) and body["kind"] in RUNS_PROGRAMS:
        body["kind"] = "timer"
    return case


def _one_stats_window(case: schemathesis.Case) -> schemathesis.Case:
    """A bucket longer than the range, or more buckets than a chart has pixels, is refused
    (422) however valid each of the two is alone: valid requests that pair them so take
    the range's own bucket instead."""
    query = case.query
    positive = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
    if positive and isinstance(query, dict) and query.get("bucket"):
        try:
            stats.Window.of(query.get("range", "day"), query["bucket"], now=0)
        except stats.StatsError:
            del query["bucket"]
    return case


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_survives_fuzzing(
    case: schemathesis.Case, fuzzed_server: LiveServer
) -> None:
    CASES[case.operation.label] += 1
    case.call_and_validate(base_url=fuzzed_server.url, headers=AUTH)
