"""Windows: a job object that ends every process in it when its last handle closes.

Windows has no process groups to signal and no PR_SET_PDEATHSIG. What it has is the job
object: with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, closing the job's last handle (which the
kernel does when the process holding it exits, even when it is killed) terminates every
process in the job. A process started by a member joins the job too, so the supervisor
puts itself in a new job before it starts the command: the command and everything it
starts are members from their first instruction, with no window to escape in.

Only used on Windows (web/tasks/supervisor.py). The kernel32 functions are passed in, so
the structure layout and the calls can be checked on any platform; the real behaviour
can only be checked on Windows.
"""

from __future__ import annotations

import ctypes
from typing import Any

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS = 9  # JobObjectExtendedLimitInformation


class IO_COUNTERS(ctypes.Structure):  # the Windows SDK names
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class JOBOBJECT_BASIC_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),  # LARGE_INTEGER
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),  # DWORD
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),  # ULONG_PTR
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class JOBOBJECT_EXTENDED_LIMIT_INFORMATION(ctypes.Structure):
    _fields_ = [
        ("BasicLimitInformation", JOBOBJECT_BASIC_LIMIT_INFORMATION),
        ("IoInfo", IO_COUNTERS),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class JobError(OSError):
    pass


# Windows keeps the error code of the last failed call per thread; elsewhere there is none.
_last_error = getattr(ctypes, "get_last_error", lambda: 0)


def kernel32() -> Any:
    """The real functions (Windows only), typed: an untyped HANDLE would be cut to 32 bits."""
    from ctypes import wintypes

    api = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    signatures = {
        "CreateJobObjectW": (wintypes.HANDLE, (ctypes.c_void_p, wintypes.LPCWSTR)),
        "SetInformationJobObject": (
            wintypes.BOOL,
            (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD),
        ),
        "AssignProcessToJobObject": (wintypes.BOOL, (wintypes.HANDLE, wintypes.HANDLE)),
        "GetCurrentProcess": (wintypes.HANDLE, ()),
        "CloseHandle": (wintypes.BOOL, (wintypes.HANDLE,)),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(api, name)
        function.restype, function.argtypes = restype, argtypes
    return api


def join_new_job(api: Any) -> int:
    """Put the calling process in a new kill-on-close job; returns the job's handle, which
    must stay open for as long as the process lives (it closes at exit, ending the job)."""
    job = api.CreateJobObjectW(None, None)
    if not job:
        raise JobError(_last_error(), "CreateJobObjectW failed")
    info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION()
    info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    if not api.SetInformationJobObject(
        job, JOB_OBJECT_EXTENDED_LIMIT_INFORMATION_CLASS, ctypes.byref(info), ctypes.sizeof(info)
    ):
        error = _last_error()
        api.CloseHandle(job)
        raise JobError(error, "SetInformationJobObject failed")
    if not api.AssignProcessToJobObject(job, api.GetCurrentProcess()):
        error = _last_error()
        api.CloseHandle(job)
        raise JobError(error, "AssignProcessToJobObject failed")
    return job
