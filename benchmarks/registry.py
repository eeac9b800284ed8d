"""Model registry: lepton vs MLflow, side by side in one run, on a 1 GiB checkpoint.

    python benchmarks/registry.py [--size-mib 1024] [--clients 32] [--requests 6000]

Measures, for both (local SQLite metadata, a local artifact/blob folder):

1. first publish of the checkpoint (lepton hashes every byte; MLflow hashes nothing):
   lepton ``publish`` vs MLflow ``start_run`` + ``log_artifact`` + ``create_model_version``;
2. republishing the unchanged file (a new version with the same content);
3. loading ``@prod`` when it is already local: lepton ``load`` vs MLflow
   ``download_artifacts("models:/ckpt@prod")`` (MLflow has no local cache: a full copy);
4. resolving the alias over REST with 32 concurrent keep-alive clients: ``lepton registry
   serve`` vs ``mlflow server`` (p50, p99, requests/s).

MLflow is installed only for this benchmark, in its own virtualenv (``--mlflow-venv``,
created with pip on first use); it is never a dependency of lepton_jupyter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

GOALS = {  # lepton / MLflow
    "publish": 1.2,
    "republish": 0.05,
    "load_local": 0.05,
}

MLFLOW_SIDE = textwrap.dedent(r"""
    import json, shutil, statistics, sys, tempfile, time
    import mlflow
    from mlflow import MlflowClient

    work, checkpoint = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(f"sqlite:///{work}/mlflow.db")
    client = MlflowClient()
    experiment = client.create_experiment("bench", artifact_location=f"{work}/mlartifacts")
    client.create_registered_model("ckpt")

    def publish():
        start = time.perf_counter()
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifact(checkpoint, artifact_path="model")
            version = client.create_model_version(
                "ckpt", source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        return time.perf_counter() - start, version.version

    first, v1 = publish()
    again, _ = publish()
    client.set_registered_model_alias("ckpt", "prod", v1)
    downloads = []
    for _ in range(3):
        dst = tempfile.mkdtemp(dir=work)
        start = time.perf_counter()
        mlflow.artifacts.download_artifacts(artifact_uri="models:/ckpt@prod", dst_path=dst)
        downloads.append(time.perf_counter() - start)
        shutil.rmtree(dst)
    resolves = []
    for _ in range(200):
        start = time.perf_counter()
        client.get_model_version_by_alias("ckpt", "prod")
        resolves.append(time.perf_counter() - start)
    print(json.dumps({"version": mlflow.__version__, "publish": first, "republish": again,
                      "load_local": statistics.median(downloads),
                      "resolve_in_process_p50": statistics.median(resolves)}))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def ensure_mlflow(venv: Path) -> Path | None:
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import mlflow"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"installing MLflow into {venv} (benchmark only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "mlflow"], capture_output=True, text=True
    )
    if pip.returncode != 0:
        print(f"MLflow did not install: {pip.stderr.strip()[-500:]}")
        return None
    return python


def make_checkpoint(path: Path, size_mib: int) -> None:
    if not path.exists() or path.stat().st_size != size_mib << 20:
        with path.open("wb") as f:
            for _ in range(size_mib):
                f.write(os.urandom(1 << 20))
    with path.open("rb") as f:  # into the page cache, as the goals assume
        while f.read(64 << 20):
            pass


def lepton_side(work: Path, checkpoint: Path) -> dict[str, float]:
    os.environ["LEPTON_STATE_DIR"] = str(work / "lepton-state")
    from lepton_jupyter import registry

    registry.models()  # open and migrate the store outside the timings
    start = time.perf_counter()
    registry.publish("bench/ckpt", checkpoint)
    first = time.perf_counter() - start
    start = time.perf_counter()
    registry.publish("bench/ckpt", checkpoint)
    again = time.perf_counter() - start
    registry.set_alias("bench/ckpt", "prod", 1)
    start = time.perf_counter()
    registry.load("bench/ckpt@prod")
    first_load = time.perf_counter() - start
    loads = []
    for _ in range(20):
        start = time.perf_counter()
        registry.load("bench/ckpt@prod")
        loads.append(time.perf_counter() - start)
    return {
        "publish": first,
        "republish": again,
        "first_load": first_load,
        "load_local": statistics.median(loads),
    }


