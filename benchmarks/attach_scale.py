"""Warm attach at scale: 5k, 50k and 500k files of 10 KB, is the cost per file constant?

    python benchmarks/attach_scale.py [--sizes 5000,50000,500000] [--file-size 10240]

``dvc add`` and ``dvc push`` of 500,000 files take far longer than the attach being measured,
so the data registry is made the way they would leave it, directly: every object written
into the shared cache under its md5 (``files/md5/<2>/<30>``), one ``.dir`` manifest per
dataset (the first N objects), and a git commit holding each dataset's ``.dvc`` file. The
three datasets share their objects, so the cache holds 500k objects once.

Each size is attached warm by a new process (``python -m lepton_jupyter.datasets attach``,
into a DVC project pointed at the cache) and in-process, its link phase timed from
progress events; ``cp -al`` of the attached tree is the floor. Linear means the cost per
file at 500k stays within ~1.5x of its cost at 5k (the manifest is read whole, the folders
made once, one link per file).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}
GIT = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@invalid",
    "GIT_COMMITTER_EMAIL": "bench@invalid",
}


def write_objects(cache: Path, n: int, size: int) -> list[tuple[str, str]]:
    """``n`` distinct objects in the cache -> (relative path, md5), 1000 per folder."""
    objects = cache / "files" / "md5"
    filler = os.urandom(size)
    entries = []
    for i in range(n):
        data = f"{i}\n".encode() + filler[: size - len(f"{i}\n")]
        md5 = hashlib.md5(data).hexdigest()
        folder = objects / md5[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / md5[2:]).write_bytes(data)
        entries.append((f"part{i // 1000:03d}/{i:06d}.bin", md5))
    return entries


def write_manifest(cache: Path, entries: list[tuple[str, str]]) -> str:
    """The ``.dir`` object listing ``entries`` (sorted by path, as DVC writes it) -> its md5."""
    body = json.dumps(
        [{"md5": md5, "relpath": rel} for rel, md5 in sorted(entries)], separators=(", ", ": ")
    ).encode()
    md5 = hashlib.md5(body).hexdigest()
    target = cache / "files" / "md5" / md5[:2] / f"{md5[2:]}.dir"
    target.write_bytes(body)
    return f"{md5}.dir"


def build(root: Path, sizes: list[int], size: int) -> str:
    """The registry (git) and the filled cache; datasets/images<N> per size."""
    registry, cache = root / "registry", root / "cache"
    subprocess.run(["git", "init", "-q", str(registry)], check=True)
    (registry / ".dvc").mkdir()
    (registry / ".dvc" / "config").write_text("[core]\n    analytics = false\n")
    entries = write_objects(cache, max(sizes), size)
    (registry / "datasets").mkdir()
    for n in sizes:
        digest = write_manifest(cache, entries[:n])
        (registry / "datasets" / f"images{n}.dvc").write_text(
            f"outs:\n- md5: {digest}\n  size: {n * size}\n  nfiles: {n}\n  hash: md5\n"
            f"  path: images{n}\n"
        )
    env = {**ENV, **GIT}
    subprocess.run(["git", "add", "-A"], cwd=registry, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "images"], cwd=registry, check=True, env=env)
    return str(registry)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000,500000")
    parser.add_argument("--file-size", type=int, default=10 * 1024)
    parser.add_argument("--dir", help="Work folder (default: a temporary one, removed).")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from lepton_jupyter.datasets import DatasetService
    from lepton_jupyter.settings import load_settings

    base = Path(args.dir or tempfile.mkdtemp(prefix="lepton-bench-attach-scale-"))
    rows = []
    try:
        start = time.perf_counter()
        url = build(base, sizes, args.file_size)
        print(
            f"registry and cache of {max(sizes)} objects made in "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        settings = load_settings(data_cache=base / "cache", state_dir=base / "state")
        env = {
            **ENV,
            "LEPTON_DATA_CACHE": str(base / "cache"),
            "LEPTON_STATE_DIR": str(base / "state"),
        }
        for n in sizes:
            proc_ws, api_ws = base / f"proc{n}", base / f"api{n}"
            for ws in (proc_ws, api_ws):
                ws.mkdir()
                with DatasetService(ws, settings).project.open():
                    pass  # a DVC project pointed at the cache, as after a first attach
            path = f"datasets/images{n}"
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "lepton_jupyter.datasets", "attach", url, path, "--json"],
                cwd=proc_ws,
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            process = time.perf_counter() - t
            events: list[tuple[str, float]] = []
            t = time.perf_counter()
            result = DatasetService(api_ws, settings).attach(
                url,
                path,
                progress=lambda e, seen=events: seen.append((e.phase, time.perf_counter())),
            )
            marks: dict[str, float] = {}
            for phase, at in events:
                marks.setdefault(phase, at)
            in_proc = time.perf_counter() - t
            assert result.files == n and "fetch" not in marks
            t = time.perf_counter()
            subprocess.run(
                ["cp", "-al", str(api_ws / f"images{n}"), str(base / f"cp{n}")], check=True
            )
            cp_al = time.perf_counter() - t
            rows.append((n, process, in_proc, marks["done"] - marks["link"], cp_al))
            print(f"  {n} files: process {process:.2f} s, in-proc {in_proc:.2f} s", flush=True)
            for folder in (proc_ws, api_ws, base / f"cp{n}"):
                shutil.rmtree(folder)
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    print("\nseconds and microseconds per file (warm attach; cp -al = the floor):")
    print(
        f"{'files':>7} {'process':>8} {'in-proc':>8} {'link':>7} {'cp -al':>7} "
        f"{'proc us':>8} {'link us':>8} {'cp us':>6}"
    )
    for n, process, in_proc, link, cp_al in rows:
        print(
            f"{n:>7} {process:>8.2f} {in_proc:>8.2f} {link:>7.2f} {cp_al:>7.2f} "
            f"{process / n * 1e6:>8.1f} {link / n * 1e6:>8.1f} {cp_al / n * 1e6:>6.1f}"
        )
    (n0, p0, i0, l0, _), (n1, p1, i1, l1, _) = rows[0], rows[-1]
    print(
        f"per-file cost at {n1} over {n0}: in-proc attach {(i1 / n1) / (i0 / n0):.2f}x, "
        f"link phase {(l1 / n1) / (l0 / n0):.2f}x; whole process, marginal "
        f"{(p1 - p0) / (n1 - n0) * 1e6:.1f} us/file"
    )


if __name__ == "__main__":
    main()
