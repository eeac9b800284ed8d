"""Hostile workspaces: links a `git clone` can plant where attach and detach write or delete.

Lepton never writes, renames, chmods or deletes through a symbolic link the workspace
holds; it refuses with an error naming the link, and detach removes only what attach made.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from lepton_jupyter import attach, detach
from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.errors import Invalid

# Each test runs on both attach paths: through DVC, and warm without it (warm.py).
pytestmark = pytest.mark.usefixtures("attach_path")

POINTS = "datasets/points"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the workspace that a planted link points at."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious\n")
    folder.chmod(0o755)
    return folder


def test_a_dangling_link_as_the_pending_journal_is_refused(data_registry, workspace, outside):
    # Given a link named like attach's journal, pointing at a file that does not exist
    journal = workspace / ".points.dvc.lepton-pending"
    journal.symlink_to(outside / "written-through")
    # When attaching points there
    with pytest.raises(Invalid, match=r"\.points\.dvc\.lepton-pending.*link"):
        attach(data_registry.url, POINTS, rev="v1", progress=False)
    # Then nothing was written through the link and no .dvc file (or link) was made
    assert not (outside / "written-through").exists()
    assert not os.path.lexists(workspace / "points.dvc")
    assert not os.path.lexists(workspace / "points")
    # And the planted link is left for its owner to judge
    assert journal.is_symlink()


@pytest.mark.parametrize("name", [".points.lepton-staging", ".points.lepton-old"])
def test_a_link_as_the_staging_or_old_folder_is_refused(data_registry, workspace, outside, name):
    planted = workspace / name
    planted.symlink_to(outside, target_is_directory=True)
    with pytest.raises(Invalid, match=rf"{name}.*link"):
        attach(data_registry.url, POINTS, rev="v1", progress=False)
    assert planted.is_symlink() and sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
    assert not os.path.lexists(workspace / "points.dvc")


def test_a_dvc_file_that_is_a_link_is_refused_by_attach_and_detach(
    data_registry, workspace, outside
):
    # Given points attached, then its .dvc file swapped for a link to a copy outside
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    copy = outside / "points.dvc"
    copy.write_bytes((workspace / "points.dvc").read_bytes())
    (workspace / "points.dvc").unlink()
    (workspace / "points.dvc").symlink_to(copy)
    before = copy.read_bytes()
    # When detaching, or attaching again
    with pytest.raises(Invalid, match=r"points\.dvc.*link"):
        detach("points")
    with pytest.raises(Invalid, match=r"points\.dvc.*link"):
        attach(data_registry.url, POINTS, rev="v2", to="points", progress=False)
    # Then the file outside is untouched and the folder is still there
    assert copy.read_bytes() == before
    assert (workspace / "points").is_dir()


def test_detach_of_a_dataset_folder_swapped_for_a_link_touches_nothing_outside(
    data_registry, workspace, outside
):
    # Given points attached, then its folder replaced by a link to a folder outside
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    os.rename(workspace / "points", workspace / "points-real")
    (workspace / "points").symlink_to(outside, target_is_directory=True)
    # When detaching it
    with pytest.raises(Invalid, match=r"points.*link"):
        detach("points")
    # Then the outside folder keeps its mode and contents (DVC's rmtree chmods to 0777)
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755
    assert (outside / "keep.txt").read_text() == "precious\n"
    # And the attach is still recorded, so removing the link and detaching again works
    (workspace / "points").unlink()
    os.rename(workspace / "points-real", workspace / "points")
    detach("points")
    assert not os.path.lexists(workspace / "points")
    assert not os.path.lexists(workspace / "points.dvc")


def test_a_gitignore_that_is_a_link_is_not_written_through(data_registry, workspace, outside):
    # Given a git workspace whose .gitignore is a link to a file outside
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    target = outside / "gitignore"
    target.write_text("*.log\n")
    (workspace / ".gitignore").symlink_to(target)
    # When attaching
    with pytest.raises(Invalid, match=r"\.gitignore.*link"):
        attach(data_registry.url, POINTS, rev="v1", progress=False)
    # Then the file outside is unchanged and nothing is attached
    assert target.read_text() == "*.log\n"
    assert not os.path.lexists(workspace / "points.dvc")


def test_broken_and_dangling_dvc_files_do_not_hide_the_attached_datasets(
    data_registry, workspace, outside
):
    # Given points attached, and beside it a corrupt .dvc file and a dangling .dvc link
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    (workspace / "broken.dvc").write_bytes(b"outs: [\x00\xff{{{\n")
    (workspace / "gone.dvc").symlink_to(outside / "missing.dvc")
    sub = workspace / "notes"
    sub.mkdir()
    (sub / "half.dvc").write_text("deps:\n- path: x\n  repo: {url: 5}\nouts: 7\n")
    # Then listing still shows points
    assert [a.to for a in DatasetService(workspace).attached(check_upstream=False)] == ["points"]


def test_an_import_whose_output_lies_outside_the_workspace_is_not_listed_or_detached(
    data_registry, workspace, outside
):
    # Given an import file whose output climbs out of the workspace
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    text = (workspace / "points.dvc").read_text().replace("path: points", "path: ../outside")
    (workspace / "evil.dvc").write_text(text)
    # Then it is not listed; describing or detaching it is a clear error (not a crash)
    service = DatasetService(workspace)
    assert [a.to for a in service.attached(check_upstream=False)] == ["points"]
    for call in (service.describe, service.detach):
        with pytest.raises(Invalid, match=r"evil\.dvc.*'\.\./outside'"):
            call("evil")
    assert (outside / "keep.txt").read_text() == "precious\n"
