"""The Windows job object, checked where it can be on Linux: the structure the kernel reads
and the calls made. A fake kernel32 stands in for the real one, which only Windows has;
that the job really ends a process tree is for a Windows machine to show."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import pytest

from web.tasks import winjob

JOB, ME = 0x1234, -1  # GetCurrentProcess() returns the pseudo-handle -1


@dataclass
class FakeKernel32:
    fail: str | None = None
    calls: list[tuple] = field(default_factory=list)
    flags: int | None = None

    def CreateJobObjectW(self, attributes: object, name: object) -> int:
        self.calls.append(("CreateJobObjectW", attributes, name))
        return 0 if self.fail == "CreateJobObjectW" else JOB

    def SetInformationJobObject(self, job: int, info_class: int, info: object, size: int) -> int:
        self.calls.append(("SetInformationJobObject", job, info_class, size))
        limits = ctypes.cast(info, ctypes.POINTER(winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION))
        self.flags = limits.contents.BasicLimitInformation.LimitFlags
        return 0 if self.fail == "SetInformationJobObject" else 1

    def AssignProcessToJobObject(self, job: int, process: int) -> int:
        self.calls.append(("AssignProcessToJobObject", job, process))
        return 0 if self.fail == "AssignProcessToJobObject" else 1

    def GetCurrentProcess(self) -> int:
        return ME

    def CloseHandle(self, handle: int) -> int:
        self.calls.append(("CloseHandle", handle))
        return 1


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="sizes are for 64-bit Windows")
def test_structures_have_the_sizes_of_64_bit_windows() -> None:
    # From the Windows SDK: what SetInformationJobObject checks the length against.
    assert ctypes.sizeof(winjob.IO_COUNTERS) == 48
    assert ctypes.sizeof(winjob.JOBOBJECT_BASIC_LIMIT_INFORMATION) == 64
    assert ctypes.sizeof(winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 144


def test_the_process_joins_a_job_that_kills_on_close() -> None:
    api = FakeKernel32()
    assert winjob.join_new_job(api) == JOB
    size = ctypes.sizeof(winjob.JOBOBJECT_EXTENDED_LIMIT_INFORMATION)
    assert api.calls == [
        ("CreateJobObjectW", None, None),
        ("SetInformationJobObject", JOB, 9, size),  # JobObjectExtendedLimitInformation
        ("AssignProcessToJobObject", JOB, ME),
    ]
    assert api.flags == winjob.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    # Kept open: closing it would end the job, and with it this process.
    assert ("CloseHandle", JOB) not in api.calls


@pytest.mark.parametrize("failing", ["SetInformationJobObject", "AssignProcessToJobObject"])
def test_a_failed_step_closes_the_job_and_says_which(failing: str) -> None:
    api = FakeKernel32(fail=failing)
    with pytest.raises(winjob.JobError, match=failing):
        winjob.join_new_job(api)
    assert api.calls[-1] == ("CloseHandle", JOB)


def test_no_job_no_handle_to_close() -> None:
    api = FakeKernel32(fail="CreateJobObjectW")
    with pytest.raises(winjob.JobError, match="CreateJobObjectW"):
        winjob.join_new_job(api)
    assert api.calls == [("CreateJobObjectW", None, None)]
