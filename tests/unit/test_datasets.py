"""Datasets against a real git + DVC data registry with a local DVC remote."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from lepton_jupyter import attach, attached, browse, detach, pins, update
from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.errors import Conflict, Invalid, NotFound
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_FILES, IMAGES_PATH, dvc, reflink_works
from tests.fixtures.runs import dataset_pin

# Each test runs on both attach paths: through DVC, and warm without it (warm.py).
pytestmark = pytest.mark.usefixtures("attach_path")

POINTS = "datasets/points"


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _registry_files(registry, path: str, rev: str) -> dict[str, bytes]:
    """The dataset's files as the registry holds them at ``rev``, read through DVC."""
    from dvc.api import DVCFileSystem

    fs = DVCFileSystem(registry.url, rev=rev)
    return {f[len(path) + 1 :]: fs.read_bytes(f) for f in sorted(fs.find(path, detail=False))}


def test_browse_lists_datasets_with_sizes_descriptions_and_versions(data_registry):
    # Given the team's data registry
    # When a researcher browses it at v3
    listing = browse(data_registry.url, rev="v3")
    # Then both datasets are listed with file counts, sizes and the .dvc description
    by_path = {d.path: d for d in listing.datasets}
    assert set(by_path) == {POINTS, IMAGES_PATH}
    assert by_path[IMAGES_PATH].files == IMAGES_FILES
    assert by_path[IMAGES_PATH].size == IMAGES_FILES * 64
    assert by_path[POINTS].files == 2
    assert "spirals" in (by_path[POINTS].description or "")
    assert listing.commit == data_registry.tags["v3"]
    # And the versions are the tags, newest first, with dates, then the branches
    tags = [v.name for v in listing.versions if v.kind == "tag"]
    assert tags == ["v3", "v2", "v1"]
    assert all(v.date.year >= 2024 for v in listing.versions)
    assert "main" in [v.name for v in listing.versions if v.kind == "branch"]


def test_browse_at_an_older_tag_shows_that_version(data_registry):
    listing = browse(data_registry.url, rev="v1")
    assert [d.path for d in listing.datasets] == [POINTS]


def test_attach_by_tag_writes_a_standard_pinned_dvc_import(data_registry, workspace):
    # Given an empty notebook folder (no DVC project yet)
    # When the researcher attaches points at v1
    result = attach(data_registry.url, POINTS, rev="v1", progress=False)
    # Then the files are exactly the registry's v1 files
    dest = workspace / "points"
    assert _tree(dest) == _registry_files(data_registry, POINTS, "v1")
    assert result.to == "points" and result.local_path == str(dest)
    assert result.commit == data_registry.tags["v1"]
    assert result.files == 2 and result.bytes == sum(len(b) for b in _tree(dest).values())
    # And the workspace now is a DVC project with a standard import file
    assert (workspace / ".dvc").is_dir()
    dvc_file = yaml.safe_load((workspace / "points.dvc").read_text())
    assert dvc_file["frozen"] is True and dvc_file["md5"]
    (dep,) = dvc_file["deps"]
    assert dep["path"] == POINTS
    assert dep["repo"] == {
        "url": data_registry.url,
        "rev": "v1",
        "rev_lock": data_registry.tags["v1"],
    }
    (out,) = dvc_file["outs"]
    assert out["md5"] == result.hash and out["md5"].endswith(".dir")
    assert out["path"] == "points" and out["nfiles"] == 2
    # And the run ledger recorded what was resolved
    (entry,) = pins.ledger().entries("dataset")
    assert entry["key"] == f"{data_registry.url}|{POINTS}|v1"
    assert entry["commit"] == data_registry.tags["v1"] and entry["hash"] == result.hash


@pytest.mark.slow
def test_attach_by_branch_and_by_commit(data_registry, workspace):
    # When attaching by branch, then by a commit sha
    by_branch = attach(data_registry.url, IMAGES_PATH, rev="main", to="img-main", progress=False)
    sha = data_registry.tags["v3"]
    by_commit = attach(data_registry.url, IMAGES_PATH, rev=sha, to="img-sha", progress=False)
    # Then both resolve to the registry's commit and hold the same files
    assert by_branch.commit == data_registry.commit_of("main")
    assert by_commit.commit == sha and by_commit.rev == sha
    assert by_branch.files == by_commit.files == IMAGES_FILES
    assert _tree(workspace / "img-main") == _tree(workspace / "img-sha")


@pytest.mark.slow
def test_attach_default_rev_and_destination(data_registry, workspace):
    result = attach(data_registry.url, IMAGES_PATH, progress=False)
    assert result.to == "images" and result.rev is None
    assert result.commit == data_registry.commit_of("main")


