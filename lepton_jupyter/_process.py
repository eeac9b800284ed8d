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


#: ``PF_EXITING`` in /proc/PID/stat's flags: the process is being torn down (killed).
_PF_EXITING = 0x4


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (the state first); None when
    there is no such process; OSError where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()
    except FileNotFoundError:
        return None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live, non-zombie process (where /proc is; else that it exists).

    A killed child its parent has not reaped yet is a zombie: dead for every purpose here.
    """
    try:
        fields = _stat(pid)
    except OSError:
        return pid_exists(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def pid_ending(pid: int) -> bool:
    """Whether ``pid`` is ending: being torn down (its command line already reads empty)
    or ended and not collected by its parent yet (a zombie). False without /proc."""
    try:
        fields = _stat(pid)
    except OSError:
        return False
    return fields is not None and (fields[0] == "Z" or bool(int(fields[6]) & _PF_EXITING))


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


def ended_child(pid: int, flags: int = 0) -> int | None:
    """How the child ``pid`` ended, as ``Popen.returncode`` says it (negative: killed by
    that signal), leaving it uncollected: a zombie until its parent waits for it, which
    readers take for "its parent is recording how it ended". With ``os.WNOHANG`` in
    ``flags``, None while it runs."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | flags)
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
