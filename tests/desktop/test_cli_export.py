"""`task-dashboard export` against a real instance: the history on stdout, as asked."""

from __future__ import annotations

import csv
import io
import json

from desktop_app.client import InstanceClient
from desktop_app.hosting import Hosted
from tests.desktop.conftest import run
from web.settings import Settings


def test_export_writes_the_history_in_each_format(running: Hosted, capsys) -> None:
    client = InstanceClient(running.server.url, Settings().token_path.read_text().strip())
    ids = [client.add(3600, name=f"job {i}")["task_id"] for i in range(3)]
    client.cancel(ids[0])

    code, out, _ = run(capsys, "export", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [r["task_id"] for r in rows] == ids[::-1]
    assert rows[-1]["status"] == "cancelled"

    code, out, _ = run(capsys, "export", "--status", "cancelled")  # JSON by default
    assert code == 0
    assert [t["task_id"] for t in json.loads(out)] == [ids[0]]

    code, out, _ = run(capsys, "export", "--format", "ndjson", "--search", "JOB 2")
    assert [json.loads(line)["task_id"] for line in out.splitlines()] == [ids[2]]


def test_a_refused_export_says_why(running: Hosted, capsys) -> None:
    code, out, err = run(capsys, "export", "--status", "finished")
    assert (code, out) == (1, "")
    assert "unknown status 'finished'" in err
