"""Warm attach from a registry given as a remote git URL vs ``dvc import`` from the same URL.

A registry (git + DVC, ``--files`` files of ``--file-size`` bytes, pushed to a local DVC
remote) is cloned bare as the git server; every command names it by a ``file://`` URL, which
libgit2 and DVC both treat as remote (clone and fetch, never opened in place). One cold
attach fills the shared cache. Then, interleaved ``--repeat`` times, each a new process
(whole process timed, by the clock and by CPU seconds, children included):

- ``mirror``: ``python -c "attach(url, ...)"`` into a DVC project on the shared cache, the
  registry's mirror already on the machine (every attach after the machine's first);
- ``no mirror``: the same with the mirror removed first (the machine's first attach from
  that URL: the mirror is cloned, git metadata only);
- ``new dir``: the same into a brand-new folder (the workspace's first attach: DVC makes
  its project, then the warm path attaches);
- ``branch``: the mirror present, the default branch by name (a floating rev: one
  ls-remote round trip);
- ``dvc import``: the real ``dvc import <url>`` into a DVC project using the same cache.

Run: ``python benchmarks/attach_remote.py`` (5,000 files; a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attach import BIN, ENV, best, build_registry, dvc_project, shared_cache_env, timed_cpu

SNIPPET = (
    "import sys; from lepton_jupyter import attach; "
    "attach(sys.argv[1], 'datasets/images', rev=sys.argv[2], progress=False)"
)


def run(root: Path, files: int, size: int, repeat: int) -> dict[str, tuple[float, float]]:
    from lepton_jupyter.datasets import DatasetService
    from lepton_jupyter.datasets.mirror import mirror_path

    registry = build_registry(root, files, size)
    server = root / "server.git"
    subprocess.run(["git", "clone", "-q", "--bare", registry, str(server)], check=True)
    url = f"file://{server}"
    branch = subprocess.run(
        ["git", "symbolic-ref", "--short", "HEAD"], cwd=server, capture_output=True, text=True
    ).stdout.strip()
    cache, env, settings = shared_cache_env(root)
    (root / "cold").mkdir()
    DatasetService(root / "cold", settings).attach(url, "datasets/images", rev="v1")
    mirror = mirror_path(cache.resolve(), url)
    assert mirror.is_dir(), "the cold attach made no mirror"

    runs: dict[str, list[tuple[float, float]]] = {}

    def timed(name: str, cmd: list[str], cwd: Path, environ: dict[str, str]) -> None:
        runs.setdefault(name, []).append(timed_cpu(cmd, cwd, environ))

    python = [sys.executable, "-c", SNIPPET, url]
    for i in range(repeat):
        timed("mirror", [*python, "v1"], dvc_project(root / f"mirror-{i}", cache), env)
        timed("branch", [*python, branch], dvc_project(root / f"branch-{i}", cache), env)
        ws = dvc_project(root / f"no-mirror-{i}", cache)
        shutil.rmtree(mirror)
        timed("no mirror", [*python, "v1"], ws, env)
        (root / f"new-dir-{i}").mkdir()
        timed("new dir", [*python, "v1"], root / f"new-dir-{i}", env)
        peer = dvc_project(root / f"dvc-import-{i}", cache)
        dvc_import = [str(BIN / "dvc"), "import", url, "datasets/images", "--rev", "v1"]
        timed("dvc import", [*dvc_import, "-o", "images"], peer, ENV)
    for name in ("mirror", "branch", "no mirror", "new dir"):
        ws = root / f"{name.replace(' ', '-')}-0"
        status = subprocess.run(
            [str(BIN / "dvc"), "status", "--json"], cwd=ws, env=ENV, capture_output=True
        )
        assert status.stdout.strip() in (b"{}", b""), (name, status.stdout)
        assert len(list((ws / "images").rglob("*.bin"))) == files, name
    return {name: best(r) for name, r in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--file-size", type=int, default=10 * 1024, help="Bytes per file.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each whole process.")
    parser.add_argument("--dir", help="Work folder (default: a temporary one, removed).")
    args = parser.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="lepton-bench-remote-"))
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        result = run(base, args.files, args.file_size, args.repeat)
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    load += Path("/proc/loadavg").read_text().split()[:3]
    peer_wall, peer_cpu = result["dvc import"]
    print(f"\n{args.files} files from a file:// URL, best of {args.repeat}, whole processes:")
    print(f"{'':>12} {'clock s':>8} {'CPU s':>8} {'clock x':>8} {'CPU x':>8}")
    for name, (wall, cpu) in result.items():
        print(
            f"{name:>12} {wall:>8.2f} {cpu:>8.2f} {wall / peer_wall:>8.3f} {cpu / peer_cpu:>8.3f}"
        )
    print(f"load average before {' '.join(load[:3])}, after {' '.join(load[3:])}")
    print("Goal: python -c attach / dvc import <= 0.25 at 5k files (x = ratio to dvc import).")


if __name__ == "__main__":
    main()
