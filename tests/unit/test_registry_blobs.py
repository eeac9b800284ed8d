"""The content-addressed blob store: addresses name their algorithm, writes are atomic."""

from __future__ import annotations

import hashlib
import os

import pytest

from lepton_jupyter.errors import Conflict, Invalid
from lepton_jupyter.registry.blobs import BlobStore, StatCache, link_or_copy, parse_address


def test_sha256_addresses_are_supported_alongside_blake3(tmp_path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"payload")
    store = BlobStore(str(tmp_path / "blobs"), algorithm="sha256")
    address, size = store.put_file(source)
    assert address == "sha256:" + hashlib.sha256(b"payload").hexdigest() and size == 7
    assert store.verify(address) == address
    assert list(store.addresses()) == [address]


@pytest.mark.parametrize("bad", ["md5:00", "blake3:xyz", "sha256:" + "0" * 63, "plain"])
def test_malformed_addresses_are_refused(bad):
    with pytest.raises(Invalid, match="is not a blob address"):
        parse_address(bad)


def test_an_upload_is_only_visible_once_complete_and_matching(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    writer = store.writer()
    writer.write(b"half")
    # Nothing is addressable while the upload is in flight; it is a temporary file
    assert list(store.addresses()) == [] and len(store.temporaries()) == 1
    with pytest.raises(Conflict, match="does not match its address"):
        writer.commit(expected="blake3:" + "0" * 64)
    # A refused upload leaves nothing behind
    assert list(store.addresses()) == [] and store.temporaries() == []


def test_stat_cache_knows_unchanged_files_only(tmp_path):
    cache = StatCache(tmp_path / "stat.db")
    source = tmp_path / "a.bin"
    source.write_bytes(b"one")
    cache.put(source.stat(), "blake3:" + "1" * 64)
    assert cache.get(source.stat()) == "blake3:" + "1" * 64
    source.write_bytes(b"two")
    os.utime(source, ns=(1, 1))
    assert cache.get(source.stat()) is None


def test_links_fall_back_in_the_configured_order(tmp_path):
    source = tmp_path / "blob"
    source.write_bytes(b"x")
    assert link_or_copy(source, tmp_path / "sym", ["symlink"]) == "symlink"
    assert (tmp_path / "sym").is_symlink()
    assert link_or_copy(source, tmp_path / "copy", []) == "copy"
    assert (tmp_path / "copy").read_bytes() == b"x"
