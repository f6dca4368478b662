"""Finding the running instance: `instance.json`, and the lock that allows only one engine.

The engine's process holds `instance.lock` in the data dir for as long as it runs; the OS
drops the lock when that process dies, however it dies, so a crash never blocks the next
start. Once the server answers, the process writes `instance.json` (URL, port, pid, token
file) for the CLI and for a second launch to find it. A file whose pid is gone is stale
and ignored; the next engine overwrites it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

LOCK_NAME = "instance.lock"


@dataclass(frozen=True)
class Instance:
    url: str
    port: int
    pid: int
    # None when the instance runs without auth (--no-auth).
    token_path: str | None
    version: str

    def token(self) -> str | None:
        """Read from the token file each time, never copied into instance.json."""
        if self.token_path is None:
            return None
        return Path(self.token_path).read_text().strip()

    def dashboard_url(self) -> str:
        """The signed-in URL: the first load sets the cookie and redirects to a clean URL."""
        token = self.token()
        query = f"?token={quote(token)}" if token else ""
        return f"{self.url}/dashboard{query}"


def publish(path: Path, instance: Instance) -> None:
    """Write atomically (readers never see half a file), private from birth: it names the
    token file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(instance), fh, indent=2)
    os.replace(tmp, path)


def withdraw(path: Path, pid: int) -> None:
    """Remove the file only if it still names `pid`: never another instance's file."""
    found = _load(path)
    if found is not None and found.pid == pid:
        path.unlink(missing_ok=True)


def read(path: Path) -> Instance | None:
    """The running instance, or None: no file, an unreadable one, its process is gone, or
    nobody holds the engine lock (the pid was reused by an unrelated process)."""
    found = _load(path)
    if found is None or not pid_alive(found.pid) or not lock_held(path.parent):
        return None
    return found


def lock_held(data_dir: Path) -> bool:
    """Whether some process holds the engine lock of data_dir (True when unsure)."""
    try:
        handle = open(data_dir / LOCK_NAME, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        _lock(handle)
    except OSError:
        return True
    finally:
        handle.close()  # closing drops a lock we took
    return False


def wait_for(path: Path, timeout: float) -> Instance | None:
    """For a second launch while the engine's process is still starting its server."""
    deadline = time.monotonic() + timeout
    while (found := read(path)) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # a deadline poll: the file is written by another process
    return found


def _load(path: Path) -> Instance | None:
    try:
        return Instance(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _windows_pid_alive(pid: int) -> bool:
    # os.kill(pid, 0) would *terminate* the process on Windows: ask the kernel instead.
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    query_limited_information, still_active, access_denied = 0x1000, 259, 5
    handle = kernel32.OpenProcess(query_limited_information, False, pid)
    if not handle:
        return ctypes.get_last_error() == access_denied  # type: ignore[attr-defined]
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and (
            code.value == still_active
        )
    finally:
        kernel32.CloseHandle(handle)


class EngineLock:
    """One engine per data dir. Non-blocking: acquire() says whether we got it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the engine's lifetime
        try:
            _lock(handle)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[bytes]) -> None:
        # flock, not fcntl record locks: a second open in the same process conflicts too.
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
