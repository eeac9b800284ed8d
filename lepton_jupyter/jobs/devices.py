"""Which devices a job's ranks get, and which process-group backend each device talks over.

Decided in one place, as plain functions, so the GPU rules are tested on machines without a
GPU. Standard library only: every rank imports this module before torch.

* A job has ``gpus`` GPUs per node (0: a CPU job, whose ranks see no GPU at all).
* Rank ``local_rank`` uses GPU ``local_rank % gpus`` of the ones the job sees.
* The process group is per device: ``cpu:gloo,cuda:nccl`` where the rank sees CUDA, so CPU
  tensors (a DDP over a CPU model, a barrier) use gloo and CUDA tensors NCCL; ``gloo``
  elsewhere. ``dist_backend=`` overrides it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

CPU_BACKEND = "gloo"
PER_DEVICE_BACKEND = "cpu:gloo,cuda:nccl"
#: Backends of ``torch.distributed`` and the device types a per-device spec may name.
KNOWN_BACKENDS = ("gloo", "nccl", "mpi", "ucc")
KNOWN_DEVICE_TYPES = ("cpu", "cuda")
VISIBLE_ENV = "CUDA_VISIBLE_DEVICES"


class DeviceError(ValueError):
    """A job's devices or backend do not fit together; the message says how to fix it."""


def check_dist_backend(value: str) -> str:
    """``value`` if it is a backend ``init_process_group`` takes (``gloo``, ``nccl``,
    ``cpu:gloo,cuda:nccl``...), else DeviceError naming what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise DeviceError(f"dist_backend must be a backend name such as 'gloo', got {value!r}.")
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 1 and ":" not in parts[0]:
        if parts[0] not in KNOWN_BACKENDS:
            raise DeviceError(
                f"Unknown dist_backend {value!r}; one of {', '.join(KNOWN_BACKENDS)} "
                f"or per device, as {PER_DEVICE_BACKEND!r}."
            )
        return parts[0]
    seen = set()
    for part in parts:
        device, sep, backend = part.partition(":")
        if not sep or device not in KNOWN_DEVICE_TYPES or backend not in KNOWN_BACKENDS:
            raise DeviceError(
                f"dist_backend {value!r}: {part!r} is not DEVICE:BACKEND with DEVICE one of "
                f"{', '.join(KNOWN_DEVICE_TYPES)} and BACKEND one of {', '.join(KNOWN_BACKENDS)}."
            )
        if device in seen:
            raise DeviceError(f"dist_backend {value!r} names {device!r} twice.")
        seen.add(device)
    return ",".join(parts)


def needs_cuda(backend: str) -> bool:
    """Whether a process group on ``backend`` only works with GPUs (NCCL has no CPU path)."""
    return any(part.rsplit(":", 1)[-1] == "nccl" for part in backend.split(","))


def process_group_backend(requested: str | None, cuda_available: bool) -> str:
    """The backend a rank initialises: the requested one, else per device where CUDA is."""
    if requested:
        return requested
    return PER_DEVICE_BACKEND if cuda_available else CPU_BACKEND


def check_gpu_job(nprocs: int, gpus: int, dist_backend: str | None, where: str) -> None:
    """Refuse, before anything starts, a job whose ranks could not all get a GPU for NCCL,
    or that asks for NCCL with no GPU. ``where`` names the machine or the Slurm option."""
    backend = dist_backend or (PER_DEVICE_BACKEND if gpus else CPU_BACKEND)
    if needs_cuda(backend) and gpus == 0:
        raise DeviceError(
            f"dist_backend {backend!r} needs GPUs, and this job has none ({where}). "
            f"Give it GPUs (gpus=N), or use dist_backend='gloo' for a CPU job."
        )
    if needs_cuda(backend) and nprocs > gpus:
        raise DeviceError(
            f"nprocs={nprocs} ranks on {gpus} GPU(s) per node ({where}): NCCL needs one GPU "
            f"per rank. Use nprocs={gpus}, give the job {nprocs} GPUs, or run it on CPU "
            f"(gpus=0)."
        )


def rank_device(local_rank: int, gpus: int | None, cuda_count: int) -> int | None:
    """The CUDA device index rank ``local_rank`` sets, or None for a CPU rank.

    ``gpus`` is what the job was given (None: a job from before GPUs were counted, which
    uses every visible one); ``cuda_count`` what torch sees in this rank. Raises DeviceError
    when the job was given GPUs the rank cannot see.
    """
    if gpus == 0:
        return None
    if cuda_count == 0:
        if gpus is None:
            return None
        raise DeviceError(
            f"This job was given {gpus} GPU(s) per node ({VISIBLE_ENV}="
            f"{os.environ.get(VISIBLE_ENV, '<unset>')!r}), but torch in this rank sees no CUDA "
            f"device. Is this a CPU build of torch, or a node without GPUs?"
        )
    return local_rank % min(gpus or cuda_count, cuda_count)


def rank_backend(requested: str | None, device: int | None, gpus: int | None) -> str:
    """The process-group backend of a rank that uses ``device`` (None: CPU)."""
    backend = process_group_backend(requested, device is not None)
    if needs_cuda(backend) and device is None:
        raise DeviceError(
            f"dist_backend {backend!r} needs a GPU, and this rank has none "
            f"(the job has {gpus or 0} GPU(s) per node)."
        )
    return backend


def device_env(gpus: int | None, devices: list[str]) -> dict[str, str]:
    """What a job's processes must see of the GPUs: only its own, none for a CPU job.

    A job whose engine allocates its GPUs (Slurm; ``gpus`` > 0 with no devices listed) is
    left to the engine's ``CUDA_VISIBLE_DEVICES``.
    """
    if gpus == 0:
        return {VISIBLE_ENV: ""}
    if devices:
        return {VISIBLE_ENV: ",".join(devices)}
    return {}


def visible_gpus() -> list[str]:
    """The GPUs this machine lets this process use: ``CUDA_VISIBLE_DEVICES`` when set (its
    ids, as given), else every GPU ``nvidia-smi`` lists; [] without an NVIDIA driver.

    Asked without torch, so launching a job never creates a CUDA context in the kernel.
    """
    given = os.environ.get(VISIBLE_ENV)
    if given is not None:
        # CUDA stops at the first id it cannot parse; "-1" or "" hides every GPU.
        ids = []
        for part in given.split(","):
            part = part.strip()
            if not part or part.startswith("-"):
                break
            ids.append(part)
        return ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listed = subprocess.run(
            [smi, "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listed.returncode != 0:
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


def threads_per_rank(cpus: int, nprocs: int) -> int:
    """OMP/MKL threads per rank: the node's CPUs split between its ranks, at least one.

    The Slurm batch script computes the same in bash from ``SLURM_CPUS_PER_TASK``.
    """
    return max(1, cpus // max(1, nprocs))


def thread_env(nprocs: int, env: dict[str, str]) -> dict[str, str]:
    """``OMP_NUM_THREADS`` for a local job's ranks, unless ``env`` (the job's, then the
    launcher's) already sets it: what the Slurm batch script exports too."""
    if "OMP_NUM_THREADS" in env or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(threads_per_rank(usable_cpus(), nprocs))}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which Slurm and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1
