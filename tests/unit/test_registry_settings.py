"""The registry's upload grace is a setting (``registry_upload_grace_seconds``): how long a
blob a user uploaded counts as theirs to publish, and fsck's default grace for an orphan."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_jupyter.registry.service import RegistryService, open_service
from lepton_jupyter.settings import load_settings
from tests.fixtures.processes import wait_for
from tests.fixtures.registry import ALICE


@pytest.fixture
def open_registry(tmp_path: Path) -> Iterator:
    """Opens the registry service a server would, from settings, over one shared store."""
    opened: list[RegistryService] = []

    def open_with(**settings: object) -> RegistryService:
        service = open_service(load_settings(state_dir=tmp_path / "state", **settings))
        opened.append(service)
        return service

    yield open_with
    for service in opened:
        service.store.dispose()


def _blob(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(content)
    return path


def test_an_upload_is_the_uploaders_to_publish_for_the_configured_grace(open_registry, tmp_path):
    # Given the built-in grace (an hour), a blob alice uploaded is hers to publish
    patient = open_registry()
    assert patient.upload_grace_seconds == 3600.0
    address, _ = patient.store_file(ALICE, _blob(tmp_path, b"weights"))
    assert patient.missing_blobs(ALICE, [address]) == []
    # Given registry_upload_grace_seconds = 0.05, the same upload stops counting as hers
    # once that has passed: she has to show the bytes again
    hasty = open_registry(registry_upload_grace_seconds=0.05)
    hasty.store_file(ALICE, _blob(tmp_path, b"weights"))
    wait_for(lambda: hasty.missing_blobs(ALICE, [address]) == [address], timeout=30)
    assert patient.missing_blobs(ALICE, [address]) == []


def test_fsck_keeps_orphans_younger_than_the_configured_grace(open_registry, tmp_path):
    # Given an orphan blob (uploaded, never published)
    patient = open_registry()
    address, _ = patient.blobs.put_file(_blob(tmp_path, b"orphan"))
    # Then gc with the built-in grace keeps it; with a grace of 0.05 s gc removes it
    assert patient.fsck(gc=True).removed == []
    hasty = open_registry(registry_upload_grace_seconds=0.05)
    removed: list[str] = []
    wait_for(lambda: removed.extend(hasty.fsck(gc=True).removed) or removed, timeout=30)
    assert removed == [address] and not patient.blobs.exists(address)
