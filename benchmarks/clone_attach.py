"""A colleague's clone: ``attach`` making a locked import whole vs ``dvc pull``.

Alice attaches ``datasets/images`` (default branch) into a git project and commits the import
(``images.dvc``, ``.gitignore``; no data). Each round clones the project twice; in one clone
the notebook's unchanged ``lepton datasets attach`` keeps the locked commit and links the
files from the shared cache; in the other, ``dvc pull`` does the same from the same cache.
Both are whole commands, a fresh process each, interleaved ``--repeat`` times; medians
compared. Goal: attach <= 1x dvc pull.

Run: ``python benchmarks/clone_attach.py`` (2000 files, about a minute) or ``--files 10000``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attach import build_registry


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


BIN = Path(sys.executable).parent


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="Files in the dataset.")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds (default 3).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lepton-clone-bench-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        env = {
            **os.environ,
            "LEPTON_STATE_DIR": str(root / "state"),
            "LEPTON_DATA_CACHE": str(cache),
            "DVC_NO_ANALYTICS": "1",
        }
        url = build_registry(root, args.files, 10 * 1024)
        alice = root / "alice"
        alice.mkdir()
        git("init", "-q", cwd=alice)
        attach = [str(BIN / "lepton"), "datasets", "attach", url, "datasets/images"]
        attach += ["--to", "images", "--json"]  # the default branch
        timed(attach, alice, env)  # the cold attach: fills the shared cache
        git("add", "-A", cwd=alice)
        git("-c", "user.name=b", "-c", "user.email=b@invalid", "commit", "-qm", "x", cwd=alice)
        times: dict[str, list[float]] = {"attach": [], "dvc pull": []}
        for i in range(args.repeat):
            for kind in times:
                clone = root / f"clone-{i}-{kind.replace(' ', '-')}"
                git("clone", "-q", str(alice), str(clone), cwd=root)
                if kind == "attach":
                    times[kind].append(timed(attach, clone, env))
                else:
                    dvc = str(BIN / "dvc")
                    timed([dvc, "config", "--local", "cache.dir", str(cache)], clone, env)
                    timed([dvc, "config", "--local", "cache.type", "hardlink"], clone, env)
                    times[kind].append(timed([dvc, "pull"], clone, env))
                files = sum(1 for p in (clone / "images").rglob("*") if p.is_file())
                assert files == args.files, (kind, files)
        ours, theirs = statistics.median(times["attach"]), statistics.median(times["dvc pull"])
        print(f"{args.files} files, median of {args.repeat} interleaved rounds, warm cache")
        print(f"  attach in the clone  {ours:6.2f} s")
        print(f"  dvc pull in a clone  {theirs:6.2f} s")
        print(f"attach / dvc pull = {ours / theirs:.2f}x (goal <= 1x)")


if __name__ == "__main__":
    main()
