"""``jupyter lab`` started in a workspace with a ``lepton.json`` serves that workspace's state."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lepton_jupyter.settings import write_workspace_file


@pytest.fixture
def workspace_state(jp_root_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Given a served folder whose lepton.json names the state (as `lepton demo` writes it),
    # and a shell with no LEPTON_* variable
    state = tmp_path / "workspace-state"
    write_workspace_file(jp_root_dir, state_dir=str(state), data_registries=["/srv/data-reg"])
    monkeypatch.delenv("LEPTON_STATE_DIR")
    return state


@pytest.fixture
def jp_server_config(workspace_state: Path) -> dict:
    # No LeptonApp.state_dir: the server must find the workspace file itself.
    return {"ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}}}


async def test_the_server_serves_the_workspace_files_state(jp_fetch, workspace_state: Path):
    # When the sidebar asks the server where things live
    body = json.loads((await jp_fetch("lepton", "api", "status")).body)
    # Then it is the workspace's state and data registry
    assert str(workspace_state / "runs") in body["services"]["runs"]["detail"]
    assert "/srv/data-reg" in body["services"]["datasets"]["detail"]
    # And the kernels it starts inherit them
    assert os.environ["LEPTON_STATE_DIR"] == str(workspace_state)
