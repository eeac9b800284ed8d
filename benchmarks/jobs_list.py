"""The Jobs panel's poll with many past jobs: ``GET /lepton/api/jobs?limit=50`` on a real
Jupyter server, with 100 and with 10,000 jobs in the store, against the whole list.

The panel asks for one page (newest first) every 2-10 s; the store reads it through the
``created_at`` index, so the poll should cost the same whatever the history holds.

Run: ``python benchmarks/jobs_list.py [--jobs 10000] [--repeat 30]``; prints medians and
ratios. Goal: a poll under 100 ms with 10,000 past jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

PAGE = 50


def fill(state: Path, count: int) -> None:
    """``count`` ended jobs and two running ones in the job store of ``state``."""
    from sqlalchemy.orm import Session

    from lepton_jupyter.jobs.store import JobRow, JobStore, sqlite_url, store_path

    store = JobStore(sqlite_url(store_path(state)))
    start = datetime.now(timezone.utc) - timedelta(days=30)
    rows = []
    for i in range(count):
        created = start + timedelta(seconds=i * 60)
        rows.append(
            JobRow(
                id=f"train-{i:06d}",
                name="train",
                status="running" if i >= count - 2 else ("failed" if i % 7 == 0 else "succeeded"),
                backend="local",
                nprocs=2,
                nnodes=1,
                max_restarts=0,
                kind="function",
                target="train",
                job_dir=str(state / "jobs" / f"train-{i:06d}"),
                created_at=created,
                started_at=created,
                ended_at=None if i >= count - 2 else created + timedelta(seconds=30),
                exit_codes={"0": 0, "1": 0},
                error="RuntimeError: rank 1 fails" if i % 7 == 0 else None,
                cancel_requested=False,
                gpus=0,
                devices=[],
            )
        )
    with Session(store.engine) as session, session.begin():
        session.add_all(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(state: Path, token: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "LEPTON_STATE_DIR": str(state), "LEPTON_JOB_POOL": "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={state}",
            "--ServerApp.jpserver_extensions={'lepton_jupyter': True}",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            get(port, token, "status")
            return proc, port
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {proc.returncode}") from None
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("jupyter server did not answer")


def get(port: int, token: str, path: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/lepton/api/{path}",
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def timed(port: int, token: str, path: str, repeat: int) -> tuple[float, int]:
    """(median seconds of ``repeat`` requests, jobs in the answer)."""
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(get(port, token, path)["jobs"])
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def measure(work: Path, count: int, repeat: int) -> dict[str, tuple[float, int]]:
    state = work / f"state-{count}"
    state.mkdir()
    fill(state, count)
    token = secrets.token_hex(16)
    proc, port = serve(state, token)
    try:
        return {
            "page": timed(port, token, f"jobs?limit={PAGE}", repeat),
            "running": timed(port, token, "jobs?status=running", repeat),
            "all": timed(port, token, "jobs", max(3, repeat // 10)),
        }
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lepton-bench-jobs-") as work:
        small = measure(Path(work), 100, args.repeat)
        large = measure(Path(work), args.jobs, args.repeat)
    print(f"\nGET /lepton/api/jobs, median of {args.repeat} (whole list: of fewer)")
    print(f"{'request':28s} {'100 jobs':>10s} {f'{args.jobs} jobs':>12s} {'ratio':>7s}")
    for name, label in (
        ("page", f"?limit={PAGE} (the panel)"),
        ("running", "?status=running"),
        ("all", "everything"),
    ):
        (a, _), (b, n) = small[name], large[name]
        print(f"{label:28s} {a * 1000:8.1f}ms {b * 1000:10.1f}ms {b / a:6.2f}x  ({n} jobs)")
    poll = large["page"][0] * 1000
    print(f"\ngoal: the panel's poll < 100 ms with {args.jobs} jobs: ", end="")
    print(f"{'met' if poll < 100 else 'NOT met'} ({poll:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
