"""The blob store on S3 through fsspec (s3fs): an upload's age restarts when it is uploaded
again or named by a publish, and the collector reads ages from the store.

S3 itself cannot run here: moto's S3 server stands in for it (a real HTTP endpoint that
s3fs talks to, with S3's CopyObject and LastModified rules), found through
``AWS_ENDPOINT_URL`` as a deployment's S3-compatible store is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import s3fs
from moto.server import ThreadedMotoServer

from lepton_jupyter.registry.blobs import BlobStore
from lepton_jupyter.registry.maintenance import fsck
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.fixtures.processes import wait_for
from tests.fixtures.registry import free_port


@pytest.fixture
def s3_blobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[BlobStore]:
    """A blob store at ``s3://<new bucket>/registry`` on a moto S3 server of its own (moto
    keeps its buckets per process, hence a new bucket each time, and a reset after)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "lepton-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lepton-test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()  # one made for another endpoint
    bucket = f"lepton-{uuid.uuid4().hex[:12]}"
    try:
        blobs = BlobStore(f"s3://{bucket}/registry")
        blobs.fs.mkdir(bucket)
        yield blobs
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=60)
        server.stop()


def _upload(blobs: BlobStore, content: bytes) -> str:
    with blobs.writer() as writer:
        writer.write(content)
        return writer.commit()


def _stamp(blobs: BlobStore, address: str) -> float:
    blobs.fs.invalidate_cache()
    return blobs.fs.modified(blobs.key(address)).timestamp()


def test_refresh_restarts_an_objects_age_and_keeps_its_bytes(s3_blobs: BlobStore):
    # Given a blob stored a couple of seconds ago (LastModified counts whole seconds)
    address = _upload(s3_blobs, b"weights")
    stored = _stamp(s3_blobs, address)
    wait_for(lambda: s3_blobs.age(address) > 2, timeout=60, message="the blob to age")
    # When it is refreshed (as a publish naming it, or an upload of it again, does)
    s3_blobs.young_seconds = 1.0
    s3_blobs.refresh(address)
    # Then the store stamps it anew, so the collector sees it young; its bytes are the same
    assert _stamp(s3_blobs, address) > stored
    assert s3_blobs.age(address) < time.time() - stored
    assert s3_blobs.verify(address) == address
    assert s3_blobs.fs.cat(s3_blobs.key(address)) == b"weights"


def test_a_blob_just_uploaded_is_not_rewritten(s3_blobs: BlobStore):
    # Given a blob uploaded now (younger than young_seconds: a minute)
    address = _upload(s3_blobs, b"fresh")
    stored = _stamp(s3_blobs, address)
    # When it is refreshed, then it is left as it is (no server-side copy)
    s3_blobs.refresh(address)
    assert _stamp(s3_blobs, address) == stored
    assert "lepton-refreshed" not in s3_blobs.fs.metadata(s3_blobs.key(address))


def test_refreshing_a_collected_blob_does_not_bring_it_back(s3_blobs: BlobStore):
    address = _upload(s3_blobs, b"gone")
    s3_blobs.delete(address)
    s3_blobs.young_seconds = 0.0
    s3_blobs.refresh(address)  # best effort: no error, and no empty object in its place
    assert not s3_blobs.exists(address)


def test_fsck_collects_orphans_on_s3(s3_blobs: BlobStore, tmp_path: Path):
    # Given an orphan on S3 (uploaded, never published) and an empty registry
    store = SqlRegistryStore(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        orphan = _upload(s3_blobs, b"orphan")
        # Then a check lists it; with the hour's grace it is not reclaimable, nor collected
        report = fsck(store, s3_blobs, gc=True, grace_seconds=3600)
        assert report.orphans == [orphan] and report.removed == [] and s3_blobs.exists(orphan)
        # A dry run with no grace lists it as reclaimable and leaves it
        plan = fsck(store, s3_blobs, gc=True, dry_run=True, grace_seconds=0)
        assert plan.reclaimable == [orphan] and plan.removed == [] and s3_blobs.exists(orphan)
        # And the gc removes it
        removed: list[str] = []
        wait_for(lambda: removed.extend(fsck(store, s3_blobs, gc=True, grace_seconds=0).removed)
                 or removed, timeout=30)  # fmt: skip
        assert removed == [orphan] and not s3_blobs.exists(orphan)
    finally:
        store.dispose()
