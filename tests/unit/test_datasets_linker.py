"""Atomic placement: whatever moment an attach or update dies at, the next one recovers the
last committed state (the journal is the pending .dvc file)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lepton_jupyter.datasets import linker as linker_module
from lepton_jupyter.datasets.linker import Linker, Placement, link_files


@pytest.fixture
def cache(tmp_path: Path) -> list[tuple[str, str]]:
    objects = tmp_path / "cache"
    objects.mkdir()
    files = []
    for i, rel in enumerate(["a.txt", "sub/b.txt", "sub/deeper/c.txt"]):
        obj = objects / f"obj{i}"
        obj.write_text(f"content {i}")
        obj.chmod(0o444)
        files.append((rel, str(obj)))
    return files


def _stage(place: Placement, files: list[tuple[str, str]]) -> None:
    link_files(files, place.staging, Linker(["hardlink"]))


def test_link_files_links_every_file_and_reports_progress(tmp_path, cache):
    events = []
    missing = link_files(cache, tmp_path / "out", Linker(["hardlink"]), events.append, every=2)
    assert missing == []
    assert (tmp_path / "out" / "sub" / "deeper" / "c.txt").read_text() == "content 2"
    assert os.stat(tmp_path / "out" / "a.txt").st_ino == os.stat(cache[0][1]).st_ino
    assert events == [2, 3]


@pytest.mark.parametrize("kind", ["hardlink", "symlink", "copy"])
def test_link_files_reports_missing_cache_objects(tmp_path, cache, kind):
    # Given a manifest naming an object the cache does not hold
    files = [*cache, ("lost.txt", str(tmp_path / "cache" / "nope"))]
    # Then it is reported, not linked (no dangling symlink either), and the rest is linked
    missing = link_files(files, tmp_path / "out", Linker([kind]))
    assert missing == [files[-1]]
    assert not os.path.lexists(tmp_path / "out" / "lost.txt")
    assert (tmp_path / "out" / "a.txt").read_text() == "content 0"


def test_a_link_type_that_fails_falls_back_to_the_next(tmp_path, cache, monkeypatch):
    """Reflink is made to fail here (ENOTSUP, as on ext4 or tmpfs) instead of relying on the
    filesystem: on XFS or btrfs it would succeed and there would be no fallback to check.
    Mutation checks: no fallback (re-raise on the first failure) -> red; a fallback that
    keeps the failed type and probes it for every file -> red (three reflink attempts)."""
    attempts = []

    def no_reflink(src: str, dst: str) -> None:
        attempts.append(src)
        raise OSError(errno.ENOTSUP, "reflink not supported", dst)

    monkeypatch.setitem(linker_module._LINKERS, "reflink", no_reflink)
    # Given reflink first, hardlink next
    linker = Linker(["reflink", "hardlink"])
    # When three files are linked
    link_files(cache, tmp_path / "out", linker)
    # Then every file is a hard link to its cache object, and reflink was tried once only
    assert linker.used == {"hardlink"}
    for rel, obj in cache:
        assert os.stat(tmp_path / "out" / rel).st_ino == os.stat(obj).st_ino
    assert len(attempts) == 1


def test_killed_after_the_folder_moved_but_before_the_dvc_file(tmp_path, cache):
    # Given a fresh attach that moved its folder into place, then died
    place = Placement(tmp_path / "data", tmp_path / "data.dvc")
    _stage(place, cache)
    place.pending.write_text("outs: []\n")
    os.rename(place.staging, place.dest)
    # When the next attach recovers
    place.recover()
    # Then the uncommitted folder and journal are gone
    assert not place.dest.exists() and not place.pending.exists()
    assert not place.dvc_file.exists()


def test_killed_in_the_middle_of_an_update_restores_the_old_version(tmp_path, cache):
    # Given an attached dataset (committed) being updated
    place = Placement(tmp_path / "data", tmp_path / "data.dvc")
    _stage(place, cache[:1])
    place.publish(lambda p: p.write_text("old\n"))
    _stage(place, cache)
    place.pending.write_text("new\n")
    os.rename(place.dest, place.trash)
    # When it dies before the new folder moved in, and the next call recovers
    place.recover()
    # Then the old version is back, with its .dvc file
    assert place.dvc_file.read_text() == "old\n"
    assert sorted(p.name for p in place.dest.rglob("*")) == ["a.txt"]
    assert not place.staging.exists() and not place.trash.exists()


def test_killed_after_the_commit_point_keeps_the_new_version(tmp_path, cache):
    place = Placement(tmp_path / "data", tmp_path / "data.dvc")
    _stage(place, cache[:1])
    place.publish(lambda p: p.write_text("old\n"))
    _stage(place, cache)
    place.pending.write_text("new\n")
    os.rename(place.dest, place.trash)
    os.rename(place.staging, place.dest)
    os.replace(place.pending, place.dvc_file)
    # died before removing the old copy
    place.recover()
    assert place.dvc_file.read_text() == "new\n"
    assert len([p for p in place.dest.rglob("*") if p.is_file()]) == 3
    assert not place.trash.exists()
