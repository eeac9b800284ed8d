"""A team story against a real ``lepton registry serve``: publish over HTTP, grant a group
read access, load elsewhere, protected aliases, rollback, the CLI and fsck."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests
import torch

import lepton_jupyter as lepton
from lepton_jupyter.errors import Forbidden

# `lepton registry serve` as a subprocess.
pytestmark = pytest.mark.slow


def _as(monkeypatch, server, user: str, tmp_path) -> None:
    """Make the public API talk to ``server`` as ``user``, with that user's own local cache."""
    monkeypatch.setenv("LEPTON_REGISTRY_URL", server.url)
    monkeypatch.setenv("LEPTON_REGISTRY_TOKEN", server.tokens[user])
    monkeypatch.setenv("LEPTON_STATE_DIR", str(tmp_path / f"{user}-state"))


def _cli(server, user: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LEPTON_REGISTRY_URL": server.url,
        "LEPTON_REGISTRY_TOKEN": server.tokens[user],
        "LEPTON_STATE_DIR": str(tmp_path / f"{user}-cli"),
    }
    return subprocess.run(
        [sys.executable, "-m", "lepton_jupyter.cli", "registry", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_team_shares_models_through_the_standalone_service(
    registry_server, monkeypatch, tmp_path
):
    server = registry_server
    # Given alice publishes two versions of a model over HTTP
    _as(monkeypatch, server, "alice", tmp_path)
    model = torch.nn.Linear(3, 2)
    v1 = lepton.publish("vision/resnet", model, metrics={"acc": 0.7}, alias="staging")
    torch.nn.init.zeros_(model.weight)
    v2 = lepton.publish("vision/resnet", model, metrics={"acc": 0.8})
    assert (v1.version, v2.version) == (1, 2)
    # And grants the vision-readers group read access and pins prod
    lepton.grant("vision", "reader", group="vision-readers")
    lepton.set_alias("vision/resnet", "prod", 1)
    lepton.set_alias("vision/resnet", "prod", 2)

    # When carol (in vision-readers) loads prod from her own machine
    _as(monkeypatch, server, "carol", tmp_path)
    state = lepton.load_state_dict("vision/resnet@prod")
    # Then she gets version 2's tensors, downloaded and verified into her cache
    assert torch.equal(state["weight"], torch.zeros(2, 3))
    # But she may not publish or move aliases
    with pytest.raises(Forbidden, match="publishing to 'vision' needs the writer role; you are"):
        lepton.publish("vision/resnet", model)
    with pytest.raises(Forbidden, match="protected alias 'prod' in 'vision' needs the maintainer"):
        lepton.rollback("vision/resnet", "prod")

    # And bob, outside both, cannot even read
    _as(monkeypatch, server, "bob", tmp_path)
    with pytest.raises(Forbidden, match="reading 'vision' needs the reader role; you have no"):
        lepton.load("vision/resnet@prod")

    # When alice rolls prod back with the CLI
    rolled = _cli(server, "alice", tmp_path, "rollback", "vision/resnet", "prod")
    assert rolled.returncode == 0, rolled.stderr
    history = _cli(server, "alice", tmp_path, "history", "vision/resnet", "prod", "--json")
    moves = json.loads(history.stdout)
    assert [(m["action"], m["version"], m["actor"]) for m in moves] == [
        ("set", 1, "alice"),
        ("set", 2, "alice"),
        ("rollback", 1, "alice"),
    ]
    # And lineage shows carol's load of version 2
    _as(monkeypatch, server, "alice", tmp_path)
    assert [x.user for x in lepton.lineage("vision/resnet:2").loaded_by] == ["carol"]

    # Then the store behind the service is consistent
    fsck = subprocess.run(
        [
            sys.executable,
            "-m",
            "lepton_jupyter.cli",
            "registry",
            "fsck",
            "--json",
            "--db",
            server.db_url,
            "--storage",
            str(server.storage),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert json.loads(fsck.stdout.split("\norphans")[0])["mismatches"] == []


def test_the_service_refuses_unknown_tokens_and_bad_cli_input(registry_server, tmp_path):
    response = requests.get(
        f"{registry_server.url}/lepton/api/registry/models",
        timeout=30,
        headers={"Authorization": "token not-a-token"},
    )
    assert response.status_code == 403
    assert "message" in response.json()
    bad = _cli(registry_server, "alice", tmp_path, "versions", "Vision/x")
    assert bad.returncode == 2
    assert "Invalid namespace name 'Vision'" in bad.stderr
    missing = _cli(registry_server, "alice", tmp_path, "grant", "vision", "reader")
    assert missing.returncode == 2 and "exactly one of --user or --group" in missing.stderr
