"""The warm attach (``datasets/warm.py``): a dataset the shared cache already holds is
attached without importing DVC, and leaves the workspace exactly as DVC's path leaves it.
A real git + DVC registry, real git workspaces, the real ``dvc`` CLI as the witness.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_PATH, dvc, force_cold_attach, warm_up
from tests.fixtures.runs import git

POINTS = "datasets/points"
# Packages a warm attach (and importing lepton_jupyter) must not load: each costs a new
# process a noticeable part of a second.
HEAVY = {"dvc", "dvc_data", "dvc_objects", "scmrepo", "dulwich", "torch", "sqlalchemy"}


def _git_workspace(root: Path, filled_cache: Path) -> Path:
    """A notebook folder in a git repository, its DVC project pointed at the warm cache."""
    root.mkdir()
    git("init", "-q", cwd=root)
    warm_up(load_settings().data_cache, filled_cache, root)
    return root


def _snapshot(ws: Path) -> dict[str, str]:
    """Every file attach may write (data, .dvc files, .gitignore entries), by path."""
    found = {}
    for path in sorted(ws.rglob("*")):
        rel = path.relative_to(ws).as_posix()
        if rel.startswith((".git/", ".dvc/tmp/")) or rel in (".git", ".dvc/tmp"):
            continue
        if path.is_symlink():
            found[rel] = f"link to {os.readlink(path)}"
        elif path.is_file():
            found[rel] = path.read_bytes().decode("utf-8", "replace")
        else:
            found[rel] = "folder"
    return found


def _porcelain(ws: Path) -> set[str]:
    return set(git("status", "--porcelain", "--untracked-files=all", cwd=ws).splitlines())


def test_warm_and_cold_attach_leave_identical_workspaces(
    data_registry, filled_cache, tmp_path, warm_calls
):
    # Given two git workspaces whose DVC projects use a shared cache holding the registry
    cold_ws = _git_workspace(tmp_path / "cold", filled_cache)
    warm_ws = _git_workspace(tmp_path / "warm", filled_cache)
    # A tag, an annotated tag, no rev, a branch, a short commit; nested and odd names
    attaches = [
        (POINTS, "v1", None),
        (IMAGES_PATH, "v3", "data/images [v3]#1"),
        (POINTS, None, "latest points"),
        (POINTS, "main", "by-branch"),
        (POINTS, data_registry.tags["v2"][:10], "sub/by-sha"),
    ]
    results = {}
    for ws, name in ((cold_ws, "cold"), (warm_ws, "warm")):
        service = DatasetService(ws)
        events: list = []
        with pytest.MonkeyPatch.context() as patch:
            if name == "cold":
                force_cold_attach(patch)
            results[name] = [
                service.attach(
                    data_registry.url, path, rev=rev, to=to, progress=events.append
                ).model_dump(exclude={"local_path"})
                for path, rev, to in attaches
            ]
            # A cell run again (its lock kept), and a deleted folder made whole
            shutil.rmtree(ws / "by-branch")
            for path, rev, to in attaches[3::-3]:
                again = service.attach(data_registry.url, path, rev=rev, to=to)
                results[name].append(again.model_dump(exclude={"local_path"}))
        results[f"{name} events"] = [(e.phase, e.files_done, e.files_total) for e in events]
    # Then the warm workspace took the warm path for every attach
    assert warm_calls == [
        "points",
        "data/images [v3]#1",
        "latest points",
        "by-branch",
        "sub/by-sha",
        "by-branch",
        "points",
    ]
    # And both report the same datasets, commits, links and progress
    assert results["warm"] == results["cold"]
    assert results["warm events"] == results["cold events"]
    assert results["warm"][1]["commit"] == data_registry.tags["v3"]
    # And hold byte-identical files, .dvc files and .gitignore entries
    assert _snapshot(warm_ws) == _snapshot(cold_ws)
    assert _porcelain(warm_ws) == _porcelain(cold_ws)
    # And the real dvc CLI finds the warm workspace clean
    assert json.loads(dvc("status", "--json", cwd=warm_ws).stdout or "{}") == {}


def test_a_warm_attach_in_a_new_process_never_imports_dvc(data_registry, filled_cache, tmp_path):
    # Given a workspace whose DVC project uses a shared cache that holds the dataset
    ws = tmp_path / "ws"
    ws.mkdir()
    warm_up(load_settings().data_cache, filled_cache, ws)
    # When a new Python process attaches it
    code = (
        "import json, sys\n"
        "from lepton_jupyter import attach\n"
        "r = attach(sys.argv[1], sys.argv[2], rev='v3', progress=False)\n"
        "print(json.dumps({'files': r.files, 'loaded': sorted({m.split('.')[0] "
        "for m in sys.modules})}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, data_registry.url, IMAGES_PATH],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    # Then no DVC package (nor torch or SQLAlchemy) was imported, and the files are there
    assert HEAVY.isdisjoint(report["loaded"]), HEAVY.intersection(report["loaded"])
    assert report["files"] == len(list((ws / "images").rglob("*.bin")))
    # And DVC itself sees a standard, up-to-date import
    assert json.loads(dvc("status", "--json", cwd=ws).stdout or "{}") == {}


def test_a_warm_attach_whose_objects_are_gone_falls_back_to_dvc(
    data_registry, filled_cache, workspace
):
    # Given a warm workspace whose cache lost one file object of points@v1
    cache = load_settings().data_cache
    warm_up(cache, filled_cache, workspace)
    service = DatasetService(workspace)
    digest = {d.path: d.hash for d in service.browse(data_registry.url, "v1").datasets}[POINTS]
    objects = cache / "files" / "md5"
    first = json.loads((objects / digest[:2] / digest[2:]).read_text())[0]["md5"]
    lost = objects / first[:2] / first[2:]
    lost.unlink()
    # When points@v1 is attached
    result = service.attach(data_registry.url, POINTS, rev="v1")
    # Then DVC's path fetched what was missing, and nothing half-made is left
    assert result.files == 2 == len(list((workspace / "points").iterdir()))
    assert lost.exists()
    assert not list(workspace.glob(".points.lepton-*"))


def test_importing_lepton_jupyter_stays_light():
    # When a kernel imports the package, its datasets API and the attach function
    code = (
        "import json, sys\n"
        "import lepton_jupyter, lepton_jupyter.datasets, lepton_jupyter.datasets.api\n"
        "from lepton_jupyter import attach\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    # Then neither DVC, torch nor SQLAlchemy was imported
    assert HEAVY.isdisjoint(loaded), HEAVY & loaded


def test_every_name_the_datasets_package_offers_resolves():
    # The package resolves its names lazily; each must lead to what it names
    import lepton_jupyter.datasets as datasets
    from lepton_jupyter.datasets import api, schema, service

    for name in datasets.__all__:
        assert getattr(datasets, name) is getattr(
            {"api": api, "schema": schema, "service": service}[datasets._MODULES[name].lstrip(".")],
            name,
        )
