"""Ending every process a job started, grandchildren included.

A rank's DataLoader workers, its ``subprocess`` calls and anything they start belong to the
job too. Where this machine lets us make a cgroup (v2), the job's supervisor runs in one of
its own and the cgroup is killed whole; everywhere, processes are also swept by the job's
identity: every process whose environment carries the job's ``LEPTON_JOB_DIR`` (inherited
by everything a rank starts) or whose command line names the job folder.

Standard library only: the supervisor uses it before torch is imported, and ranks import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from .folder import ancestors, job_processes

PR_SET_PDEATHSIG = 1
CGROUP_FILE = "cgroup"


def die_with_parent() -> None:
    """Have the kernel SIGKILL this process when its parent dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def exit_with(work: Callable[[], int]) -> NoReturn:
    """End a forked child with what ``work`` returns (1, and the traceback, when it
    raises), flushing its output and never returning into the parent's frames."""
    code = 1
    try:
        code = work()
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class JobCgroup:
    """A cgroup v2 of one job, under the cgroup of the process that makes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, job_id: str, job_dir: Path) -> JobCgroup | None:
        """Make the job's cgroup and note it in the job folder; None where cgroups v2 are
        absent or not delegated to this user (then the sweep alone ends the job)."""
        try:
            mount = _cgroup2_mount()
            with open("/proc/self/cgroup") as f:
                own = next(line.split("::", 1)[1].strip() for line in f if line.startswith("0::"))
            path = mount / own.lstrip("/") / f"lepton-{job_id}"
            path.mkdir()
            (job_dir / CGROUP_FILE).write_text(str(path))
        except (OSError, StopIteration):
            return None
        return cls(path)

    @classmethod
    def of(cls, job_dir: str | Path) -> JobCgroup | None:
        """The job's cgroup, as the job folder notes it, if it still exists."""
        try:
            path = Path((Path(job_dir) / CGROUP_FILE).read_text().strip())
        except OSError:
            return None
        return cls(path) if (path / "cgroup.procs").exists() else None

    def add(self, pid: int) -> bool:
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
        except OSError:
            return False
        return True

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (``cgroup.kill``, Linux 5.14+; else each)."""
        try:
            (self.path / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, timeout: float = 10.0) -> None:
        """Remove the (emptied) cgroup; it can only go once its last process has."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                self.kill()
                time.sleep(0.05)


def _cgroup2_mount() -> Path:
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return Path(parts[1])
    raise OSError("no cgroup2 mount")


def end_job_processes(job_dir: str | Path, timeout: float = 10.0) -> list[int]:
    """SIGKILL every process of the job at ``job_dir`` but the caller and its ancestors;
    return those that outlived ``timeout`` seconds (none, unless another user's)."""
    marker = str(job_dir)
    cgroup = JobCgroup.of(job_dir)
    deadline = time.monotonic() + timeout
    while True:
        if cgroup is not None and not (set(cgroup.pids()) & ancestors()):
            cgroup.kill()
        left = job_processes(marker)
        if not left or time.monotonic() > deadline:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    if cgroup is not None and not (set(cgroup.pids()) & ancestors()):
        cgroup.remove(timeout=1.0)
    return left
