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
