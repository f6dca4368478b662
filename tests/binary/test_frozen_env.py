"""web/frozen.py: what the bundle put in the environment is taken out for programs we start.
(No build needed: a frozen process is faked with sys.frozen and sys._MEIPASS.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from web.frozen import outside_environment

BUNDLE = "/opt/TaskDashboard/_internal"
INSIDE = {
    "PATH": "/usr/bin:/bin",
    "LD_LIBRARY_PATH": BUNDLE,
    "XDG_DATA_DIRS": f"{BUNDLE}/share:/usr/local/share/:/usr/share/",
    "GI_TYPELIB_PATH": f"{BUNDLE}/gi_typelibs",
    "GDK_PIXBUF_MODULE_FILE": "/tmp/tmpabc123",
    "GTK_PATH": BUNDLE,
    "_PYI_ARCHIVE_FILE": "/opt/TaskDashboard/TaskDashboard",
    "_PYI_PARENT_PROCESS_LEVEL": "1",
}


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", BUNDLE, raising=False)


def test_outside_a_bundle_nothing_changes() -> None:
    assert outside_environment(INSIDE) == INSIDE


@pytest.mark.usefixtures("frozen")
def test_the_bundle_entries_go_and_the_users_stay() -> None:
    assert outside_environment(INSIDE) == {
        "PATH": "/usr/bin:/bin",
        "XDG_DATA_DIRS": "/usr/local/share/:/usr/share/",
    }


@pytest.mark.usefixtures("frozen")
def test_the_users_library_path_comes_back(tmp_path: Path) -> None:
    mine = str(tmp_path / "lib")
    env = {**INSIDE, "LD_LIBRARY_PATH": f"{BUNDLE}:{mine}", "LD_LIBRARY_PATH_ORIG": mine}
    assert outside_environment(env)["LD_LIBRARY_PATH"] == mine
    # A nested frozen process (the task supervisor) sees the bundle in *_ORIG too.
    nested = {**env, "LD_LIBRARY_PATH_ORIG": f"{BUNDLE}:{mine}"}
    assert outside_environment(nested)["LD_LIBRARY_PATH"] == mine
    assert "LD_LIBRARY_PATH_ORIG" not in outside_environment(nested)
