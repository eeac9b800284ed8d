"""The registry against a hostile caller: a digest is no permission (the OCI rule for
cross-repository mounts), declared sizes must match the stored blob, and nothing is
committed that cannot be served back."""

from __future__ import annotations

import uuid
from pathlib import Path

import blake3
import pytest

from lepton_jupyter.errors import Invalid
from lepton_jupyter.registry.schema import FileEntry, PublishRequest
from lepton_jupyter.registry.service import Principal, RegistryService
from tests.fixtures.registry import ALICE, BOB

SECRET = b"vision's weights" * 64


def _request(digest: str, size: int, path: str = "w.bin", **extra) -> PublishRequest:
    return PublishRequest(
        files=[FileEntry(path=path, digest=digest, size=size)], kind="file", entry=path, **extra
    )


def _upload(registry: RegistryService, who: Principal, content: bytes) -> str:
    """An upload as the REST route makes it: streamed, hashed, then recorded as ``who``'s."""
    address = "blake3:" + blake3.blake3(content).hexdigest()
    writer = registry.begin_upload(who, address)
    writer.write(content)
    assert registry.finish_upload(who, writer, address) == address
    return address


@pytest.fixture
def vision_secret(registry: RegistryService) -> str:
    """alice publishes vision/resnet holding SECRET; its blob address."""
    address = _upload(registry, ALICE, SECRET)
    registry.publish(ALICE, "vision/resnet", _request(address, len(SECRET)))
    return address


def test_a_digest_is_not_a_read_capability(registry, vision_secret):
    # Given bob, with no role on vision, who learned the digest of vision's weights
    fresh = RegistryService(registry.store, registry.blobs)  # bob's own server process
    # When he asks whether it is stored, then it is "missing" like any unknown blob
    assert fresh.missing_blobs(BOB, [vision_secret]) == [vision_secret]
    # And publishing a version of his own that names it is refused the same way
    with pytest.raises(Invalid, match="not uploaded first"):
        fresh.publish(BOB, "bob/stolen", _request(vision_secret, len(SECRET)))
    assert fresh.models(BOB) == []


def test_a_caller_who_uploads_the_bytes_or_may_read_them_may_reference_them(
    registry, vision_secret
):
    fresh = RegistryService(registry.store, registry.blobs)
    # Given bob uploads the very same bytes himself (he holds them: no secret learned)
    assert _upload(fresh, BOB, SECRET) == vision_secret
    # Then his version may name that blob
    assert fresh.missing_blobs(BOB, [vision_secret]) == []
    assert fresh.publish(BOB, "bob/mine", _request(vision_secret, len(SECRET))).version == 1
    # And a reader of vision may reuse vision's blobs without uploading them again
    carol = Principal("carol")
    fresh.grant(ALICE, "vision", "reader", user="carol")
    assert fresh.missing_blobs(carol, [vision_secret]) == []
    assert fresh.publish(carol, "carol/copy", _request(vision_secret, len(SECRET))).version == 1


@pytest.mark.parametrize("declared", [1, len(SECRET) + 1, 2**63 - 1])
def test_declared_sizes_must_match_the_stored_blob(registry, declared):
    address = _upload(registry, ALICE, SECRET)
    with pytest.raises(Invalid, match=rf"declared as {declared} bytes.*holds {len(SECRET)}"):
        registry.publish(ALICE, "vision/resnet", _request(address, declared))
    assert registry.models(ALICE) == []


def test_uploads_recorded_by_one_service_do_not_leak_to_another_user(registry, tmp_path):
    source = tmp_path / f"{uuid.uuid4().hex}.bin"
    source.write_bytes(b"alice only")
    address, _ = registry.store_file(ALICE, source)
    assert registry.missing_blobs(ALICE, [address]) == []
    assert registry.missing_blobs(BOB, [address]) == [address]


def test_fresh_service_sees_no_uploads(registry, tmp_path: Path):
    # A service started later (a restarted server) knows no uploads: the blob must be
    # referenced through a readable version or uploaded again.
    source = tmp_path / "x.bin"
    source.write_bytes(b"x")
    address, _ = registry.store_file(ALICE, source)
    assert RegistryService(registry.store, registry.blobs).missing_blobs(ALICE, [address]) == [
        address
    ]


def test_a_near_miss_suggests_only_namespaces_the_caller_has_a_role_in(registry, vision_secret):
    from lepton_jupyter.errors import NotFound

    # bob has no role on vision: a near miss does not suggest it
    with pytest.raises(NotFound) as info:
        registry.versions(BOB, "visio/resnet")
    assert "vision" not in info.value.message
    # while alice, who may read it, gets the suggestion
    with pytest.raises(NotFound, match="Did you mean 'vision'"):
        registry.versions(ALICE, "visio/resnet")
