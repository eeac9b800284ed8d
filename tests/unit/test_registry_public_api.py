"""The public API as a notebook uses it, on the direct store: publish, load, pins, lineage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

import lepton_jupyter as lepton
from lepton_jupyter import pins
from lepton_jupyter.errors import Conflict, Invalid, NotFound
from lepton_jupyter.registry import blobs
from lepton_jupyter.registry.client import get_client


def test_publish_a_module_and_load_its_state_dict_back():
    # Given a trained module
    model = torch.nn.Linear(4, 2)
    # When it is published with metrics and an alias
    version = lepton.publish(
        "vision/linear",
        model,
        metrics={"acc": 0.93},
        params={"lr": 0.1},
        description="first try",
        alias="staging",
    )
    # Then it is version 1, aliased, and the publish is in the run ledger
    assert (version.ref, version.kind, version.aliases) == (
        "vision/linear:1",
        "state_dict",
        ["staging"],
    )
    assert version.metrics == {"acc": 0.93} and version.description == "first try"
    assert pins.ledger().entries("publish")[-1]["key"] == "vision/linear:1"
    # And loading it anywhere gives the same tensors
    state = lepton.load_state_dict("vision/linear@staging")
    assert torch.equal(state["weight"], model.state_dict()["weight"])


def test_load_links_blobs_instead_of_copying(tmp_path):
    """Read-only is checked on the mode bits, which hold for every user: ``os.access`` is
    always true for root, so the old check passed as root whatever the mode. Mutation
    check: the store without its ``chmod 0444`` of a new blob -> red."""
    # Given a published checkpoint file
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(os.urandom(1 << 20))
    version = lepton.publish("vision/ckpt", checkpoint, alias="prod")
    # When it is loaded twice
    first = lepton.load("vision/ckpt@prod")
    second = lepton.load("vision/ckpt@prod")
    # Then both loads return the same cached path, named like the published file
    assert first == second and first.name == "ckpt.pt"
    assert first.read_bytes() == checkpoint.read_bytes()
    # And that path is a hard link to the stored blob, read-only so edits cannot reach it
    client = get_client()
    blob = Path(client.blobs.key(version.files[0].digest))
    assert first.stat().st_ino == blob.stat().st_ino
    assert first.stat().st_mode & 0o222 == 0


def test_a_folder_is_published_and_loaded_as_a_folder(tmp_path):
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"w" * 100)
    version = lepton.publish("nlp/tokenizer", folder)
    assert version.kind == "directory"
    assert [f.path for f in version.files] == ["config.json", "sub/weights.bin"]
    loaded = lepton.load("nlp/tokenizer")
    assert (loaded / "sub" / "weights.bin").read_bytes() == b"w" * 100
    with pytest.raises(Invalid, match="is a folder; load_state_dict needs"):
        lepton.load_state_dict("nlp/tokenizer")


def test_republishing_unchanged_files_does_not_read_them(tmp_path, monkeypatch):
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(os.urandom(1 << 20))
    first = lepton.publish("vision/ckpt", checkpoint)

    # Given any attempt to store bytes again would fail
    def no_writes(self, data):
        raise AssertionError("an unchanged file was read and stored again")

    monkeypatch.setattr(blobs.BlobWriter, "write", no_writes)
    # When the unchanged file is published again, it becomes version 2 with the same content
    second = lepton.publish("vision/ckpt", checkpoint)
    assert (second.version, second.digest) == (2, first.digest)
    monkeypatch.undo()
    # But a file changed in place (same size, new mtime) is hashed again
    checkpoint.write_bytes(os.urandom(1 << 20))
    third = lepton.publish("vision/ckpt", checkpoint)
    assert third.digest != first.digest


def test_a_rerun_resolves_an_alias_to_the_pinned_version(tmp_path, monkeypatch):
    # Given prod at version 1 when the original run loaded it
    for i in range(2):
        (tmp_path / "m.bin").write_bytes(f"model {i}".encode())
        lepton.publish("vision/m", tmp_path / "m.bin")
    lepton.set_alias("vision/m", "prod", 1)
    lepton.load("vision/m@prod")
    recorded = pins.ledger().entries("model")
    assert [(e["key"], e["version"]) for e in recorded] == [("vision/m@prod", 1)]
    # And prod moved to 2 afterwards
    lepton.set_alias("vision/m", "prod", 2)
    # When a rerun runs with the original ledger as its pins
    pins_file = tmp_path / "pins.json"
    pins_file.write_text(json.dumps(recorded))
    monkeypatch.setenv(pins.PINS_ENV, str(pins_file))
    pins.reset()
    # Then prod resolves to version 1 again
    assert lepton.load("vision/m@prod").read_bytes() == b"model 0"
    # And a pin to a version that does not exist is an error naming it
    pins_file.write_text(json.dumps([{**recorded[0], "version": 9}]))
    pins.reset()
    with pytest.raises(NotFound, match=r"pins 'vision/m@prod' to vision/m:9, which no longer"):
        lepton.load("vision/m@prod")


def test_publish_records_lineage_from_the_run_ledger(tmp_path, monkeypatch):
    # Given a workspace git repo with an uncommitted change
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for cmd in (
        ["init", "-q"],
        ["config", "user.email", "t@example.com"],
        ["config", "user.name", "t"],
    ):
        subprocess.run(["git", *cmd], cwd=workspace, check=True)
    (workspace / "train.py").write_text("print(1)\n")
    subprocess.run(["git", "add", "."], cwd=workspace, check=True)
    subprocess.run(["git", "commit", "-qm", "train"], cwd=workspace, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=workspace, check=True, capture_output=True, text=True
    ).stdout.strip()
    (workspace / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("LEPTON_NOTEBOOK_PATH", "notebooks/train.ipynb")
    monkeypatch.setenv("LEPTON_RUN_ID", "run-7")
    # And a run that attached a dataset, loaded a base model and launched a job
    pins.record(
        "dataset",
        "repo|data/points|v2",
        url="repo",
        path="data/points",
        rev="v2",
        commit="abc123",
        hash="md5:ff",
    )
    base = lepton.publish("vision/base", torch.nn.Linear(2, 2), alias="prod")
    lepton.load("vision/base@prod")
    pins.record("job", "job-42")
    # When it publishes a model
    lepton.publish("vision/head", torch.nn.Linear(2, 1), params={"lr": 0.01}, metrics={"acc": 0.8})
    # Then lineage names the data commit, the parent version, the job, notebook and commit
    lineage = lepton.lineage("vision/head")
    assert lineage.datasets == [
        {"url": "repo", "path": "data/points", "rev": "v2", "commit": "abc123", "hash": "md5:ff"}
    ]
    assert lineage.parents == [
        {"ref": "vision/base@prod", "name": "vision/base", "version": 1, "digest": base.digest}
    ]
    assert lineage.jobs == ["job-42"]
    assert lineage.notebook == "notebooks/train.ipynb"
    assert lineage.git is not None
    assert (lineage.git["commit"], lineage.git["dirty"]) == (commit, True)
    assert lineage.params == {"lr": 0.01} and lineage.metrics == {"acc": 0.8}
    # And the parent knows which run loaded it, from which notebook
    (loaded,) = lepton.lineage("vision/base:1").loaded_by
    assert (loaded.notebook, loaded.run) == ("notebooks/train.ipynb", "run-7")


def test_history_and_rollback_through_the_api(tmp_path):
    for i in range(3):
        (tmp_path / "m.bin").write_bytes(bytes([i]))
        lepton.publish("vision/m", tmp_path / "m.bin")
    lepton.set_alias("vision/m", "prod", 2)
    lepton.set_alias("vision/m", "prod", 3)
    assert lepton.rollback("vision/m", "prod").version == 2
    assert [e.version for e in lepton.history("vision/m", "prod")] == [2, 3, 2]
    assert [m.name for m in lepton.models()] == ["vision/m"]
    assert [v.version for v in lepton.versions("vision/m")] == [1, 2, 3]
    assert lepton.grant("vision", "reader", group="*").group == "*"


def test_bad_objects_and_paths_are_refused(tmp_path):
    with pytest.raises(Invalid, match=r"takes a torch nn\.Module, a state_dict, a file"):
        lepton.publish("vision/x", 42)
    with pytest.raises(NotFound, match="no such file or folder"):
        lepton.publish("vision/x", tmp_path / "missing.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Invalid, match="has no files"):
        lepton.publish("vision/x", tmp_path / "empty")
    with pytest.raises(Invalid, match="Invalid model name 'X'"):
        lepton.publish("vision/X", torch.nn.Linear(1, 1))
    with pytest.raises(Invalid, match="Invalid alias 'Prod'"):
        lepton.publish("vision/x", torch.nn.Linear(1, 1), alias="Prod")
    # Nothing was stored by the refused publishes
    assert lepton.models() == []


def test_a_corrupt_blob_is_refused_on_load(tmp_path):
    (tmp_path / "m.bin").write_bytes(b"good bytes")
    version = lepton.publish("vision/m", tmp_path / "m.bin")
    blob = Path(get_client().blobs.key(version.files[0].digest))
    blob.chmod(0o644)
    blob.write_bytes(b"evil bytes")
    with pytest.raises(Conflict, match="is corrupt"):
        lepton.load("vision/m:1")


def test_any_fsspec_storage_works_and_downloads_are_verified(monkeypatch, tmp_path):
    # Given blobs on a non-local fsspec filesystem
    monkeypatch.setenv("LEPTON_REGISTRY_STORAGE_URL", f"memory://{tmp_path.name}/blobs")
    (tmp_path / "m.bin").write_bytes(b"remote bytes")
    version = lepton.publish("vision/m", tmp_path / "m.bin")
    # Then a load downloads into the local cache and verifies the bytes
    assert lepton.load("vision/m").read_bytes() == b"remote bytes"
    # And a blob altered in the store is caught when downloaded
    (tmp_path / "n.bin").write_bytes(b"other bytes")
    other = lepton.publish("vision/n", tmp_path / "n.bin")
    client = get_client()
    with client.blobs.fs.open(client.blobs.key(other.files[0].digest), "wb") as f:
        f.write(b"tampered!!!")
    with pytest.raises(Conflict, match="hashes to"):
        lepton.load("vision/n")
    assert version.version == 1


def test_magic_runs_the_api_verbs(tmp_path):
    from lepton_jupyter.registry.cli import magic_registry

    (tmp_path / "m.bin").write_bytes(b"magic")
    published = magic_registry(
        ["publish", "vision/m", str(tmp_path / "m.bin"), "--alias", "prod"], None, None
    )
    assert published.ref == "vision/m:1"
    assert magic_registry(["load", "vision/m@prod"], None, None).endswith("m.bin")
    with pytest.raises(Invalid, match="Usage: %lepton registry"):
        magic_registry(["serve"], None, None)
    with pytest.raises(Invalid, match="Usage: %lepton registry"):
        magic_registry(["alias", "vision/m"], None, None)


def test_hub_identity_supplies_groups_and_single_user_servers_act_as_their_owner():
    # JupyterHub is not installed here: its user model is stood in by a plain object with
    # the `hub_user` dict the hub's identity provider attaches.
    import getpass
    from types import SimpleNamespace

    from jupyter_server.auth.identity import PasswordIdentityProvider

    from lepton_jupyter.registry.identity import principal_of

    hub_user = SimpleNamespace(username="alice", hub_user={"groups": ["vision", "research"]})
    principal = principal_of(hub_user, identity_provider=object())
    assert (principal.user, principal.groups) == ("alice", frozenset({"vision", "research"}))
    anonymous = SimpleNamespace(username="3f2a...", hub_user=None)
    owner = principal_of(anonymous, identity_provider=PasswordIdentityProvider())
    assert owner.user == getpass.getuser()


def test_unyank_and_delete_through_the_api_and_in_a_dry_run_rerun(tmp_path, monkeypatch):
    # Given versions 1 and 2 of a model, both yanked
    model = torch.nn.Linear(2, 2)
    lepton.publish("team/withdrawn", model)
    lepton.publish("team/withdrawn", torch.nn.Linear(2, 2))
    lepton.yank("team/withdrawn", 1, "bad")
    lepton.yank("team/withdrawn", 2, "worse")
    # When a dry-run rerun un-yanks 1 and deletes 2
    path = pins.write_pins([], tmp_path / "pins.json", mode="dry-run", workdir=tmp_path / "w")
    monkeypatch.setenv(pins.PINS_ENV, str(path))
    pins.reset()
    assert lepton.unyank("team/withdrawn", 1).yanked is not None
    planned = lepton.delete_version("team/withdrawn", 2)
    # Then both are recorded as not applied and nothing changed
    assert planned.dry_run and planned.deleted is None and len(planned.blobs) == 1
    recorded = [(e["kind"], e["applied"]) for e in pins.ledger().entries()[-2:]]
    assert recorded == [("unyank", False), ("delete", False)]
    monkeypatch.delenv(pins.PINS_ENV)
    pins.reset()
    assert [v.version for v in lepton.versions("team/withdrawn")] == []
    # Outside the rerun they are made: 1 is listed again, 2 is a tombstone
    assert lepton.unyank("team/withdrawn", 1).yanked is None
    assert lepton.delete_version("team/withdrawn", 2).deleted is not None
    assert [v.version for v in lepton.versions("team/withdrawn")] == [1]
    with pytest.raises(NotFound, match="team/withdrawn:2 was deleted by"):
        lepton.load("team/withdrawn:2")
