"""DVC's lock-file semantics for attach: a colleague's clone, a deleted or partial folder, a
rev that moved upstream. Real git repos, the real ``dvc`` CLI, a real data registry.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import pytest

from lepton_jupyter import attach, pins, update
from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.datasets.service import RevisionMoved
from lepton_jupyter.errors import Conflict
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_PATH, dvc
from tests.fixtures.runs import git

# Each test runs on both attach paths: through DVC, and warm without it (warm.py).
pytestmark = pytest.mark.usefixtures("attach_path")

POINTS = "datasets/points"


def _inodes(folder: Path) -> dict[str, int]:
    return {
        p.relative_to(folder).as_posix(): p.stat().st_ino
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cache_inodes() -> set[int]:
    root = load_settings().data_cache / "files" / "md5"
    return {p.stat().st_ino for p in root.glob("??/*")}


def _committed_workspace(root: Path, registry_url: str) -> Path:
    """Alice's project: a git repo in which points and images were attached at main."""
    alice = root / "alice"
    alice.mkdir()
    git("init", "-q", "-b", "main", cwd=alice)
    DatasetService(alice).attach(registry_url, POINTS, rev="main", to="points")
    DatasetService(alice).attach(registry_url, IMAGES_PATH, rev="main", to="data/images")
    git("add", "-A", cwd=alice)
    git("commit", "-q", "-m", "attach points and images", cwd=alice)
    return alice


def _clone(alice: Path, name: str) -> Path:
    clone = alice.parent / name
    git("clone", "-q", str(alice), str(clone), cwd=alice.parent)
    return clone


@pytest.mark.slow
def test_a_colleagues_clone_attaches_the_locked_commit_from_the_cache(fresh_registry, tmp_path):
    # Given Alice's committed project (.dvc files, .gitignore; data not in git)
    alice = _committed_workspace(tmp_path, fresh_registry.url)
    locked = fresh_registry.commit_of("main")
    # And main moved on in the data registry since she attached
    moved = fresh_registry.add_dataset(IMAGES_PATH, 12, seed=7, tag="v4")
    # When Bob clones it and runs the notebook's attach cells unchanged
    bob = _clone(alice, "bob")
    assert not (bob / "points").exists()
    pins.reset()
    events: list = []
    with pytest.warns(RevisionMoved, match=rf"now at {moved[:12]}.*update\('data/images'\)"):
        images = attach(
            fresh_registry.url,
            IMAGES_PATH,
            rev="main",
            to="data/images",
            progress=events.append,
            workspace=bob,
        )
    with pytest.warns(RevisionMoved, match=r"update\('points'\)"):
        points = attach(fresh_registry.url, POINTS, rev="main", to="points", workspace=bob)
    # Then both hold Alice's locked commit, say where main is now, and downloaded nothing
    assert images.commit == points.commit == locked
    assert images.upstream_commit == moved
    assert "fetch" not in {e.phase for e in events}
    # And the files are the shared cache's objects: the inodes Alice's folder has
    assert _inodes(bob / "data" / "images") == _inodes(alice / "data" / "images")
    assert set(_inodes(bob / "points").values()) <= _cache_inodes()
    # And the clone is as committed: no .dvc file or .gitignore rewritten; dvc finds the
    # data intact and, like the warning, an update available upstream
    assert git("status", "--porcelain", cwd=bob) == ""
    status = dvc("status", cwd=bob)
    assert status.returncode == 0 and "changed outs" not in status.stdout, status.stdout
    assert status.stdout.count("update available") == 2
    # And the ledger records the commit actually used
    used = {e["to"]: e["commit"] for e in pins.ledger().entries("dataset")}
    assert used == {"data/images": locked, "points": locked}
    # When Bob takes the new data on purpose, Then update moves the lock
    assert update("data/images", workspace=bob, progress=False).commit == moved


@pytest.mark.slow
def test_a_deleted_or_partial_folder_is_made_whole_and_extra_files_stay(data_registry, tmp_path):
    # Given a committed project whose images folder lost some files, and points was deleted
    alice = _committed_workspace(tmp_path, data_registry.url)
    images = alice / "data" / "images"
    before = _inodes(images)
    removed = sorted(before)[::7]
    for rel in removed:
        (images / rel).unlink()
    shutil.rmtree(images / "part001")
    (images / "my-notes.txt").write_text("keep me")
    shutil.rmtree(alice / "points")
    # When the notebook's attach cells run again
    service = DatasetService(alice)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RevisionMoved)  # main did not move
        service.attach(data_registry.url, IMAGES_PATH, rev="main", to="data/images")
        service.attach(data_registry.url, POINTS, rev="main", to="points")
    # Then every file is back, as links to the same cache objects, and the user's note stays
    assert _inodes(images) == {**before, "my-notes.txt": (images / "my-notes.txt").stat().st_ino}
    assert (images / "my-notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (alice / "points").iterdir()) == ["test.csv", "train.csv"]
    assert git("status", "--porcelain", cwd=alice) == ""


@pytest.mark.slow
def test_a_cell_run_twice_after_main_moved_keeps_its_data(fresh_registry, workspace):
    # Given points attached at main
    first = attach(fresh_registry.url, IMAGES_PATH, rev="main", progress=False)
    # And main moved on
    fresh_registry.add_dataset(IMAGES_PATH, 3, seed=3)
    # When the same cell runs again, Then it keeps the locked data and warns
    with pytest.warns(RevisionMoved):
        again = attach(fresh_registry.url, IMAGES_PATH, rev="main", progress=False)
    assert again.commit == first.commit and again.hash == first.hash
    assert len(list((workspace / "images").rglob("*.bin"))) == 10


def test_only_a_different_url_path_or_rev_name_is_a_conflict(data_registry, workspace):
    attach(data_registry.url, POINTS, rev="main", to="points", progress=False)
    for other in (
        {"path": IMAGES_PATH, "rev": "main"},
        {"path": POINTS, "rev": "v2"},
        {"path": POINTS, "rev": None},
    ):
        with pytest.raises(Conflict, match=r"already holds 'datasets/points'.*update\('points'"):
            attach(data_registry.url, other["path"], rev=other["rev"], to="points", progress=False)
    assert attach(data_registry.url, POINTS, rev="main", to="points", progress=False)


def test_an_empty_destination_folder_is_attached_into(data_registry, workspace):
    # Given an empty folder where the data should go (dvc import accepts one)
    (workspace / "points").mkdir()
    # When attaching there, Then it works as into a new folder
    result = attach(data_registry.url, POINTS, rev="v1", to="points", progress=False)
    assert result.files == 2 and len(os.listdir(workspace / "points")) == 2
