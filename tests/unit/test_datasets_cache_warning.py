"""Attach warns, once per workspace, when this user's writes would reach the shared cache."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from lepton_jupyter import attach
from lepton_jupyter.datasets.api import SharedCacheWritable
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_PATH, DataRegistry

POINTS = "datasets/points"


def _attach_recording(registry: DataRegistry, path: str, to: str) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attach(registry.url, path, rev="v3", to=to)
    return [str(w.message) for w in caught if issubclass(w.category, SharedCacheWritable)]


def test_hardlinks_to_a_cache_this_user_can_write_warn_once_per_workspace(
    data_registry: DataRegistry, workspace: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given hard links from the shared cache, and cache objects this user can write (root
    # always can; an owner can after chmod, which the README's table describes)
    monkeypatch.setenv("LEPTON_CACHE_LINK_TYPES", "hardlink")
    first = _attach_recording(data_registry, IMAGES_PATH, "images")
    if os.geteuid() != 0:
        assert first == []  # read-only objects: nothing to warn about yet
        for obj in (load_settings().data_cache).rglob("*"):
            if obj.is_file():
                obj.chmod(0o644)
        first = _attach_recording(data_registry, POINTS, "points")
    # Then the first attach says what is at stake and what to do
    (message,) = first
    assert "hardlink" in message and "shared data cache" in message
    assert "reflink,copy" in message
    # And the next attach in this workspace does not repeat it
    assert _attach_recording(data_registry, POINTS, "points-again") == []


def test_copies_do_not_warn(
    data_registry: DataRegistry, workspace: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("LEPTON_CACHE_LINK_TYPES", "copy")
    assert _attach_recording(data_registry, POINTS, "points") == []
