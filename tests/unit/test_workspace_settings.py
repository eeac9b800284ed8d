"""A folder's ``lepton.json`` gives everything started in it or below the same settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lepton_jupyter.errors import Invalid
from lepton_jupyter.settings import load_settings, write_workspace_file


@pytest.fixture
def no_state_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # The autouse lepton_env fixture sets LEPTON_STATE_DIR; a fresh shell has none.
    monkeypatch.delenv("LEPTON_STATE_DIR")


def test_a_subfolder_finds_the_workspace_file_with_relative_paths(
    tmp_path: Path, no_state_variable: None
):
    # Given a workspace whose lepton.json names its state folder relative to itself
    write_workspace_file(tmp_path, state_dir="../state", data_registries=["/srv/registry"])
    inner = tmp_path / "notebooks" / "deep"
    inner.mkdir(parents=True)
    # When settings are loaded from a folder below it (a kernel's working folder)
    settings = load_settings(inner)
    # Then they are the workspace's, paths relative to the file
    assert settings.state_dir == tmp_path.parent / "state"
    assert settings.data_cache == tmp_path.parent / "state" / "data-cache"
    assert settings.data_registries == ["/srv/registry"]


def test_variables_and_overrides_win_over_the_workspace_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    write_workspace_file(tmp_path, state_dir=str(tmp_path / "file-state"), protected_aliases=["x"])
    monkeypatch.setenv("LEPTON_STATE_DIR", str(tmp_path / "env-state"))
    settings = load_settings(tmp_path, protected_aliases=["prod", "staging"])
    assert settings.state_dir == tmp_path / "env-state"
    assert settings.protected_aliases == ["prod", "staging"]


def test_without_a_workspace_file_the_defaults_hold(tmp_path: Path, no_state_variable: None):
    settings = load_settings(tmp_path)
    assert settings.state_dir.name == "lepton"
    assert settings.data_registries == []


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("{not json", "cannot be read as JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"state_dri": "x"}), "unknown state_dri"),
        (json.dumps({"data_registries": 5}), "data_registries"),
        (b"\xff\xfe{}", "cannot be read"),
    ],
)
def test_a_broken_workspace_file_is_a_clear_error_naming_it(
    tmp_path: Path, no_state_variable: None, content: str | bytes, named: str
):
    path = tmp_path / "lepton.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(Invalid) as info:
        load_settings(tmp_path)
    assert str(path) in info.value.message
    assert named in info.value.message


def test_an_empty_list_means_empty_wherever_it_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given no protected alias configured at each level in turn
    assert load_settings(tmp_path, protected_aliases=[]).protected_aliases == []
    write_workspace_file(tmp_path, protected_aliases=[])
    assert load_settings(tmp_path).protected_aliases == []
    # (a kernel of a server with protected_aliases = [] inherits an empty variable)
    monkeypatch.setenv("LEPTON_PROTECTED_ALIASES", "")
    write_workspace_file(tmp_path, protected_aliases=["from-file"])
    assert load_settings(tmp_path).protected_aliases == []
    # And None (an option left unset) falls through to the next level
    assert load_settings(tmp_path, protected_aliases=None).protected_aliases == []
    monkeypatch.delenv("LEPTON_PROTECTED_ALIASES")
    assert load_settings(tmp_path, protected_aliases=None).protected_aliases == ["from-file"]
    (tmp_path / "lepton.json").unlink()
    assert load_settings(tmp_path).protected_aliases == ["prod"]


def test_an_empty_cache_link_types_is_refused_by_name(tmp_path: Path):
    from lepton_jupyter.datasets.service import DatasetService

    settings = load_settings(tmp_path, cache_link_types=[])
    with pytest.raises(Invalid) as info:
        DatasetService(tmp_path, settings)
    assert "cache_link_types (LEPTON_CACHE_LINK_TYPES) is empty" in info.value.message
