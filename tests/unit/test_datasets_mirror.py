"""The warm attach from a registry given as a remote git URL (``datasets/mirror.py``): a shared
bare mirror kept with libgit2 answers it without DVC. Real git + DVC registries reached over
``file://`` (libgit2 and DVC treat it as a remote: clone and fetch, never opened in place), a
real shared cache, real processes racing, the real ``dvc`` CLI as the witness.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.datasets.attaching import RevisionMoved
from lepton_jupyter.datasets.mirror import MirroredRegistry, mirror_path
from lepton_jupyter.errors import NotFound
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_PATH, dvc, force_cold_attach, warm_up
from tests.fixtures.runs import git

POINTS = "datasets/points"
HEAVY = {"dvc", "dvc_data", "dvc_objects", "scmrepo", "dulwich"}

ATTACH_IN_A_NEW_PROCESS = (
    "import json, sys\n"
    "from lepton_jupyter import attach\n"
    "r = attach(sys.argv[1], sys.argv[2], rev=sys.argv[3], progress=False)\n"
    "print(json.dumps({'files': r.files, 'commit': r.commit, 'loaded': sorted({m.split('.')[0] "
    "for m in sys.modules})}))\n"
)


def _bare_copy(registry_url: str, where: Path) -> str:
    """A bare clone of the registry (what a git server holds), as a ``file://`` URL."""
    git("clone", "-q", "--bare", registry_url, str(where), cwd=where.parent)
    return f"file://{where}"


