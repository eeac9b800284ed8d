"""Warm attach vs ``dvc import`` vs ``cp -al``, at several dataset sizes.

For each size a data registry is built (git + DVC, ``--file-size`` byte files, pushed to a
local DVC remote) and one cold attach fills the shared cache. Then, with the cache full:

- ``attach``, each a new process into a folder that is already a DVC project pointed at
  the shared cache (as the peer's project is; the warm path, which never imports DVC):
  ``lepton datasets attach``, ``python -m lepton_jupyter.datasets attach`` and
  ``python -c "from lepton_jupyter import attach; attach(...)"``, best of ``--repeat``;
- ``new dir``: ``python -m ... attach`` into a brand-new folder (its DVC project is made
  through DVC: the first attach of a workspace);
- in-process, with its linking phase timed from progress events;
- ``dvc import``: the real ``dvc import`` into a fresh DVC project using the same cache,
  best of ``--repeat``, interleaved with the ``python -c`` runs;
- ``cp -al``: hard-linking the attached tree, the floor for "one link per file";
- as root, another user's objects: the cache handed to another account (``nobody``), then
  an attach that hashes each object before its first use by this user, and the next one,
  which finds those checks remembered and links without hashing.

Whole processes are timed by the clock and by their CPU time (user + system, children
included): on a shared, loaded machine the CPU ratio is the steadier figure.

Run: ``python benchmarks/attach.py`` (5k and 50k files; about 10 minutes on 2 cores) or
``--sizes 1000,10000`` for a shorter run.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}
BIN = Path(sys.executable).parent


def shared_cache_env(root: Path) -> tuple[Path, dict[str, str], Any]:
    """The shared cache under ``root``, the environment and the settings that point lepton at
    it (for whole-process runs and in-process ones alike)."""
    from lepton_jupyter.settings import load_settings

    cache = root / "shared-cache"
    env = {
        **ENV,
        "LEPTON_DATA_CACHE": str(cache),
        "LEPTON_STATE_DIR": str(root / "state"),
        "LEPTON_CACHE_LINK_TYPES": "reflink,hardlink,symlink",
    }
    return cache, env, load_settings(data_cache=cache, state_dir=root / "state")


def dvc_project(folder: Path, cache: Path) -> Path:
    """A git + DVC project pointed at the shared cache as lepton points one (untimed)."""
    folder.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    for args in (
        ["init", "-q"],
        ["config", "cache.dir", str(cache)],
        ["config", "cache.shared", "group"],
        ["config", "cache.type", "reflink,hardlink,symlink"],
    ):
        subprocess.run([str(BIN / "dvc"), *args], cwd=folder, env=ENV, check=True)
    return folder


def build_registry(root: Path, n: int, size: int) -> str:
    """A git + DVC registry holding ``datasets/images`` (n files), pushed, tagged v1."""
    from dvc.repo import Repo
    from scmrepo.git import Git

    for var, value in (
        ("GIT_AUTHOR_NAME", "bench"),
        ("GIT_COMMITTER_NAME", "bench"),
        ("GIT_AUTHOR_EMAIL", "bench@invalid"),
        ("GIT_COMMITTER_EMAIL", "bench@invalid"),
    ):
        os.environ.setdefault(var, value)
    logging.getLogger("dvc").setLevel(logging.WARNING)  # no "To track the changes..." hints
    registry = root / "registry"
    registry.mkdir(parents=True)
    Git.init(registry).close()
    data = registry / "datasets" / "images"
    for i in range(n):
        sub = data / f"part{i // 1000:03d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        head = f"{n}:{i}\n".encode()
        (sub / f"{i:06d}.bin").write_bytes(head + os.urandom(max(0, size - len(head))))
    with Repo.init(str(registry)) as repo:
        with repo.config.edit() as conf:
            conf["core"]["remote"] = "storage"
            conf["core"]["analytics"] = False
            conf["remote"]["storage"] = {"url": str(root / "remote")}
        repo.add(str(data))
        repo.push()
        repo.scm.add([str(registry / p) for p in (".dvc", ".dvcignore", "datasets")])
        repo.scm.commit("images")
        repo.scm.tag("v1")
    return str(registry)


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    return timed_cpu(cmd, cwd, env)[0]


def timed_cpu(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, the command's own children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def best(runs: list[tuple[float, float]]) -> tuple[float, float]:
    return min(w for w, _ in runs), min(c for _, c in runs)


def run_size(root: Path, n: int, size: int, repeat: int) -> dict[str, Any]:
    from lepton_jupyter.datasets import DatasetService

    root.mkdir(parents=True)
    t = time.perf_counter()
    url = build_registry(root, n, size)
    print(f"  registry with {n} files built in {time.perf_counter() - t:.0f} s", flush=True)
    cache, env, settings = shared_cache_env(root)

    # Cold attach: fills the shared cache.
    (root / "cold").mkdir()
    t = time.perf_counter()
    DatasetService(root / "cold", settings).attach(url, "datasets/images", rev="v1")
    cold = time.perf_counter() - t

    def project(name: str) -> Path:
        """A folder that is a DVC project pointed at the shared cache (untimed), as the
        peer's project below and as any workspace after its first attach."""
        folder = root / name
        folder.mkdir()
        with DatasetService(folder, settings).project.open():
            pass
        return folder

    images = ["datasets/images", "--rev", "v1", "--json"]
    # The first attach of a brand-new folder: its DVC project is made (through DVC).
    (root / "new-dir").mkdir()
    new_dir = timed_cpu(
        [sys.executable, "-m", "lepton_jupyter.datasets", "attach", url, *images],
        root / "new-dir",
        env,
    )
    # Warm attach, the CLI command end to end (Python start-up and imports included).
    attach_cli = timed_cpu(
        [str(BIN / "lepton"), "datasets", "attach", url, *images], project("warm-cli"), env
    )
    # The same with the datasets-only entry point (no other subsystems' imports).
    attach_mod = timed_cpu(
        [sys.executable, "-m", "lepton_jupyter.datasets", "attach", url, *images],
        project("warm-mod"),
        env,
    )

    # Warm attach in-process, with the linking phase timed from progress events.
    (root / "warm").mkdir()
    marks: dict[str, float] = {}

    def progress(event) -> None:
        marks.setdefault(event.phase, time.perf_counter())

    t = time.perf_counter()
    DatasetService(root / "warm", settings).attach(
        url, "datasets/images", rev="v1", progress=progress
    )
    attach_api = time.perf_counter() - t
    link_phase = marks["done"] - marks["link"]
    assert "fetch" not in marks, "the warm attach fetched: the shared cache was not used"

    # The peer: a real `dvc import` into a DVC project configured with the same cache,
    # interleaved with a new Python process calling attach(), best of --repeat each.
    snippet = "import sys; from lepton_jupyter import attach; attach(*sys.argv[1:3], rev='v1')"
    py_runs, import_runs = [], []
    for i in range(repeat):
        py_runs.append(
            timed_cpu(
                [sys.executable, "-c", snippet, url, "datasets/images"], project(f"py-{i}"), env
            )
        )
        peer = dvc_project(root / f"dvc-import-{i}", cache)
        import_runs.append(
            timed_cpu(
                [str(BIN / "dvc"), "import", url, "datasets/images", "--rev", "v1", "-o", "images"],
                peer,
                ENV,
            )
        )
    attach_py, dvc_import = best(py_runs), best(import_runs)

    # The floor: hard-link the same tree.
    cp_al = timed(["cp", "-al", str(root / "warm" / "images"), str(root / "cp-al")], root, ENV)

    # The real dvc CLI agrees the attached workspace is clean.
    status = subprocess.run(
        [str(BIN / "dvc"), "status", "--json"],
        cwd=root / "warm-cli",
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.strip() in ("{}", ""), status.stdout
    foreign = foreign_objects(root, url, settings) if os.geteuid() == 0 else {}
    return {
        **foreign,
        "files": n,
        "cold": cold,
        "new_dir": new_dir,
        "attach_cli": attach_cli,
        "attach_mod": attach_mod,
        "attach_py": attach_py,
        "attach_api": attach_api,
        "link": link_phase,
        "dvc_import": dvc_import,
        "cp_al": cp_al,
    }


def foreign_objects(root: Path, url: str, settings) -> dict[str, float]:
    """First and next attach of objects another account owns (the checks of a hub member)."""
    from lepton_jupyter.datasets import DatasetService
    from lepton_jupyter.datasets.cache import objects_root

    nobody = 65534
    for obj in objects_root(settings.data_cache).glob("??/*"):
        os.chown(obj, nobody, -1)
    times = {}
    for run in ("foreign_first", "foreign_next"):
        (root / run).mkdir()
        t = time.perf_counter()
        result = DatasetService(root / run, settings).attach(url, "datasets/images", rev="v1")
        times[run] = time.perf_counter() - t
        times[f"{run}_hashed"] = result.hashed_objects
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="5000,50000",
        help="Comma-separated file counts (default: 5000,50000).",
    )
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each whole process.")
    parser.add_argument("--file-size", type=int, default=10 * 1024, help="Bytes per file.")
    parser.add_argument("--dir", help="Work folder (default: a temporary one, removed).")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    base = Path(args.dir or tempfile.mkdtemp(prefix="lepton-bench-attach-"))
    rows = []
    try:
        for n in sizes:
            print(f"{n} files of {args.file_size} bytes:", flush=True)
            rows.append(run_size(base / f"n{n}", n, args.file_size, args.repeat))
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print("whole processes, seconds by the clock / CPU seconds:")
    columns = ("new_dir", "attach_cli", "attach_mod", "attach_py", "dvc_import")
    print(
        f"{'files':>7} "
        + " ".join(f"{c:>13}" for c in ("new dir", "lepton", "-m", "python -c", "dvc import"))
    )
    for r in rows:
        print(f"{r['files']:>7} " + " ".join(f"{r[c][0]:>6.2f}/{r[c][1]:<6.2f}" for c in columns))
    print("in-process seconds: cold attach, warm attach, its link phase, cp -al:")
    for r in rows:
        print(
            f"{r['files']:>7} {r['cold']:>7.2f} {r['attach_api']:>7.2f} {r['link']:>7.2f} "
            f"{r['cp_al']:>7.2f}"
        )
    print("ratios to dvc import (clock / CPU), link phase / cp -al, us per file:")
    print(
        f"{'files':>7} {'new dir':>11} {'lepton':>11} {'-m':>11} {'python -c':>11} "
        f"{'in-proc':>7} {'link/cp':>7} {'link us':>7}"
    )
    for r in rows:
        n, (imp_wall, imp_cpu) = r["files"], r["dvc_import"]
        print(
            f"{n:>7} "
            + " ".join(
                f"{r[c][0] / imp_wall:>5.3f}/{r[c][1] / imp_cpu:<5.3f}"
                for c in ("new_dir", "attach_cli", "attach_mod", "attach_py")
            )
            + f" {r['attach_api'] / imp_wall:>7.3f} {r['link'] / r['cp_al']:>7.2f} "
            f"{r['link'] / n * 1e6:>7.1f}"
        )
    foreign = [r for r in rows if "foreign_first" in r]
    if foreign:
        print("another user's objects (in-proc attach; first use hashes each object once):")
        print(
            f"{'files':>7} {'1st s':>7} {'hashed':>7} {'next s':>7} {'hashed':>7} "
            f"{'own s':>7} {'1st/own':>7} {'next/own':>8}"
        )
        for r in foreign:
            own = r["attach_api"]
            print(
                f"{r['files']:>7} {r['foreign_first']:>7.2f} {r['foreign_first_hashed']:>7} "
                f"{r['foreign_next']:>7.2f} {r['foreign_next_hashed']:>7} {own:>7.2f} "
                f"{r['foreign_first'] / own:>7.2f} {r['foreign_next'] / own:>8.2f}"
            )
    print(
        "\nColumns: lepton = `lepton datasets attach` (the command's start-up included); "
        "-m = `python -m lepton_jupyter.datasets attach`; python -c = a new process calling "
        "attach(); new dir = -m into a folder without a DVC project yet; in-proc = attach() "
        "in a running kernel.\nGoals: python -c / dvc import <= 0.25 at 5k files and <= 0.1 "
        "at 50k; link/cp -al <= 3; cost per file roughly constant."
    )


if __name__ == "__main__":
    main()