@pytest.mark.slow
def test_attach_in_a_folder_its_git_repo_ignores(data_registry, tmp_path, monkeypatch):
    # Given a project repo whose .gitignore lists its scratch folder (as `lepton demo`
    # run inside a clone does)
    import subprocess

    project = tmp_path / "project"
    scratch = project / "scratch" / "workspace"
    scratch.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / ".gitignore").write_text("scratch/\n")
    monkeypatch.chdir(scratch)
    # When a dataset is attached there
    result = attach(data_registry.url, POINTS, rev="v1", progress=False)
    # Then the folder gets a DVC project of its own and the real dvc CLI agrees it is clean
    assert (scratch / "points" / "train.csv").is_file()
    assert (scratch / ".dvc").is_dir() and not (project / ".dvc").exists()
    status = dvc("status", cwd=scratch)
    assert status.returncode == 0, status.stderr
    assert result.commit == data_registry.commit_of("v1")


def test_attach_twice_to_the_same_destination_is_a_no_op(data_registry, workspace):
    first = attach(data_registry.url, POINTS, rev="v2", progress=False)
    again = attach(data_registry.url, POINTS, rev="v2", progress=False)
    assert again.commit == first.commit and again.hash == first.hash


def test_rerun_resolves_a_floating_rev_to_the_recorded_commit(
    data_registry, workspace, tmp_path, monkeypatch
):
    # Given a recorded run that attached points at "main" when main was at v1
    recorded = [dataset_pin(data_registry.url, POINTS, "main", data_registry.tags["v1"])]
    pin_file = tmp_path / "pins.json"
    pin_file.write_text(json.dumps(recorded))
    monkeypatch.setenv(pins.PINS_ENV, str(pin_file))
    pins.reset()
    # When the rerun makes the same call, main having moved on to v3
    result = attach(data_registry.url, POINTS, rev="main", progress=False)
    # Then it gets the recorded commit and v1's data, while the .dvc keeps rev "main"
    assert result.commit == data_registry.tags["v1"]
    assert result.rev == "main"
    assert _tree(workspace / "points") == _registry_files(data_registry, POINTS, "v1")


def test_second_workspace_links_from_the_shared_cache(data_registry, tmp_path):
    """The link type expected is the first of the defaults (reflink, hardlink) that this
    filesystem supports, asked of ``cp --reflink=always`` (coreutils), not of lepton: the old
    test demanded hardlink and failed on XFS or btrfs, where reflink is right. Here (ext4)
    the hardlink branch runs; mutation check: the linker trying symlink before hardlink ->
    red (link type, and no shared inode)."""
    # Given one user attached the images into their workspace (cold cache)
    first, second = tmp_path / "alice", tmp_path / "bob"
    first.mkdir()
    second.mkdir()
    events_first, events_second = [], []
    DatasetService(first).attach(
        data_registry.url, IMAGES_PATH, rev="v3", progress=events_first.append
    )
    # When a teammate attaches the same data through the same shared cache
    result = DatasetService(second).attach(
        data_registry.url, IMAGES_PATH, rev="v3", progress=events_second.append
    )
    # Then the first attach fetched, the second did not: it only linked
    assert "fetch" in {e.phase for e in events_first}
    assert "fetch" not in {e.phase for e in events_second}
    cache = load_settings().data_cache / "files" / "md5"
    some = sorted((second / "images").rglob("*.bin"))[:5]
    if reflink_works(cache):
        # copy-on-write clones: the same bytes, each user's own inode
        assert result.link_type == "reflink"
        for path in some:
            twin = first / "images" / path.relative_to(second / "images")
            assert path.read_bytes() == twin.read_bytes()
            assert path.stat().st_ino != twin.stat().st_ino
    else:
        # And both workspaces' files are the cache's objects (same inode, read-only)
        assert result.link_type == "hardlink"
        for path in some:
            twin = first / "images" / path.relative_to(second / "images")
            assert path.stat().st_ino == twin.stat().st_ino
            assert path.stat().st_nlink >= 3
            assert oct(path.stat().st_mode & 0o777) == oct(0o444)
        objects = {p.stat().st_ino for p in cache.glob("??/*")}
        assert {p.stat().st_ino for p in some} <= objects
    # And progress reported every file and byte
    last = events_second[-1]
    assert last.phase == "done"
    assert (last.files_done, last.bytes_done) == (IMAGES_FILES, IMAGES_FILES * 64)


def test_symlink_link_type_when_configured(data_registry, workspace, monkeypatch):
    monkeypatch.setenv("LEPTON_CACHE_LINK_TYPES", "symlink")
    result = attach(data_registry.url, POINTS, rev="v1", progress=False)
    assert result.link_type == "symlink"
    files = list((workspace / "points").iterdir())
    assert files and all(f.is_symlink() for f in files)
    assert all(str(load_settings().data_cache) in os.readlink(f) for f in files)


