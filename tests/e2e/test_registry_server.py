"""A team story against a real ``lepton registry serve``: publish over HTTP, grant a group
read access, load elsewhere, protected aliases, rollback, the CLI and fsck."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import requests
import torch

import lepton_jupyter as lepton
from lepton_jupyter.errors import Conflict, Forbidden, NotFound
from lepton_jupyter.registry.api import YankedVersionWarning
from lepton_jupyter.registry.client import get_client

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


def _fsck(server, *args: str) -> subprocess.CompletedProcess:
    """``lepton registry fsck`` as the operator: on the service's database and storage."""
    return subprocess.run(
        [
            *(sys.executable, "-m", "lepton_jupyter.cli", "registry", "fsck", *args),
            *("--db", server.db_url, "--storage", str(server.storage)),
        ],
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
    # as her role there says (what a federated member check asks)
    assert get_client().role_of("vision") == "reader"
    # And a kernel of hers that loads over HTTP never imports SQLAlchemy (the stores are the
    # service's: a team registry's users should not pay for them at import)
    kernel = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, lepton_jupyter as lepton\n"
            "lepton.load_state_dict('vision/resnet@prod')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))",
        ],
        env={**os.environ, "LEPTON_STATE_DIR": str(tmp_path / "carol-kernel")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (kernel.returncode, kernel.stdout.strip()) == (0, "[]"), kernel.stderr

    # And bob, outside both, cannot even tell that vision exists
    _as(monkeypatch, server, "bob", tmp_path)
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        lepton.load("vision/resnet@prod")
    # nor by asking for his role there: none, as for a namespace that does not exist
    assert get_client().role_of("vision") is None and get_client().role_of("nothing") is None

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
    # And lineage shows carol's two loads of version 2 (this session's and her kernel's)
    _as(monkeypatch, server, "alice", tmp_path)
    assert [x.user for x in lepton.lineage("vision/resnet:2").loaded_by] == ["carol", "carol"]

    # Then the store behind the service is consistent
    fsck = _fsck(server, "--json")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert json.loads(fsck.stdout.split("\norphans")[0])["mismatches"] == []


def test_yank_and_revoke_through_the_standalone_service(registry_server, monkeypatch, tmp_path):
    server = registry_server
    # Given alice's two versions, prod on the first, and vision-readers (carol) may read
    _as(monkeypatch, server, "alice", tmp_path)
    model = torch.nn.Linear(3, 2)
    lepton.publish("vision/resnet", model, alias="prod")
    torch.nn.init.zeros_(model.weight)
    lepton.publish("vision/resnet", model)
    lepton.grant("vision", "reader", group="vision-readers")

    # When alice yanks version 2 with the CLI
    yanked = _cli(server, "alice", tmp_path, "yank", "vision/resnet", "2", "--reason", "NaN loss")
    assert yanked.returncode == 0, yanked.stderr
    # Then carol no longer sees it listed, but loading it by number still works, with why
    _as(monkeypatch, server, "carol", tmp_path)
    assert [v.version for v in lepton.versions("vision/resnet")] == [1]
    with pytest.warns(YankedVersionWarning, match="vision/resnet:2 was yanked by alice: NaN loss"):
        state = lepton.load_state_dict("vision/resnet:2")
    assert torch.equal(state["weight"], torch.zeros(2, 3))
    # And no alias can be moved onto it
    _as(monkeypatch, server, "alice", tmp_path)
    with pytest.raises(Conflict, match="version 2 of vision/resnet is yanked"):
        lepton.set_alias("vision/resnet", "prod", 2)
    # When alice un-yanks it with the CLI, it is listed again and carol loads it unwarned
    unyanked = _cli(server, "alice", tmp_path, "unyank", "vision/resnet", "2", "--json")
    assert unyanked.returncode == 0, unyanked.stderr
    assert json.loads(unyanked.stdout)["yanked"] is None
    _as(monkeypatch, server, "carol", tmp_path)
    assert [v.version for v in lepton.versions("vision/resnet")] == [1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("error", YankedVersionWarning)
        lepton.load_state_dict("vision/resnet:2")

    # When alice yanks it again and deletes it with the CLI (bob, no admin, may not)
    _as(monkeypatch, server, "alice", tmp_path)
    lepton.yank("vision/resnet", 2, "NaN loss")
    refused = _cli(server, "bob", tmp_path, "delete", "vision/resnet", "2")
    assert refused.returncode != 0 and "does not exist or you have no role there" in refused.stderr
    plan = _cli(server, "alice", tmp_path, "delete", "vision/resnet", "2", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    blobs = json.loads(plan.stdout)["blobs"]
    assert blobs and json.loads(plan.stdout)["dry_run"] is True
    deleted = _cli(server, "alice", tmp_path, "delete", "vision/resnet", "2", "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["deleted"]["by"] == "alice"
    # Then carol's load of it names the deletion, and the operator's gc reclaims its blobs
    _as(monkeypatch, server, "carol", tmp_path)
    with pytest.raises(NotFound, match="vision/resnet:2 was deleted by alice"):
        lepton.load_state_dict("vision/resnet:2")
    gc = _fsck(server, "--gc", "--grace", "0", "--json")
    assert gc.returncode == 0, gc.stderr
    assert set(blobs) <= set(json.loads(gc.stdout)["removed"])
    assert lepton.load_state_dict("vision/resnet@prod")["weight"].shape == (2, 3)
    _as(monkeypatch, server, "alice", tmp_path)

    # When alice revokes the group's grant with the CLI
    revoked = _cli(server, "alice", tmp_path, "revoke", "vision", "--group", "vision-readers")
    assert revoked.returncode == 0, revoked.stderr
    # Then carol's next load is the 404 of a namespace she cannot see
    _as(monkeypatch, server, "carol", tmp_path)
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        lepton.load("vision/resnet@prod")
    # And bob's publish there is refused before a byte is uploaded
    _as(monkeypatch, server, "bob", tmp_path)
    stored = sorted(p.name for p in server.storage.rglob("*") if p.is_file())
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        lepton.publish("vision/resnet", torch.nn.Linear(4, 4))
    assert sorted(p.name for p in server.storage.rglob("*") if p.is_file()) == stored


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


def test_the_operators_admin_checks_and_deletes_over_rest(registry_server, monkeypatch, tmp_path):
    server = registry_server
    # Given alice's model with a yanked second version, in a namespace root has no role on
    _as(monkeypatch, server, "alice", tmp_path)
    model = torch.nn.Linear(3, 2)
    lepton.publish("vision/resnet", model, alias="prod")
    lepton.publish("vision/resnet", torch.nn.Linear(3, 2))
    lepton.yank("vision/resnet", 2, "trained on the test split")
    # When alice (a namespace admin, not a registry admin) asks for a check of the store
    with pytest.raises(Forbidden, match=r"needs the registry admin role.*alice is not"):
        get_client().fsck()

    # Then root, named with --admin on a token-mode service, checks it over REST
    _as(monkeypatch, server, "root", tmp_path)
    report = get_client().fsck(verify=True)
    assert report.verified and report.blobs == report.referenced == 2
    assert (report.missing, report.mismatches, report.orphans) == ([], [], [])
    # And may hard-delete the yanked version in alice's namespace, as the one who did it
    deleted = lepton.delete_version("vision/resnet", 2)
    assert deleted.deleted is not None and deleted.deleted.by == "root"
    # While prod's version 1 still loads for alice
    _as(monkeypatch, server, "alice", tmp_path)
    assert lepton.load_state_dict("vision/resnet@prod")["weight"].shape == (2, 3)
    with pytest.raises(NotFound, match="vision/resnet:2 was deleted by root"):
        lepton.load("vision/resnet:2")
