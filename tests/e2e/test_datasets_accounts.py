"""The shared data cache between two real Unix accounts of one group, as on a hub.

Real: the accounts (made by the session as root, see tests/fixtures/accounts.py), each
running the ``lepton`` CLI and the ``dvc`` CLI as itself under umask 077, a git + DVC data
registry with a local DVC remote, ``fs.protected_hardlinks`` as the host has it. The cache is
set up the way the README tells an operator: a root-owned folder in the members' group, then
``lepton datasets verify --fix-permissions`` as root. The registry is root's, on a shared
disk, in the members' git ``safe.directory`` (as the README tells a site to do).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from lepton_jupyter.datasets.cache import FOLDER_MODE, OBJECT_MODE, objects_root
from lepton_jupyter.datasets.service import DatasetService
from lepton_jupyter.settings import load_settings
from tests.fixtures.accounts import Account, Members, protected_hardlinks
from tests.fixtures.datasets import IMAGES_PATH, DataRegistry, make_registry

pytestmark = pytest.mark.slow

POINTS = "datasets/points"
IMAGES = 40


@pytest.fixture(scope="module")
def registry(cache_members: Members) -> DataRegistry:
    folder = cache_members.root / "data"
    folder.mkdir(mode=0o755)
    made = make_registry(folder, images=IMAGES)
    subprocess.run(["chmod", "-R", "a+rX", str(folder)], check=True)
    cache_members.trust_repository(Path(made.url))
    return made


@pytest.fixture
def shared(cache_members: Members, registry: DataRegistry, tmp_path: Path) -> dict:
    """A fresh shared cache set up by root, and a private workspace per member."""
    world = cache_members.root / tmp_path.name
    world.mkdir(mode=0o755)
    cache = world / "cache"
    cache.mkdir()
    os.chown(cache, 0, cache_members.gid)
    cache.chmod(0o3775)
    assert operator_verify(cache, fix=True).permissions == []
    spaces = {}
    for account in (cache_members.alice, cache_members.bob):
        ws = world / f"ws-{account.name}"
        ws.mkdir(mode=0o755)
        os.chown(ws, account.uid, account.gid)
        spaces[account.name] = ws
    return {"cache": cache, "ws": spaces, "url": registry.url, "registry": registry}


def operator_verify(cache: Path, fix: bool = False):
    """``lepton datasets verify [--fix-permissions]`` as root, the operator."""
    settings = load_settings(data_cache=cache)
    return DatasetService(cache.parent, settings).verify(fix_permissions=fix)


def lepton(account: Account, shared: dict, *args: str) -> subprocess.CompletedProcess:
    return account.lepton(
        "datasets", *args, cwd=shared["ws"][account.name], LEPTON_DATA_CACHE=str(shared["cache"])
    )


def attach(account: Account, shared: dict, path: str, rev: str, to: str) -> dict:
    done = lepton(
        account, shared, "attach", shared["url"], path, "--rev", rev, "--to", to, "--json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def object_path(cache: Path, content_md5: str) -> Path:
    return objects_root(cache) / content_md5[:2] / content_md5[2:]


def registry_file(shared: dict, rel: str) -> Path:
    return Path(shared["registry"].url) / rel


def assert_nothing_attached(ws: Path, to: str) -> None:
    left = sorted(p.name for p in ws.iterdir() if to in p.name)
    assert left == [], f"an attach that was refused left {left}"


def test_two_members_share_the_cache_and_the_check_of_the_others_objects_is_remembered(
    cache_members, shared
):
    alice, bob, cache = cache_members.alice, cache_members.bob, shared["cache"]
    # Given alice attaches images (she fetches them: the objects are hers, hard-linked)
    first = attach(alice, shared, IMAGES_PATH, "v3", "images")
    assert first["link_type"] == "hardlink" and first["hashed_objects"] == 0
    # Then, her umask 077 notwithstanding, every folder is 3775 in the members' group and
    # every object 0444 in that group
    for folder in [cache, *cache.rglob("*")]:
        st = folder.lstat()
        if stat.S_ISDIR(st.st_mode):
            assert stat.S_IMODE(st.st_mode) == FOLDER_MODE, folder
        else:
            assert stat.S_IMODE(st.st_mode) == OBJECT_MODE, folder
            assert st.st_uid == alice.uid
        assert st.st_gid == cache_members.gid, folder
    # When bob attaches the same data
    second = attach(bob, shared, IMAGES_PATH, "v3", "images")
    # Then he hashed each of alice's objects (files and manifest) before linking it, and
    # links them as the kernel allows (hard links to others' files are refused by
    # fs.protected_hardlinks)
    assert second["hashed_objects"] == IMAGES + 1
    assert second["link_type"] == ("symlink" if protected_hardlinks() else "hardlink")
    bob_file = shared["ws"][bob.name] / "images" / "part000" / "000000.bin"
    assert md5(bob_file) == md5(registry_file(shared, f"{IMAGES_PATH}/part000/000000.bin"))
    # And his next attach of them links without hashing: the checks were remembered
    again = attach(bob, shared, IMAGES_PATH, "v3", "images-again")
    assert again["hashed_objects"] == 0
    # When bob moves another dataset from v1 to v2 and detaches it
    attach(alice, shared, POINTS, "v1", "points")
    assert attach(bob, shared, POINTS, "v1", "points")["hashed_objects"] == 3
    updated = lepton(bob, shared, "update", "points", "--rev", "v2", "--json")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(updated.stdout)["commit"] == shared["registry"].tags["v2"]
    bob_points = shared["ws"][bob.name] / "points"
    assert md5(bob_points / "train.csv") == md5(registry_file(shared, f"{POINTS}/train.csv"))
    detached = lepton(bob, shared, "detach", "points")
    assert detached.returncode == 0, detached.stderr
    assert not bob_points.exists()
    # Then alice's copy is untouched, and verify (as either member) finds nothing wrong
    alice_train = shared["ws"][alice.name] / "points" / "train.csv"
    assert alice_train.stat().st_nlink >= 2
    for account in (alice, bob):
        report = lepton(account, shared, "verify", "--json")
        assert report.returncode == 0, report.stdout + report.stderr
        assert json.loads(report.stdout)["corrupted"] == []


def test_a_member_cannot_rename_or_remove_another_members_object(cache_members, shared):
    alice, bob, cache = cache_members.alice, cache_members.bob, shared["cache"]
    attach(alice, shared, POINTS, "v1", "points")
    train = shared["ws"][alice.name] / "points" / "train.csv"
    target = object_path(cache, md5(train))
    before = md5(target)
    # When bob renames a file of his over alice's object, or removes it
    evil = shared["ws"][bob.name] / "evil"
    bob.run(["sh", "-c", f"echo evil > {evil}"], cwd=evil.parent)
    moved = bob.run(["mv", "-f", str(evil), str(target)], cwd=evil.parent)
    removed = bob.run(["rm", "-f", str(target)], cwd=evil.parent)
    # Then the sticky folders refuse both, and the object is alice's and intact
    assert moved.returncode != 0 and "Operation not permitted" in moved.stderr
    assert removed.returncode != 0 and "Operation not permitted" in removed.stderr
    assert md5(target) == before and target.stat().st_uid == alice.uid


@pytest.mark.parametrize("planted", ["file", "manifest", "manifest of a part"])
def test_an_object_planted_before_anyone_fetched_it_is_refused_naming_its_owner(
    cache_members, shared, planted
):
    alice, bob, cache = cache_members.alice, cache_members.bob, shared["cache"]
    # Given bob plants, under the name of an object nobody fetched yet, other bytes
    if planted == "file":
        oid = md5(registry_file(shared, f"{POINTS}/train.csv"))  # points v2 = main
    else:
        dvc_file = registry_file(shared, f"{POINTS}.dvc").read_text()
        oid = dvc_file.split("md5: ")[1].split()[0]
    target = object_path(cache, oid.removesuffix(".dir"))
    if planted != "file":
        target = target.with_name(target.name + ".dir")
    script = f"printf '[]' > {target} && chmod 0444 {target}"
    assert bob.run(["sh", "-c", script], cwd=cache).returncode == 0
    # When alice attaches that dataset (or one file of it: the manifest is read all the same)
    what = f"{POINTS}/test.csv" if planted == "manifest of a part" else POINTS
    refused = lepton(alice, shared, "attach", shared["url"], what, "--rev", "v2", "--to", "points")
    # Then the attach is refused, naming the object and its owner, and nothing is attached
    assert refused.returncode == 2
    assert str(target) in refused.stderr and f"owner {bob.name}" in refused.stderr
    assert "Nothing was attached" in refused.stderr
    assert_nothing_attached(shared["ws"][alice.name], "points")
    # And verify lists it with its owner
    report = operator_verify(cache)
    assert [(c.path, c.owner) for c in report.corrupted] == [(str(target), bob.name)]


def test_a_cache_made_by_plain_dvc_is_open_to_renames_until_fix_permissions(cache_members, shared):
    alice, bob = cache_members.alice, cache_members.bob
    # Given a cache set up the old way (a root-owned 2775 folder), filled by plain DVC: its
    # folders are alice's and not sticky
    cache = shared["cache"].parent / "plain-dvc-cache"
    cache.mkdir()
    os.chown(cache, 0, cache_members.gid)
    cache.chmod(0o2775)
    shared = {**shared, "cache": cache}
    ws = shared["ws"][alice.name]
    for args in (
        ["init", "--no-scm", "-q"],
        ["config", "cache.dir", str(cache)],
        ["config", "cache.shared", "group"],
        ["import", shared["url"], POINTS, "--rev", "v1", "-o", "points"],
    ):
        done = alice.run([alice.python, "-m", "dvc", *args], cwd=ws)
        assert done.returncode == 0, done.stderr
    train = object_path(cache, md5(ws / "points" / "train.csv"))
    assert stat.S_IMODE(train.parent.stat().st_mode) == 0o2775
    assert train.parent.stat().st_uid == alice.uid
    # When bob renames a file over alice's object: it works, the folder is not sticky
    evil = shared["ws"][bob.name] / "evil"
    bob.run(["sh", "-c", f"echo evil > {evil} && chmod 0444 {evil}"], cwd=evil.parent)
    assert bob.run(["mv", "-f", str(evil), str(train)], cwd=evil.parent).returncode == 0
    # Then alice's next attach hashes the object (now bob's) and refuses it
    refused = lepton(alice, shared, "attach", shared["url"], POINTS, "--rev", "v1", "--to", "p2")
    assert refused.returncode == 2 and f"owner {bob.name}" in refused.stderr
    assert_nothing_attached(ws, "p2")
    # And the operator's verify names the folders and the object
    report = operator_verify(cache)
    assert {p.path for p in report.permissions} >= {str(cache / "files"), str(train.parent)}
    assert [c.owner for c in report.corrupted] == [bob.name]
    # When root removes it and runs verify --fix-permissions
    train.unlink()
    fixed = operator_verify(cache, fix=True)
    assert fixed.fixed >= 2 and fixed.permissions == []
    assert stat.S_IMODE(train.parent.stat().st_mode) == FOLDER_MODE
    assert train.parent.stat().st_uid == 0
    # Then alice's attach fetches it again, and bob's rename is refused from now on
    attach(alice, shared, POINTS, "v1", "p3")
    bob.run(["sh", "-c", f"echo evil > {evil}"], cwd=evil.parent)
    moved = bob.run(["mv", "-f", str(evil), str(train)], cwd=evil.parent)
    assert moved.returncode != 0 and "Operation not permitted" in moved.stderr


def test_a_cache_a_member_may_not_create_is_a_clear_error(cache_members, shared):
    # Given a cache path in a folder only root may write to
    bob = cache_members.bob
    missing = shared["cache"].parent / "no-such-cache"
    # When bob attaches through it
    done = bob.lepton(
        "datasets",
        "attach",
        shared["url"],
        POINTS,
        cwd=shared["ws"][bob.name],
        LEPTON_DATA_CACHE=str(missing),
    )
    # Then the error names the cache and what to do, and nothing is attached
    assert done.returncode == 2, done.stderr
    assert f"shared data cache {missing} does not exist" in done.stderr
    assert "LEPTON_DATA_CACHE" in done.stderr
    assert_nothing_attached(shared["ws"][bob.name], "points")
