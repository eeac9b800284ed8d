"""A hub's namespace rules (TeamPolicy) on the real service and store: hub groups are teams,
users own their personal namespace, operator-configured admins hold everything else."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_jupyter.errors import Forbidden, Invalid, NotFound
from lepton_jupyter.registry.blobs import BlobStore, StatCache
from lepton_jupyter.registry.policy import TeamPolicy
from lepton_jupyter.registry.service import Principal, RegistryService
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.unit.test_registry_service import put

ALICE = Principal("alice", frozenset({"vision"}))
CAROL = Principal("carol", frozenset({"vision"}))
BOB = Principal("bob", frozenset({"nlp"}))
OLGA = Principal("olga", frozenset({"lepton-admins"}))
ROOT = Principal("root")


@pytest.fixture
def hub_registry(registry_db_url: str, tmp_path: Path) -> Iterator[RegistryService]:
    store = SqlRegistryStore(registry_db_url)
    blobs = BlobStore(str(tmp_path / "blobs"), StatCache(tmp_path / "stat.db"))
    policy = TeamPolicy.of(admins=["root"], admin_groups=["lepton-admins"])
    yield RegistryService(store, blobs, ["prod"], policy)
    store.dispose()


def test_a_team_namespace_belongs_to_its_hub_group(hub_registry, tmp_path):
    # Given alice, a member of hub group vision, publishes first to namespace vision
    put(hub_registry, ALICE, "vision/net", b"v1", tmp_path, alias="prod")
    # Then the group (not alice alone) maintains it: carol, also in vision, pins prod
    info = hub_registry.namespace(CAROL, "vision")
    assert info.role == "maintainer"
    assert [(g.group, g.role) for g in info.grants] == [("vision", "maintainer")]
    put(hub_registry, CAROL, "vision/net", b"v2", tmp_path)
    assert hub_registry.set_alias(CAROL, "vision/net", "prod", 2).version == 2
    # But granting is for the registry admins
    with pytest.raises(Forbidden, match="granting roles on 'vision' needs the admin role; you are"):
        hub_registry.grant(ALICE, "vision", "reader", group="nlp")
    hub_registry.grant(OLGA, "vision", "reader", group="nlp")
    assert hub_registry.resolve(BOB, "vision/net@prod").version == 2


def test_a_user_owns_the_namespace_named_after_them(hub_registry, tmp_path):
    put(hub_registry, BOB, "bob/scratch", b"x", tmp_path)
    assert hub_registry.namespace(BOB, "bob").role == "admin"
    with pytest.raises(NotFound, match="'bob' does not exist or you have no role there"):
        hub_registry.resolve(ALICE, "bob/scratch")


def test_other_namespaces_are_created_by_admins_only(hub_registry, tmp_path):
    # When bob publishes to a namespace that is neither his team nor his name
    with pytest.raises(Forbidden) as refused:
        hub_registry.check_publish(BOB, "shared/net")
    # Then he is told who may create it, before any file is stored
    assert refused.value.message == (
        "Namespace 'shared' does not exist or you have no role there, and on this hub only "
        "members of the hub group 'shared', the user 'shared' or a registry admin may create "
        "it (you can create: bob, nlp)."
    )
    with pytest.raises(Forbidden, match="only members of the hub group 'shared'"):
        put(hub_registry, BOB, "shared/net", b"x", tmp_path)
    with pytest.raises(Forbidden, match="only members of the hub group 'shared'"):
        hub_registry.grant(BOB, "shared", "reader", group="nlp")
    # But an admin (by user name or by admin group) creates it and reads everything
    put(hub_registry, ROOT, "shared/net", b"x", tmp_path)
    hub_registry.grant(OLGA, "shared", "writer", group="nlp")
    assert put(hub_registry, BOB, "shared/net", b"y", tmp_path) == 2
    put(hub_registry, ALICE, "vision/net", b"v", tmp_path)
    assert {m.name for m in hub_registry.models(OLGA)} == {"shared/net", "vision/net"}


def test_team_role_is_the_operators_choice(registry_db_url, tmp_path):
    store = SqlRegistryStore(registry_db_url)
    blobs = BlobStore(str(tmp_path / "blobs"), StatCache(tmp_path / "stat.db"))
    service = RegistryService(store, blobs, ["prod"], TeamPolicy.of(team_role="writer"))
    put(service, ALICE, "vision/net", b"v1", tmp_path)
    # A writer team publishes but may not move the protected alias
    with pytest.raises(Forbidden, match="protected alias 'prod' in 'vision' needs the maintainer"):
        service.set_alias(CAROL, "vision/net", "prod", 1)
    store.dispose()


def test_serving_as_a_hub_service_outside_a_hub_names_what_is_missing(monkeypatch, tmp_path):
    from lepton_jupyter.handlers.registry_hub import hub_app
    from lepton_jupyter.settings import load_settings

    for name in ("JUPYTERHUB_SERVICE_NAME", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_SERVICE_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Invalid, match="JUPYTERHUB_SERVICE_NAME, JUPYTERHUB_API_TOKEN"):
        hub_app(load_settings(state_dir=tmp_path), TeamPolicy())


def test_a_bare_model_name_on_a_hub_is_in_the_hub_users_namespace(monkeypatch):
    # Given a kernel of alice's single-user server, whose OS account is a shared one
    from lepton_jupyter.registry.identity import current_principal
    from lepton_jupyter.registry.service import parse_name

    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("USER", "jovyan")
    # Then "net" is alice's model, in the namespace she owns on the hub
    assert parse_name("net", current_principal()) == ("alice", "net")


def test_an_admin_without_a_token_is_a_clear_error(monkeypatch, capsys, tmp_path):
    from lepton_jupyter.cli import main

    monkeypatch.delenv("JUPYTERHUB_SERVICE_NAME", raising=False)
    monkeypatch.delenv("LEPTON_REGISTRY_TOKEN", raising=False)
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"t1": {"user": "olga"}}')
    # A misspelt admin would leave the service without the admin its operator meant
    assert main(["registry", "serve", "--tokens", str(tokens), "--admin", "olag"]) == 2
    assert "--admin olag: no token is for that user" in capsys.readouterr().err
