"""Hard delete of yanked versions (admins) and the blob collector, on SQLite and PostgreSQL.

- A deleted version stays as a tombstone: its number is never given to other bytes, and
  loading it says who deleted it, when, and why it was yanked.
- Only a yanked version, only by an admin, and not while an alias or a comparison points
  at it (each refusal names what points at it).
- Its blobs go when no other version names them, after the upload grace; a publish
  uploading or naming such a blob meanwhile keeps it, or is refused whole, never committed
  naming a removed blob.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from lepton_jupyter.compare.service import CompareService
from lepton_jupyter.errors import Conflict, Forbidden, Invalid, NotFound
from lepton_jupyter.registry.maintenance import reclaim
from lepton_jupyter.registry.policy import TeamPolicy
from lepton_jupyter.registry.schema import FileEntry, PublishRequest
from lepton_jupyter.registry.service import Principal, RegistryService
from tests.fixtures.registry import ALICE, BOB, one_file_request
from tests.unit.test_compare_gates import BETTER, WORSE
from tests.unit.test_compare_gates import request as comparison_request

CAROL = Principal("carol")
HOUR = 3600.0


def put(registry: RegistryService, who: Principal, name: str, data: bytes, tmp: Path, **kw):
    source = tmp / f"{name.replace('/', '-')}-{data.hex()}.bin"
    source.write_bytes(data)
    return registry.publish(who, name, one_file_request(registry, who, source, **kw))


def age(registry: RegistryService, digest: str, seconds: float = 2 * HOUR) -> None:
    """Make a stored blob look uploaded ``seconds`` ago (as a blob of an old version is)."""
    then = time.time() - seconds
    os.utime(registry.blobs.key(digest), (then, then))


@pytest.fixture
def net(registry, tmp_path) -> RegistryService:
    """vision/net v1 (prod), v2, v3 (yanked: 'leaked test data'), by alice (vision's admin)."""
    put(registry, ALICE, "vision/net", b"one", tmp_path, alias="prod")
    put(registry, ALICE, "vision/net", b"two", tmp_path)
    put(registry, ALICE, "vision/net", b"three", tmp_path)
    registry.yank(ALICE, "vision/net", 3, "leaked test data")
    return registry


def digest_of(registry: RegistryService, number: int) -> str:
    return registry.resolve(ALICE, f"vision/net:{number}").files[0].digest


def test_a_deleted_version_is_a_tombstone_whose_number_is_never_reused(net, tmp_path):
    blob = digest_of(net, 3)
    age(net, blob)
    # When alice deletes the yanked v3
    deleted = net.delete_version(ALICE, "vision/net", 3)
    # Then it is gone with its blob, which no other version held
    assert (deleted.dry_run, deleted.deleted.by) == (False, "alice")
    assert deleted.blobs == deleted.reclaimed == [blob]
    assert not net.blobs.exists(blob)
    # And loading it names it, says who deleted it and why it had been yanked
    with pytest.raises(NotFound) as e:
        net.resolve(ALICE, "vision/net:3")
    assert "vision/net:3 was deleted by alice at " in e.value.message
    assert "(yanked by alice: leaked test data)" in e.value.message
    assert "its number is not reused" in e.value.message
    for refused in (
        lambda: net.lineage(ALICE, "vision/net:3"),
        lambda: net.file(ALICE, "vision/net", 3, "x.bin"),
        lambda: net.set_alias(ALICE, "vision/net", "staging", 3),
    ):
        with pytest.raises(NotFound, match="was deleted by alice"):
            refused()
    # The listing of withdrawn versions shows the tombstone, without files
    listed = net.versions(ALICE, "vision/net", include_yanked=True)
    assert [(v.version, v.deleted is not None, len(v.files)) for v in listed] == [
        (1, False, 1),
        (2, False, 1),
        (3, True, 0),
    ]
    # And the next publish gets a fresh number
    assert put(net, ALICE, "vision/net", b"four", tmp_path).version == 4
    assert net.fsck().clean


def test_a_dry_run_lists_what_would_go_and_changes_nothing(net, tmp_path):
    # Given v4, yanked, holding v1's bytes and bytes of its own
    shared, own = tmp_path / "shared.bin", tmp_path / "own.bin"
    shared.write_bytes(b"one")
    own.write_bytes(b"four")
    files = []
    for source in (shared, own):
        digest, size = net.store_file(ALICE, source)
        files.append(FileEntry(path=source.name, digest=digest, size=size))
    net.publish(ALICE, "vision/net", PublishRequest(files=files, kind="directory"))
    net.yank(ALICE, "vision/net", 4, "wrong format")
    # When alice asks what deleting it would remove
    plan = net.delete_version(ALICE, "vision/net", 4, dry_run=True)
    # Then only its own blob is listed, and nothing was done
    assert (plan.dry_run, plan.deleted, plan.reclaimed) == (True, None, [])
    assert plan.blobs == [files[1].digest]
    assert net.resolve(ALICE, "vision/net:4").deleted is None
    assert all(net.blobs.exists(f.digest) for f in files)
    # And the real delete keeps the blob v1 still names
    for f in files:
        age(net, f.digest)
    assert net.delete_version(ALICE, "vision/net", 4).reclaimed == [files[1].digest]
    assert net.blobs.exists(files[0].digest)
    assert net.resolve(ALICE, "vision/net:1").files[0].digest == files[0].digest


def test_a_young_blob_of_a_deleted_version_is_left_to_fsck_gc(net):
    blob = digest_of(net, 3)  # uploaded moments ago: within the upload grace
    deleted = net.delete_version(ALICE, "vision/net", 3)
    assert deleted.blobs == [blob] and deleted.reclaimed == []
    report = net.fsck(gc=False)
    assert report.orphans == [blob] and net.blobs.exists(blob)
    assert net.fsck(gc=True).removed == []  # still within the hour
    assert net.fsck(gc=True, grace_seconds=0).removed == [blob]
    assert not net.blobs.exists(blob)


def test_only_a_yanked_version_and_only_an_admin(net):
    net.grant(ALICE, "vision", "maintainer", user="bob")
    with pytest.raises(Forbidden, match="deleting versions in 'vision' needs the admin role"):
        net.delete_version(BOB, "vision/net", 3)
    with pytest.raises(Forbidden, match="needs the admin role; you are maintainer"):
        net.delete_version(BOB, "vision/net", 3, dry_run=True)
    # No role: the uniform 404, the same as for a namespace that does not exist
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        net.delete_version(CAROL, "vision/net", 3)
    with pytest.raises(NotFound, match="'visiom' does not exist or you have no role there"):
        net.delete_version(CAROL, "visiom/net", 3)
    with pytest.raises(Conflict, match=r"vision/net:2 is not yanked; .*\(yank it first"):
        net.delete_version(ALICE, "vision/net", 2)
    with pytest.raises(NotFound, match="no version 9"):
        net.delete_version(ALICE, "vision/net", 9)
    # A registry admin (a hub's --admin) may delete in any namespace
    root = RegistryService(net.store, net.blobs, policy=TeamPolicy.of(["root"]))
    assert root.delete_version(Principal("root"), "vision/net", 3).deleted.by == "root"
    with pytest.raises(Conflict, match="vision/net:3 was deleted by root"):
        net.delete_version(ALICE, "vision/net", 3)


def test_a_deleted_version_cannot_be_unyanked_or_yanked_again(net):
    net.delete_version(ALICE, "vision/net", 3)
    with pytest.raises(Conflict, match=r"was deleted by alice.* It cannot be un-yanked"):
        net.unyank(ALICE, "vision/net", 3)
    with pytest.raises(Conflict, match="already yanked"):
        net.yank(ALICE, "vision/net", 3, "again")


def test_refused_while_an_alias_or_a_comparison_points_at_it(net):
    # Given a comparison of v2 against v1, and staging left on v2 when it was yanked
    compared = CompareService(net).record(ALICE, comparison_request(net, {2: BETTER, 1: WORSE}))
    net.set_alias(ALICE, "vision/net", "staging", 2)
    net.yank(ALICE, "vision/net", 2, "bad labels")
    # Then deleting it names the alias, and once moved, the comparison
    with pytest.raises(Conflict, match=r"Cannot delete vision/net:2: @staging still points"):
        net.delete_version(ALICE, "vision/net", 2, dry_run=True)
    net.set_alias(ALICE, "vision/net", "staging", 1)
    with pytest.raises(Conflict, match=rf"comparison {compared.id} includes it"):
        net.delete_version(ALICE, "vision/net", 2)
    assert net.resolve(ALICE, "vision/net:2").deleted is None


def test_a_publish_uploading_a_deleted_versions_blob_keeps_it(net, tmp_path):
    # Given v3's blob, stored long ago
    blob = digest_of(net, 3)
    age(net, blob)
    # When bob uploads the same bytes for a publish of his own (deduplicated: nothing new
    # is written), and alice deletes v3 and runs the collector before bob publishes
    source = tmp_path / "bobs.bin"
    source.write_bytes(b"three")
    request = one_file_request(net, BOB, source)
    assert request.files[0].digest == blob
    assert net.delete_version(ALICE, "vision/net", 3).reclaimed == []
    assert net.fsck(gc=True).removed == []
    # Then bob's publish names a blob that is still there
    published = net.publish(BOB, "bob/net", request)
    assert net.blobs.verify(published.files[0].digest) == blob
    assert net.fsck().clean


def test_a_blob_collected_while_a_publish_runs_refuses_the_publish_whole(
    net, tmp_path, monkeypatch
):
    """The collector runs between the publish's checks and its transaction (interleaved
    here by running it as the publish's transaction starts), on a store where a blob's age
    cannot be refreshed (another user's file, an object store)."""
    monkeypatch.setattr(net.blobs, "refresh", lambda address: None)
    source = tmp_path / "bobs.bin"
    source.write_bytes(b"three")
    request = one_file_request(net, BOB, source)
    net.delete_version(ALICE, "vision/net", 3)
    age(net, request.files[0].digest)
    writing = net.store.writing

    def collect_first(work):
        monkeypatch.setattr(net.store, "writing", writing)
        assert reclaim(net.store, net.blobs, [request.files[0].digest], HOUR)
        return writing(work)

    monkeypatch.setattr(net.store, "writing", collect_first)
    with pytest.raises(Invalid, match="removed by the blob collector while this publish ran"):
        net.publish(BOB, "bob/net", request)
    assert net.models(BOB) == []  # nothing committed: no namespace, model or version
    assert net.fsck().missing == []


def test_a_blob_collected_the_moment_it_lands_refuses_the_publish(net, tmp_path, monkeypatch):
    """The collector (no grace) removing an upload between its rename into place and the
    publish that names it: the upload still answers, the publish is refused whole."""
    from lepton_jupyter.registry import blobs as blobs_module

    real_replace = os.replace

    def replace_then_collect(src, dst):
        real_replace(src, dst)
        if "/blake3/" in str(dst):
            reclaim(net.store, net.blobs, list(net.blobs.addresses()), -1.0)

    monkeypatch.setattr(blobs_module.os, "replace", replace_then_collect)
    source = tmp_path / "landed.bin"
    source.write_bytes(b"collected on arrival")
    request = one_file_request(net, BOB, source)
    assert not net.blobs.exists(request.files[0].digest)
    with pytest.raises(Invalid, match=r"not uploaded first|blob collector"):
        net.publish(BOB, "bob/landed", request)
    monkeypatch.setattr(blobs_module.os, "replace", real_replace)
    # And the same bytes uploaded again are stored and publish (the stat cache does not
    # answer for a blob that is gone)
    again = one_file_request(net, BOB, source)
    assert net.publish(BOB, "bob/landed", again).version == 1
    assert net.blobs.exists(again.files[0].digest)


def test_publishes_racing_the_collector_never_name_a_removed_blob(net, tmp_path):
    """Publishers and a collector with no grace at all, in threads: every publish either
    commits with its blob stored or is refused; no committed version misses a blob."""
    stop = threading.Event()
    removed: list[str] = []

    def collect() -> None:
        while not stop.is_set():
            removed.extend(reclaim(net.store, net.blobs, list(net.blobs.addresses()), -1.0))

    collector = threading.Thread(target=collect)
    collector.start()
    outcomes = []
    try:
        for i in range(12):
            source = tmp_path / f"race-{i % 3}.bin"
            source.write_bytes(f"race {i % 3}".encode())
            try:
                request = one_file_request(net, BOB, source)
                outcomes.append(net.publish(BOB, "bob/race", request).version)
            except Invalid as e:  # collected before the publish named it: refused whole
                assert "not uploaded first" in str(e) or "blob collector" in str(e)
                outcomes.append(None)
    finally:
        stop.set()
        collector.join(timeout=120)
    assert not collector.is_alive()
    assert net.fsck(verify=False).missing == []
    published = [n for n in outcomes if n is not None]
    # Which publishes win depends on the machine's timing; whole either way: the ones
    # committed are numbered without a gap and nothing else was stored
    assert published == list(range(1, len(published) + 1))
    assert removed or published
    if published:
        listed = net.versions(BOB, "bob/race", include_yanked=True)
        assert [v.version for v in listed] == published
    for number in published:
        entry = net.resolve(BOB, f"bob/race:{number}").files[0]
        assert net.blobs.exists(entry.digest)
