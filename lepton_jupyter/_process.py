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