@pytest.mark.slow
def test_attached_flags_newer_tags_update_moves_and_detach_removes(data_registry, workspace):
    # Given points attached at v1 and images at v3 (the newest tag)
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    attach(data_registry.url, IMAGES_PATH, rev="v3", progress=False)
    # When listing what is attached
    listed = {a.to: a for a in attached()}
    # Then points is flagged with the newest tag ahead of it, images is not
    assert listed["points"].newer_tag == "v3"
    assert listed["images"].newer_tag is None
    # When points is updated to v2
    moved = update("points", rev="v2", progress=False)
    # Then it holds v2's data, pinned to v2's commit
    assert moved.commit == data_registry.tags["v2"] and moved.rev == "v2"
    assert _tree(workspace / "points") == _registry_files(data_registry, POINTS, "v2")
    assert yaml.safe_load((workspace / "points.dvc").read_text())["deps"][0]["repo"]["rev"] == "v2"
    # When points is detached
    detach("points")
    # Then its folder and .dvc file are gone and images stays
    assert not (workspace / "points").exists() and not (workspace / "points.dvc").exists()
    assert [a.to for a in attached()] == ["images"]


def test_an_exception_midway_leaves_nothing_and_a_retry_completes(data_registry, workspace):
    # Given an attach that fails after some files were linked
    def explode(event):
        if event.phase == "link" and 0 < event.files_done < event.files_total:
            raise RuntimeError("disk trouble")

    with pytest.raises(RuntimeError):
        attach(data_registry.url, IMAGES_PATH, rev="v3", progress=explode)
    # Then nothing is half-attached: no folder, no .dvc file, no staging leftovers
    assert sorted(p.name for p in workspace.iterdir() if p.name != ".dvc") in ([], [".dvcignore"])
    # And attaching again completes
    result = attach(data_registry.url, IMAGES_PATH, rev="v3", progress=False)
    assert len(_tree(workspace / "images")) == result.files == IMAGES_FILES


# -- bad input: each gets a clear exception naming what was wrong -------------------------


def test_unknown_registry_is_not_found(workspace, tmp_path):
    with pytest.raises(NotFound, match="not found or unreachable"):
        attach(str(tmp_path / "no-such-registry"), POINTS, progress=False)
    with pytest.raises(NotFound, match="not found or unreachable"):
        browse("https://127.0.0.1:9/team/data-registry.git")


def test_path_not_in_registry_suggests_the_close_one(data_registry, workspace):
    with pytest.raises(NotFound, match="Did you mean 'datasets/points'") as info:
        attach(data_registry.url, "datasets/pionts", rev="v2", progress=False)
    assert "datasets/pionts" in str(info.value)


def test_unknown_rev_lists_the_tags(data_registry, workspace):
    with pytest.raises(NotFound, match=r"'v9'.*Tags: v1, v2, v3") as info:
        attach(data_registry.url, POINTS, rev="v9", progress=False)
    assert "Did you mean" in str(info.value)


@pytest.mark.parametrize("to", ["/tmp/elsewhere", "../outside", "data/../../outside", ".dvc/x"])
def test_destination_outside_the_workspace_is_invalid(data_registry, workspace, to):
    with pytest.raises(Invalid, match="Destination"):
        attach(data_registry.url, POINTS, rev="v1", to=to, progress=False)
    assert not any(workspace.parent.glob("outside*"))


def test_destination_holding_something_else_is_a_conflict(data_registry, workspace):
    (workspace / "points").mkdir()
    (workspace / "points" / "mine.txt").write_text("my notes")
    with pytest.raises(Conflict, match="already exists"):
        attach(data_registry.url, POINTS, rev="v1", progress=False)
    assert (workspace / "points" / "mine.txt").read_text() == "my notes"


def test_destination_holding_another_version_points_to_update(data_registry, workspace):
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    with pytest.raises(Conflict, match=r"update\('points'"):
        attach(data_registry.url, POINTS, rev="v2", progress=False)


def test_update_and_detach_of_nothing_attached_are_not_found(data_registry, workspace):
    attach(data_registry.url, POINTS, rev="v1", progress=False)
    with pytest.raises(NotFound, match="Did you mean 'points'"):
        update("pionts")
    with pytest.raises(NotFound, match="No dataset is attached"):
        detach("nothing")


def test_unknown_link_type_in_settings_is_invalid(data_registry, workspace, monkeypatch):
    monkeypatch.setenv("LEPTON_CACHE_LINK_TYPES", "teleport")
    with pytest.raises(Invalid, match="Unknown cache link types \\['teleport'\\]"):
        attach(data_registry.url, POINTS, rev="v1", progress=False)
    assert not (workspace / "points").exists() and not (workspace / "points.dvc").exists()


def test_running_attaches_are_visible_on_the_progress_board(data_registry, workspace):
    from lepton_jupyter.datasets.progress import AttachBoard

    # Given a board the REST layer polls, tracking an attach of the images
    board = AttachBoard()
    seen = []
    with board.tracking("images") as post:

        def progress(event):
            post(event)
            if event.phase == "link" and event.files_done:
                seen.append(board.snapshot())

        attach(data_registry.url, IMAGES_PATH, rev="v3", progress=progress)
    # Then while it linked, the board showed its files and bytes; afterwards it is empty
    entry = seen[0][0]
    assert entry.to == "images" and entry.files_total == IMAGES_FILES
    assert entry.files_done > 0 and entry.bytes_total == IMAGES_FILES * 64
    assert board.snapshot() == []
