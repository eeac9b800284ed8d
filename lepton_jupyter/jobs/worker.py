"""One rank of a job: ``python -m lepton_jupyter.jobs.worker <job_dir>``.

Started by the elastic agent (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR/PORT are set by
it): forked from the local agent (:func:`forked_rank`), or a fresh interpreter per rank
under torchrun on a Slurm node. Sends its output to ``logs/rank-N.log``, sets up the
process group (function targets), runs the target, and leaves rank 0's return value or
this rank's traceback in the job folder. A rank that raises exits at once so the agent
tears the others down within its monitor interval instead of waiting on a collective.
"""

from __future__ import annotations

import io
import os
import runpy
import sys
import traceback
from typing import Any

from . import devices
from .folder import JobFolder, set_process_title
from .reaping import die_with_parent

MODULE = "lepton_jupyter.jobs.worker"


def _redirect_output(folder: JobFolder, rank: int) -> None:
    log = os.open(folder.rank_log(rank), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _run_target(spec: dict[str, Any], folder: JobFolder) -> Any:
    kind = spec["kind"]
    if kind == "script":
        sys.argv = [spec["target"], *spec["script_args"]]
        sys.path.insert(0, os.path.dirname(os.path.abspath(spec["target"])))
        runpy.run_path(str(folder.script), run_name="__main__")
        return None
    import cloudpickle

    with folder.target.open("rb") as f:
        payload = cloudpickle.load(f)
    function = payload["function"]
    if function is None:  # "module:function", imported here by name
        import importlib

        module, _, attr = spec["target"].partition(":")
        function = importlib.import_module(module)
        for part in attr.split("."):
            function = getattr(function, part)
    return function(*payload["args"], **payload["kwargs"])


def _init_process_group(backend: str, rank: int) -> None:
    """``init_process_group`` on the agent's store, under a prefix per elastic attempt.

    torch keeps the agent's store across elastic restarts, so the keys of a failed attempt
    would hand a restarted rank its peers' old addresses (gloo: "Connection refused");
    a fresh prefix per attempt makes ``max_restarts`` work.
    """
    import torch.distributed as dist

    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        dist.init_process_group(backend)
        return
    world_size = int(os.environ["WORLD_SIZE"])
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size, is_master=False
    )
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(
        backend,
        store=dist.PrefixStore(f"lepton/attempt-{attempt}", store),
        rank=rank,
        world_size=world_size,
    )


def _fail(folder: JobFolder, rank: int) -> None:
    """Leave the traceback for ``Job.wait()`` and the monitor, and exit without waiting on
    peers (a destroy_process_group here could block on ranks stuck in a collective)."""
    folder.rank_error(rank).write_text(traceback.format_exc())
    traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _setup_process_group(spec: dict[str, Any], rank: int) -> None:
    """Pick this rank's device (set it) and its process group's backend, then initialise
    the group: inside the rank's error handling, so a missing GPU reads as a traceback."""
    import torch

    cuda_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = spec.get("gpus")
    device = devices.rank_device(int(os.environ["LOCAL_RANK"]), gpus, cuda_count)
    if device is not None:
        torch.cuda.set_device(device)
    _init_process_group(devices.rank_backend(spec.get("dist_backend"), device, gpus), rank)


def _ignore_second_init() -> None:
    """Let a script whose group is ready still call ``init_process_group`` (as a cell
    written for torchrun does): the call is answered by the group already there."""
    import torch.distributed as dist
    from torch.distributed import distributed_c10d

    original = dist.init_process_group

    def init_process_group(*args: Any, **kwargs: Any) -> None:
        if dist.is_initialized():
            print("lepton: the process group is set up already; init_process_group() skipped")
            return None
        return original(*args, **kwargs)

    dist.init_process_group = distributed_c10d.init_process_group = init_process_group


def _describe_device() -> str:
    """What this rank computes on, for the monitor (``cuda:0 (NVIDIA H200)``, ``cpu``)."""
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return "cpu"
    index = torch.cuda.current_device()
    visible = os.environ.get(devices.VISIBLE_ENV)
    physical = f", GPU {visible.split(',')[index]}" if visible else ""
    return f"cuda:{index} ({torch.cuda.get_device_name(index)}{physical})"


def _write_result(folder: JobFolder, value: Any) -> None:
    """Rank 0's return value, with every tensor in it moved to the CPU first, so loading it
    needs no GPU and creates no CUDA context in the kernel."""
    import cloudpickle
    import torch

    class CpuPickler(cloudpickle.CloudPickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, torch.Tensor) and obj.device.type not in ("cpu", "meta"):
                on_cpu = obj.detach().cpu()
                if isinstance(obj, torch.nn.Parameter):
                    on_cpu = torch.nn.Parameter(on_cpu, obj.requires_grad)
                elif obj.requires_grad:
                    on_cpu.requires_grad_(True)
                return on_cpu.__reduce_ex__(self.proto)
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    CpuPickler(buffer).dump(value)
    folder.write_atomic(folder.result, buffer.getvalue())


def forked_rank(job_dir: str) -> int:
    """A rank the local agent forked from itself: it gets what a fresh ``python -u -m
    lepton_jupyter.jobs.worker <job_dir>`` would have had, the command line (which cancel
    and the sweep look for), unbuffered output, and the job's thread count (OpenMP read
    the agent's at import)."""
    set_process_title(f"{sys.executable} -u -m {MODULE} {job_dir}")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), write_through=True, errors="backslashreplace"
    )
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:
        import torch

        torch.set_num_threads(int(threads))
    return main(job_dir)


def main(job_dir: str) -> int:
    folder = JobFolder(job_dir)
    rank = int(os.environ["RANK"])
    _redirect_output(folder, rank)
    die_with_parent()
    folder.rank_pid(rank).write_text(str(os.getpid()))
    folder.rank_error(rank).unlink(missing_ok=True)  # from an earlier elastic attempt
    spec = folder.read_spec()
    os.chdir(spec["cwd"])
    sys.path[:0] = [p for p in spec["sys_path"] if p not in sys.path]
    returns_value = spec["kind"] in ("function", "module")
    try:
        import torch.distributed as dist

        # Scripts written for torchrun set up their own group; cells of %%lepton launch
        # (and scripts launched with init_process_group=True) get it ready.
        if spec["kind"] != "script" or spec.get("script_process_group"):
            _setup_process_group(spec, rank)
            if spec["kind"] == "script":
                _ignore_second_init()
            folder.write_atomic(folder.rank_device(rank), _describe_device().encode())
        try:
            value = _run_target(spec, folder)
        except SystemExit as e:
            if e.code not in (None, 0):
                raise
            value = None
        if rank == 0 and returns_value:
            _write_result(folder, value)
    except BaseException:
        _fail(folder, rank)
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