async def hammer(url: str, headers: dict[str, str], clients: int, total: int) -> dict[str, float]:
    """``clients`` keep-alive connections issuing ``total`` GETs; latency percentiles."""
    import aiohttp

    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def client(n: int, record: bool) -> None:
            for _ in range(n):
                start = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{url} -> {response.status}")
                if record:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(client(10, False) for _ in range(clients)))  # warm up
        start = time.perf_counter()
        await asyncio.gather(*(client(total // clients, True) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "rps": len(latencies) / elapsed,
    }


def rest_lepton(work: Path, clients: int, total: int) -> dict[str, float]:
    state = work / "lepton-state"
    port, token = free_port(), "bench-token"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lepton_jupyter.cli",
            "registry",
            "serve",
            "--db",
            f"sqlite:///{state / 'registry.db'}",
            "--storage",
            str(state / "blobs"),
            "--port",
            str(port),
            "--token",
            token,
            "--user",
            __import__("getpass").getuser(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/lepton/api/registry/models/bench/ckpt/aliases/prod"
        return asyncio.run(hammer(url, {"Authorization": f"token {token}"}, clients, total))
    finally:
        stop(proc)


def rest_mlflow(python: Path, work: Path, clients: int, total: int) -> dict[str, float]:
    port = free_port()
    mlflow_bin = python.parent / "mlflow"
    proc = subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--backend-store-uri",
            f"sqlite:///{work}/mlflow.db",
            "--default-artifact-root",
            str(work / "mlartifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_listening(port, proc)
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/alias?name=ckpt&alias=prod"
        return asyncio.run(hammer(url, {}, clients, total))
    finally:
        stop(proc)


def ratio_line(
    name: str, ours: float, theirs: float | None, goal: float | None, unit: str = "s"
) -> str:
    if theirs is None:
        return f"{name:<34} lepton {ours:9.4f} {unit}   MLflow   n/a"
    ratio = ours / theirs
    if goal is None:
        verdict = ""
    else:
        verdict = f"  goal <= {goal:.2f}x: {'met' if ratio <= goal else 'MISSED'}"
    return (
        f"{name:<34} lepton {ours:9.4f} {unit}   MLflow {theirs:9.4f} {unit}   "
        f"ratio {ratio:6.3f}x{verdict}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=6400)
    parser.add_argument("--mlflow-requests", type=int, default=1600)
    parser.add_argument("--workdir", default="")
    parser.add_argument(
        "--mlflow-venv", default=str(Path(tempfile.gettempdir()) / "lepton-bench-mlflow")
    )
    args = parser.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="lepton-bench-registry-"))
    work.mkdir(parents=True, exist_ok=True)
    checkpoint_dir = work / "checkpoint"
    checkpoint_dir.mkdir(exist_ok=True)
    checkpoint = checkpoint_dir / "ckpt.pt"
    for stale in ("lepton-state", "mlartifacts", "mlflow.db"):
        target = work / stale
        if target.is_dir():
            for path in target.rglob("*"):
                if path.is_file():
                    path.chmod(0o644)
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    os.chdir(work)  # neither tool should spend its time on the caller's git repo
    make_checkpoint(checkpoint, args.size_mib)
    print(f"checkpoint {args.size_mib} MiB at {checkpoint}; cpus {os.cpu_count()}")

    python = ensure_mlflow(Path(args.mlflow_venv))
    theirs: dict[str, Any] = {}
    if python is not None:
        out = subprocess.run(
            [str(python), "-c", MLFLOW_SIDE, str(work), str(checkpoint)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(f"MLflow side failed: {out.stderr[-1500:]}")
        else:
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"MLflow {theirs['version']}")
    ours = lepton_side(work, checkpoint)

    print()
    for key, label in (
        ("publish", f"publish {args.size_mib} MiB"),
        ("republish", "republish unchanged"),
        ("load_local", "load @prod already local"),
    ):
        print(ratio_line(label, ours[key], theirs.get(key), GOALS[key]))
    print(f"{'(lepton first load: links)':<34} lepton {ours['first_load']:9.4f} s")
    if "resolve_in_process_p50" in theirs:
        print(
            f"{'(MLflow get-by-alias in process)':<34} p50 "
            f"{1000 * theirs['resolve_in_process_p50']:.2f} ms"
        )

    ours_rest = rest_lepton(work, args.clients, args.requests)
    theirs_rest = (
        rest_mlflow(python, work, args.clients, args.mlflow_requests)
        if python is not None and theirs
        else None
    )
    print()
    print(f"alias resolve over REST, {args.clients} concurrent clients")
    for name, r in (("lepton registry serve", ours_rest), ("mlflow server", theirs_rest)):
        if r is None:
            print(f"  {name:<22} n/a")
            continue
        print(
            f"  {name:<22} {r['rps']:8.0f} req/s   p50 {r['p50_ms']:7.1f} ms   "
            f"p99 {r['p99_ms']:7.1f} ms"
        )
    if theirs_rest is not None:
        throughput = ours_rest["rps"] / theirs_rest["rps"]
        met = throughput >= 10 and ours_rest["p99_ms"] <= 50
        print(
            f"  throughput ratio {throughput:.1f}x (goal >= 10x with p99 <= 50 ms: "
            f"{'met' if met else 'MISSED'})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
