"""Datasets end to end: the real dvc CLI on an attach, interrupted attaches, cache protection,
the ``lepton datasets`` CLI and the ``%lepton attach`` magic."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lepton_jupyter.cli import main as lepton
from lepton_jupyter.datasets import DatasetService
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_FILES, IMAGES_PATH, dvc, run_as
from tests.fixtures.parts import require
from tests.fixtures.processes import pid_alive, wait_for

# The real dvc CLI, interrupted attaches and other users: one subprocess per step.
pytestmark = pytest.mark.slow

POINTS = "datasets/points"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_real_dvc_cli_works_on_an_attached_dataset(data_registry, workspace):
    # Given points attached at v1 by lepton
    DatasetService(workspace).attach(data_registry.url, POINTS, rev="v1")
    # Then `dvc status` agrees the workspace matches the import
    status = dvc("status", "--json", cwd=workspace)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout or "{}") == {}
    # When `dvc update --rev v2` moves it
    updated = dvc("update", "--rev", "v2", "points.dvc", cwd=workspace)
    assert updated.returncode == 0, updated.stderr
    # Then the .dvc file is pinned to v2 and the folder holds v2's 1200 samples
    dep = yaml.safe_load((workspace / "points.dvc").read_text())["deps"][0]
    assert dep["repo"]["rev"] == "v2" and dep["repo"]["rev_lock"] == data_registry.tags["v2"]
    rows = sum(len(f.read_text().splitlines()) - 1 for f in (workspace / "points").iterdir())
    assert rows == 1200
    # And when the folder is lost, `dvc pull` brings it back from the registry's remote
    before = {p.name: p.read_bytes() for p in (workspace / "points").iterdir()}
    shutil.rmtree(workspace / "points")
    pulled = dvc("pull", "points.dvc", cwd=workspace)
    assert pulled.returncode == 0, pulled.stderr
    assert {p.name: p.read_bytes() for p in (workspace / "points").iterdir()} == before
    assert json.loads(dvc("status", "--json", cwd=workspace).stdout or "{}") == {}


# Ctrl-C's disposition is set here, not inherited: a pytest started with SIGINT ignored
# (`nohup`, `cmd &` in a script, some CI wrappers) passes SIG_IGN on, and the attach would
# never see the signal.
_BLOCKING_ATTACH = """
import pathlib, signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
from lepton_jupyter.datasets import DatasetService
marker = pathlib.Path(sys.argv[3])
def progress(event):
    # Park the attach after its first batch of links, as a slow disk would.
    if event.phase == "link" and event.files_done > 0:
        marker.touch()
        time.sleep(600)
DatasetService(sys.argv[1]).attach(sys.argv[2], "datasets/images", rev="v3", progress=progress)
"""


def _start_blocking_attach(workspace: Path, url: str, marker: Path, started) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BLOCKING_ATTACH, str(workspace), url, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    started.append(proc)
    wait_for(
        lambda: marker.exists() or proc.poll() is not None,
        timeout=120,
        message="the attach to start linking",
    )
    assert proc.poll() is None, proc.stderr.read().decode()
    return proc


def _leftovers(workspace: Path) -> list[str]:
    return sorted(p.name for p in workspace.iterdir() if p.name not in (".dvc", ".dvcignore"))


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_attach_leaves_nothing_and_a_rerun_completes(
    data_registry, workspace, tmp_path, started_processes, sig
):
    """Checked with SIGINT ignored in pytest (``trap "" INT; exec pytest ...``): without the
    child's own SIGINT disposition the ctrl-c case hangs, then fails; with it, it passes."""
    # Given an attach that is halfway through linking the images
    marker = tmp_path / "linking"
    proc = _start_blocking_attach(workspace, data_registry.url, marker, started_processes)
    assert (workspace / ".images.lepton-staging").is_dir()
    # When it is killed (kill -9) or interrupted (Ctrl-C)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert not pid_alive(proc.pid)
    # Then there is no half-attached folder and no .dvc file
    assert not (workspace / "images").exists()
    assert not (workspace / "images.dvc").exists()
    if sig == signal.SIGINT:
        # Ctrl-C unwinds: even the hidden staging folder is gone
        assert _leftovers(workspace) == []
    # When the attach is run again
    result = DatasetService(workspace).attach(data_registry.url, IMAGES_PATH, rev="v3")
    # Then it completes, and nothing of the interrupted run remains
    assert result.files == IMAGES_FILES
    assert len([p for p in (workspace / "images").rglob("*") if p.is_file()]) == IMAGES_FILES
    assert _leftovers(workspace) == ["images", "images.dvc"]
    assert json.loads(dvc("status", "--json", cwd=workspace).stdout or "{}") == {}


