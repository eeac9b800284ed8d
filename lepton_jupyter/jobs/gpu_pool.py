"""The GPUs of this machine, shared out between concurrent local jobs.

Each device has a lock file in a folder every user of the machine shares. ``launch()``
takes a job's devices by locking their files (``flock``, exclusive; shared for jobs that
ask to share); the job's supervisor inherits the locks and holds them for the job's life,
and the kernel drops them when the last process holding them ends, however it ends. So two
jobs never get the same GPU unless both asked to share it, and a crashed job frees its
GPUs without anyone cleaning up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import Conflict

#: Where the lock files live; one folder per machine, for every user (tests set their own).
LOCK_DIR_ENV = "LEPTON_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = "/tmp/lepton-gpus"


def lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)


@dataclass
class GpuClaim:
    """Devices a job took, and the open lock files that hold them."""

    devices: list[str] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)

    def release(self) -> None:
        """Close this process's hold (a supervisor that inherited the files keeps them)."""
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = []


def _lock_file(folder: Path, device: str) -> int:
    name = "gpu-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in device) + ".lock"
    path = folder / name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except PermissionError:  # another user's file, made before a umask allowed 0666
        return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o666)
    return fd


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if text:
            return text
    return "another job"


def claim_gpus(candidates: list[str], count: int, job_id: str, shared: bool = False) -> GpuClaim:
    """Take ``count`` of ``candidates`` (in order) that no other job holds; Conflict naming
    the holders when too few are free. ``shared`` takes them alongside other sharing jobs."""
    if count == 0:
        return GpuClaim()
    folder = lock_dir()
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            folder.chmod(0o1777)  # every user's jobs lock here; nobody deletes another's
    claim = GpuClaim()
    busy = []
    mode = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    for device in candidates:
        if len(claim.devices) == count:
            break
        fd = _lock_file(folder, device)
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            busy.append(f"GPU {device} ({_holder(fd)})")
            os.close(fd)
            continue
        if not shared:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"job {job_id}, user {os.getuid()}\n".encode(), 0)
        claim.devices.append(device)
        claim.fds.append(fd)
    if len(claim.devices) < count:
        free = len(claim.devices)
        claim.release()
        raise Conflict(
            f"The job needs {count} GPU(s); {free} of {len(candidates)} ({', '.join(candidates)})"
            f" are free: {'; '.join(busy)} in use. Wait for a job to end, ask for fewer "
            f"(gpus=N), or share devices with share_gpus=True."
        )
    return claim
