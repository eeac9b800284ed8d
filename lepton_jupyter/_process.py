"""Process checks shared by the job supervisor and the registry's publish recovery.

Standard library only: job ranks import it before torch.
"""

from __future__ import annotations

import os


def pid_exists(pid: int) -> bool:
    """Whether a process with this PID exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live, non-zombie process (where /proc is; else that it exists).

    A killed child its parent has not reaped yet is a zombie: dead for every purpose here.
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:
        return pid_exists(pid)


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None if there is none.

    With the pid it names one process: a pid the OS reused later has another start time.
    """
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def process_alive(pid: int, started: float | None) -> bool:
    """Whether the process that was ``pid`` and started at ``started`` still runs (a zombie
    does not; ``started`` None: any process with that pid counts)."""
    import psutil

    if not pid_alive(pid):
        return False
    try:
        return started is None or abs(psutil.Process(pid).create_time() - started) < 0.01
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True
