"""The job folder: everything a job needs and produces, in one directory on disk.

Standard library only: the worker imports this module in every rank, before torch, and a
rank's start-up time is on the user's critical path.

Layout::

    spec.json            the JobSpec (what to run, how many ranks, where the store is)
    target.pkl           cloudpickled {"function", "args", "kwargs"}
    script.py            a copy of the launched script (script targets)
    environment.json     snapshot of the launching interpreter (versions, cwd, sys.path)
    supervisor.log       the detached supervisor's output, and the elastic agent's
    logs/rank-N.log      stdout and stderr of global rank N (appended across restarts)
    ranks/rank-N.pid     PID of rank N's current process, so cancel can reach it
    ranks/rank-N.device  what rank N computes on (``cuda:0 (NVIDIA H200, GPU 3)``, ``cpu``)
    errors/rank-N.txt    the traceback of rank N's exception, when it raised
    metrics.jsonl        one JSON object per report() call
    result.pkl           rank 0's return value (cloudpickle)
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .._process import pid_alive, pid_exists

#: Set in the supervisor, so every process of the job (and all they start) carries it.
JOB_DIR_ENV = "LEPTON_JOB_DIR"
#: The job's id, beside its folder, for code in a rank (a published version's lineage).
JOB_ID_ENV = "LEPTON_JOB_ID"


class JobFolder:
    """Paths inside one job folder, and the small reads and writes every layer shares."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    spec = property(lambda self: self.path / "spec.json")
    target = property(lambda self: self.path / "target.pkl")
    script = property(lambda self: self.path / "script.py")
    environment = property(lambda self: self.path / "environment.json")
    supervisor_log = property(lambda self: self.path / "supervisor.log")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    result = property(lambda self: self.path / "result.pkl")
    elastic_logs = property(lambda self: self.path / "elastic")

    def rank_log(self, rank: int) -> Path:
        return self.path / "logs" / f"rank-{rank}.log"

    def rank_pid(self, rank: int) -> Path:
        return self.path / "ranks" / f"rank-{rank}.pid"

    def rank_device(self, rank: int) -> Path:
        return self.path / "ranks" / f"rank-{rank}.device"

    def rank_devices(self) -> dict[int, str]:
        """What each rank that started reported computing on."""
        found = {}
        for path in (self.path / "ranks").glob("rank-*.device"):
            with contextlib.suppress(ValueError, OSError):
                found[int(path.stem.split("-")[1])] = path.read_text()
        return found

    def rank_error(self, rank: int) -> Path:
        return self.path / "errors" / f"rank-{rank}.txt"

    def create(self) -> None:
        for sub in ("logs", "ranks", "errors"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def read_spec(self) -> dict[str, Any]:
        return json.loads(self.spec.read_text())

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Write via a temporary file and rename, so a reader never sees half a file."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def rank_pids(self) -> dict[int, int]:
        """The last PID each rank recorded (a restarted rank overwrites its file)."""
        pids = {}
        for pid_file in (self.path / "ranks").glob("rank-*.pid"):
            try:
                pids[int(pid_file.stem.split("-")[1])] = int(pid_file.read_text())
            except (ValueError, OSError):
                continue
        return pids

    def first_failed_rank(self) -> int | None:
        """The rank whose traceback was written first: the cause, when peers then failed
        on the broken collective."""
        errors = list((self.path / "errors").glob("rank-*.txt"))
        if not errors:
            return None
        first = min(errors, key=lambda p: p.stat().st_mtime_ns)
        return int(first.stem.split("-")[1])

    def read_error(self, rank: int) -> str | None:
        path = self.rank_error(rank)
        return path.read_text() if path.exists() else None

    def tail(self, path: Path, lines: int | None) -> str:
        """The file's text, or only its last ``lines`` lines; '' when it does not exist yet."""
        return read_tail(path, lines)[0]

    def read_metrics(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The ``report()`` records from byte ``since`` on, and the offset to ask from next.

        Ranks on several nodes append to one file on a shared filesystem: a line cut short
        (a node died mid-write) is skipped, never fatal; a line still being written is left
        for the next read.
        """
        records = []
        chunk, offset = read_lines_from(self.metrics, since)
        for line in chunk.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records, offset


#: Most bytes one incremental read returns; the caller asks again from the offset.
READ_LIMIT = 1 << 20
_TAIL_BLOCK = 1 << 16


def read_lines_from(path: Path, since: int, limit: int = READ_LIMIT) -> tuple[str, int]:
    """Whole lines of ``path`` from byte ``since`` (at most ``limit`` bytes of them), and the
    offset after them; ('', since) when nothing new is complete."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if since >= size:
                return "", min(since, size)
            f.seek(since)
            data = f.read(limit)
    except FileNotFoundError:
        return "", 0
    end = data.rfind(b"\n") + 1
    if end == 0 and len(data) == limit:  # one line longer than the limit: pass it in parts
        end = len(data)
    return data[:end].decode(errors="replace"), since + end


def read_tail(path: Path, lines: int | None) -> tuple[str, int]:
    """The last ``lines`` lines of ``path`` (all when None) and its size, reading backwards
    block by block: a 100 MB log costs what its tail costs."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if lines is None:
                return f.read(size).decode(errors="replace"), size
            start, data = size, b""
            # One more newline than lines are wanted: the file's final newline ends the last.
            while start > 0 and data.count(b"\n") <= lines:
                step = min(_TAIL_BLOCK, start)
                start -= step
                f.seek(start)
                data = f.read(step) + data
    except FileNotFoundError:
        return "", 0
    kept = data.splitlines(keepends=True)[-lines:] if lines else []
    return b"".join(kept).decode(errors="replace"), size


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with a single O_APPEND write, so ranks writing at once never
    interleave within a line."""
    data = (json.dumps(record, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def set_process_title(title: str) -> None:
    """Give a forked process the command line a started one would have (``ps``, and the
    job folder that :func:`process_matches` and the sweep look for)."""
    import setproctitle

    setproctitle.setproctitle(title)


def process_matches(pid: int, marker: str) -> bool:
    """Whether ``pid`` is a live, non-zombie process whose command line contains ``marker``.

    Job processes carry the job folder in their command line; checking it guards against a
    recorded PID that the OS has since reused for something else.
    """
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return marker.encode() in f.read()
    except FileNotFoundError:
        return False
    except OSError:
        # No /proc (macOS): fall back to "the PID exists".
        return pid_exists(pid)


def _belongs(pid: int, marker: str) -> bool:
    """Whether ``pid`` names ``marker`` (a job folder, or a folder of job folders) in its
    command line or has its ``LEPTON_JOB_DIR`` there."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if marker.encode() in f.read():
                return True
        with open(f"/proc/{pid}/environ", "rb") as f:
            environ = f.read().split(b"\0")
    except OSError:  # gone, or another user's
        return False
    prefix = f"{JOB_DIR_ENV}=".encode()
    root = marker.rstrip("/").encode()
    for entry in environ:
        if entry.startswith(prefix):
            value = entry[len(prefix) :].rstrip(b"/")
            return value == root or value.startswith(root + b"/")
    return False


def ancestors() -> set[int]:
    """This process and every process above it: never swept, whatever their environment."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[-1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return found


def job_processes(marker: str) -> list[int]:
    """Every live process of the job(s) under ``marker``: the supervisor and ranks (their
    command line names the folder) and all they started (their environment does)."""
    if not Path("/proc").is_dir():
        return []
    mine = ancestors()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid not in mine and _belongs(pid, marker) and pid_alive(pid):
            found.append(pid)
    return found
