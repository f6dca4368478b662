"""The PyInstaller binary, built once per test session from this checkout into a fresh folder.

Building takes about half a minute, so every binary test shares one build. A build that
fails is a test failure, never a skip; only a missing PyInstaller skips, and not in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "TaskDashboard"


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.fixture(scope="session")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/TaskDashboard/TaskDashboard, built by build.spec into an empty temporary dir."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        if in_ci():
            pytest.fail("CI must build the binary: PyInstaller is missing from the dev extras")
        pytest.skip("PyInstaller is not installed: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("binary")
    log = out / "build.log"
    with log.open("w") as sink:
        build = subprocess.run(
            [
                *(sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean"),
                *("--distpath", str(out / "dist"), "--workpath", str(out / "build")),
                str(ROOT / "build.spec"),
            ],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            timeout=600,  # a hang guard; it takes about 30 s
        )
    if build.returncode != 0:
        pytest.fail(f"pyinstaller build.spec failed:\n{log.read_text()[-4000:]}")
    path = out / "dist" / NAME / (f"{NAME}.exe" if sys.platform == "win32" else NAME)
    assert path.is_file(), f"the build made no {path}"
    return path