def _warm_workspace(path: Path, filled_cache: Path) -> Path:
    path.mkdir()
    warm_up(load_settings().data_cache, filled_cache, path)
    return path


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The commits the mirror went to the network for."""
    seen: list[str | None] = []
    fetch = MirroredRegistry._fetch

    def counted(self, wanted):
        seen.append(wanted)
        return fetch(self, wanted)

    monkeypatch.setattr(MirroredRegistry, "_fetch", counted)
    return seen


def _attach_in_a_new_process(ws: Path, url: str, path: str, rev: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", ATTACH_IN_A_NEW_PROCESS, url, path, rev],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def test_a_remote_registry_attaches_in_a_new_process_without_dvc_as_dvc_would(
    data_registry, filled_cache, tmp_path, monkeypatch
):
    # Given a registry on a git server (file://) and workspaces on a cache holding its data
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    warm_ws = _warm_workspace(tmp_path / "warm", filled_cache)
    cold_ws = _warm_workspace(tmp_path / "cold", filled_cache)
    # When a new Python process attaches from the URL
    report = _report(_attach_in_a_new_process(warm_ws, url, IMAGES_PATH, "v3"))
    # Then no DVC package was imported, the files are there, at the tag's commit
    assert HEAVY.isdisjoint(report["loaded"]), HEAVY.intersection(report["loaded"])
    assert report["commit"] == data_registry.tags["v3"]
    assert report["files"] == len(list((warm_ws / "images").rglob("*.bin"))) > 0
    # And the .dvc file is the one `dvc import` (DVC's path) writes for the same call
    force_cold_attach(monkeypatch)
    DatasetService(cold_ws).attach(url, IMAGES_PATH, rev="v3")
    assert (warm_ws / "images.dvc").read_text() == (cold_ws / "images.dvc").read_text()
    # And DVC sees a standard, up-to-date import
    assert json.loads(dvc("status", "--json", cwd=warm_ws).stdout or "{}") == {}
    # And the mirror is shared with the cache's group (folders setgid, group-writable)
    mirror = mirror_path(load_settings().data_cache, url)
    assert (mirror.stat().st_mode & 0o7777) == 0o2775
    assert (mirror.parent.stat().st_mode & 0o7777) == 0o2775
    lock = mirror.with_suffix(".lock")
    assert (lock.stat().st_mode & 0o777) == 0o664


def test_a_floating_rev_that_moved_upstream_is_fetched(
    fresh_registry, tmp_path, monkeypatch, warm_calls, fetches
):
    # Given a remote registry attached once at main (the mirror made then)
    url = _bare_copy(fresh_registry.url, tmp_path / "server.git")
    first = tmp_path / "first"
    first.mkdir()
    old = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="images")
    fetched_before = len(fetches)
    # And main moved on the server, the new version's objects already in the shared cache
    # (another user attached it straight from the registry's folder, not through the mirror)
    new_commit = fresh_registry.add_dataset(IMAGES_PATH, 12, seed=7)
    git("push", "-q", str(tmp_path / "server.git"), "HEAD:main", cwd=Path(fresh_registry.url))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    DatasetService(elsewhere).attach(fresh_registry.url, IMAGES_PATH, rev="main")
    # When main is attached from the URL into a new destination
    warm_calls.clear()
    new = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="latest")
    # Then the warm path fetched the moved branch and attached its new commit
    assert warm_calls == ["latest"]
    assert fetches[fetched_before:] == [new_commit]
    assert new.commit == new_commit != old.commit
    assert len(list((first / "latest").rglob("*.bin"))) == 12
    # And the destination locked at the old commit keeps it, told that main moved
    with pytest.warns(RevisionMoved, match=new_commit[:12]):
        again = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="images")
    assert again.commit == old.commit
    assert warm_calls == ["latest", "images"]
    # And an unmoved branch costs no fetch
    DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="latest-again")
    assert fetches[fetched_before:] == [new_commit]


def test_a_pinned_commit_attaches_with_the_server_gone(
    data_registry, filled_cache, tmp_path, monkeypatch, warm_calls
):
    # Given a remote registry whose mirror holds v2, and a workspace holding points@v1
    server = tmp_path / "server.git"
    url = _bare_copy(data_registry.url, server)
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    service = DatasetService(ws)
    service.attach(url, POINTS, rev="v1")
    shutil.rmtree(ws / "points")
    # When the server is unreachable
    shutil.rmtree(server)
    # Then a commit pinned by its id attaches from the mirror, warm
    pinned = service.attach(url, POINTS, rev=data_registry.tags["v2"], to="pinned")
    assert pinned.commit == data_registry.tags["v2"]
    # And the locked import at the destination is made whole (upstream unknown, no warning)
    kept = service.attach(url, POINTS, rev="v1")
    assert kept.commit == data_registry.tags["v1"] and kept.upstream_commit is None
    assert len(list((ws / "points").iterdir())) == 2
    assert warm_calls == ["points", "pinned", "points"]
    # But a floating rev needs the server: DVC's path says it cannot reach it, as before
    with pytest.raises(NotFound, match="not found or unreachable"):
        service.attach(url, POINTS, rev="v2", to="floating")
    assert not (ws / "floating").exists()


def test_two_processes_attaching_first_share_one_mirror(data_registry, filled_cache, tmp_path):
    # Given a remote registry no one has mirrored yet and two warm workspaces
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    workspaces = [_warm_workspace(tmp_path / f"ws{i}", filled_cache) for i in range(2)]
    # When two new processes attach from it at the same time
    procs = [_attach_in_a_new_process(ws, url, IMAGES_PATH, "main") for ws in workspaces]
    reports = [_report(p) for p in procs]
    # Then both attached the same commit without DVC, each whole
    for ws, report in zip(workspaces, reports, strict=True):
        assert HEAVY.isdisjoint(report["loaded"]), HEAVY.intersection(report["loaded"])
        assert report["commit"] == data_registry.commit_of("main")
        assert len(list((ws / "images").rglob("*.bin"))) == report["files"]
    # And one mirror was built, nothing half-built left beside it
    mirrors = mirror_path(load_settings().data_cache, url).parent
    assert sorted(p.name for p in mirrors.iterdir() if p.suffix == ".git") == [
        mirror_path(load_settings().data_cache, url).name
    ]
    assert not [p for p in mirrors.iterdir() if p.name.startswith((".building-", ".broken-"))]


def test_a_colleagues_clone_attaches_warm_from_the_mirror(
    data_registry, filled_cache, tmp_path, warm_calls
):
    # Given a project (git) that attached from a remote registry and committed the import
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    mine = tmp_path / "mine"
    mine.mkdir()
    git("init", "-q", cwd=mine)
    warm_up(load_settings().data_cache, filled_cache, mine)
    DatasetService(mine).attach(url, POINTS, rev="v2")
    git("add", "-A", cwd=mine)
    git("commit", "-qm", "points v2", cwd=mine)
    # When a colleague clones it (no data, no .dvc/config.local) and runs the same cell
    theirs = tmp_path / "theirs"
    git("clone", "-q", str(mine), str(theirs), cwd=tmp_path)
    result = DatasetService(theirs).attach(url, POINTS, rev="v2")
    # Then the warm path made the folder whole at the locked commit
    assert warm_calls == ["points", "points"]
    assert result.commit == data_registry.tags["v2"]
    assert sorted(p.name for p in (theirs / "points").iterdir()) == sorted(
        p.name for p in (mine / "points").iterdir()
    )
    assert json.loads(dvc("status", "--json", cwd=theirs).stdout or "{}") == {}


def _drop_packs(mirror: Path) -> None:
    for pack in (mirror / "objects" / "pack").iterdir():
        pack.unlink()


def _redirect(mirror: Path) -> None:
    with open(mirror / "config", "a") as f:
        f.write('[url "file:///nowhere/"]\n\tinsteadOf = file:///\n')


def _half_built(mirror: Path) -> None:
    shutil.rmtree(mirror)
    (mirror / "objects").mkdir(parents=True)
    (mirror / "HEAD").write_text("garbage")


def _truncate_packs(mirror: Path) -> None:
    for pack in (mirror / "objects" / "pack").glob("*.pack"):
        os.chmod(pack, 0o644)
        pack.write_bytes(pack.read_bytes()[:40])


@pytest.mark.parametrize("damage", [_drop_packs, _redirect, _half_built, _truncate_packs])
def test_a_damaged_mirror_is_rebuilt(data_registry, filled_cache, tmp_path, warm_calls, damage):
    # Given a remote registry's mirror, then damaged
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    DatasetService(ws).attach(url, POINTS, rev="v1", to="before")
    damage(mirror_path(load_settings().data_cache, url))
    # When the next attach reads it
    result = DatasetService(ws).attach(url, POINTS, rev="v2", to="after")
    # Then the mirror was rebuilt and the attach stayed warm and right
    mirror = pygit2.Repository(str(mirror_path(load_settings().data_cache, url)))
    assert mirror[data_registry.tags["v2"]].type_str == "commit"
    assert not [entry.name for entry in mirror.config if entry.name.startswith("url.")]
    assert warm_calls == ["before", "after"]
    assert result.commit == data_registry.tags["v2"]
    assert len(list((ws / "after").iterdir())) == 2


@pytest.mark.parametrize(
    ("path", "rev"), [(POINTS, "no-such-tag"), ("datasets/nothing", "v1"), (POINTS, "abcdef12")]
)
def test_a_bad_rev_or_dataset_gets_dvcs_error(
    data_registry, filled_cache, tmp_path, monkeypatch, path, rev
):
    # Given a remote registry and a warm workspace
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    # When a bad rev or an unknown dataset is attached, with and without the warm path
    with pytest.raises(NotFound) as warm_error:
        DatasetService(ws).attach(url, path, rev=rev)
    force_cold_attach(monkeypatch)
    with pytest.raises(NotFound) as cold_error:
        DatasetService(ws).attach(url, path, rev=rev)
    # Then the error is DVC's path's, naming what was wrong; nothing was attached
    assert str(warm_error.value) == str(cold_error.value)
    assert (rev if "no-such" in rev or "abc" in rev else path) in str(warm_error.value)
    assert not [p for p in ws.glob("*.dvc") if p.is_file()]