@pytest.fixture
def shared_setup(world_readable_dir, data_registry, monkeypatch):
    """A workspace and shared cache other users can reach, points attached at v1."""
    require("root")
    cache, ws = world_readable_dir / "cache", world_readable_dir / "ws"
    ws.mkdir()
    ws.chmod(0o755)
    monkeypatch.setenv("LEPTON_DATA_CACHE", str(cache))
    return cache, ws


@pytest.mark.parametrize("link_type", ["hardlink", "symlink"])
def test_a_users_write_to_an_attached_file_fails_and_the_cache_is_intact(
    shared_setup, data_registry, monkeypatch, link_type
):
    # Given points attached from the shared cache with hardlinks (or symlinks)
    cache, ws = shared_setup
    monkeypatch.setenv("LEPTON_CACHE_LINK_TYPES", link_type)
    result = DatasetService(ws).attach(data_registry.url, POINTS, rev="v1")
    assert result.link_type == link_type
    target = ws / "points" / "train.csv"
    obj = Path(os.path.realpath(target)) if link_type == "symlink" else target
    before = _md5(obj)
    assert obj.stat().st_ino in {p.stat().st_ino for p in cache.rglob("*") if p.is_file()}
    # When an ordinary user (not root) appends to the attached file
    write = run_as("nobody", ["sh", "-c", f"echo corrupt >> {target}"])
    # Then the write fails with a clear permission error
    assert write.returncode != 0
    assert "Permission denied" in write.stderr
    # And the shared cache still holds the original bytes
    assert _md5(obj) == before
    report = DatasetService(ws).verify()
    assert report.checked >= 3 and report.corrupted == []


def test_verify_reports_a_cache_object_changed_through_a_hardlink(
    shared_setup, data_registry, capsys
):
    # Given points hardlinked from the shared cache
    cache, ws = shared_setup
    DatasetService(ws).attach(data_registry.url, POINTS, rev="v1")
    target = ws / "points" / "test.csv"
    # When root (who bypasses file permissions) appends to the attached file
    with target.open("a") as f:
        f.write("1,2,3\n")
    # Then `lepton datasets verify` names the corrupted cache object and exits 1
    assert lepton(["datasets", "verify"]) == 1
    err = capsys.readouterr().err
    assert "CORRUPT" in err and str(cache) in err


def test_lepton_datasets_cli_round_trip(data_registry, workspace, capsys):
    # Browse
    assert lepton(["datasets", "browse", data_registry.url, "--rev", "v3"]) == 0
    out = capsys.readouterr().out
    assert IMAGES_PATH in out and "v1" in out and "spirals" in out
    # Attach at v1, list (flagged: a newer tag exists), update, detach
    assert (
        lepton(
            [
                "datasets",
                "attach",
                data_registry.url,
                POINTS,
                "--rev",
                "v1",
                "--to",
                "data/points",
                "--json",
            ]
        )
        == 0
    )
    attached = json.loads(capsys.readouterr().out)
    assert attached["to"] == "data/points" and (workspace / "data" / "points.dvc").exists()
    assert lepton(["datasets", "list"]) == 0
    assert "newer tag upstream: v3" in capsys.readouterr().out
    assert lepton(["datasets", "update", "data/points", "--rev", "v2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["commit"] == data_registry.tags["v2"]
    assert lepton(["datasets", "detach", "data/points"]) == 0
    assert not (workspace / "data" / "points").exists()
    # Bad input: a clear message and exit code 2
    assert lepton(["datasets", "attach", data_registry.url, "datasets/pionts"]) == 2
    assert "Did you mean 'datasets/points'" in capsys.readouterr().err
    # The datasets-only entry point for batch scripts answers the same
    listed = subprocess.run(
        [sys.executable, "-m", "lepton_jupyter.datasets", "list", "--json"],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(listed.stdout) == []


def test_lepton_attach_magic(data_registry, workspace):
    from IPython.core.interactiveshell import InteractiveShell

    # Given a kernel with the lepton magics loaded
    shell = InteractiveShell.instance()
    try:
        shell.run_line_magic("load_ext", "lepton_jupyter")
        shell.user_ns["registry"] = data_registry.url
        # When the cell runs %lepton attach with a variable URL
        result = shell.run_line_magic(
            "lepton", "attach $registry datasets/points --rev v2 --to pts"
        )
        # Then the dataset is attached where asked, pinned to v2
        assert result.commit == data_registry.tags["v2"]
        assert (workspace / "pts.dvc").exists()
        assert load_settings().data_cache.exists()
    finally:
        InteractiveShell.clear_instance()
