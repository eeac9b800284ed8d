"""The registry service on real SQLite and a real PostgreSQL: numbering, dedupe, aliases,
rollback and history, lineage, permissions and every bad input's message."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from lepton_jupyter.errors import Conflict, Forbidden, Invalid, NotFound
from lepton_jupyter.registry.schema import FileEntry, LoadRequest, PublishRequest
from lepton_jupyter.registry.service import Principal, RegistryService
from tests.fixtures.registry import ALICE, BOB, one_file_request


def put(
    registry: RegistryService,
    principal: Principal,
    name: str,
    content: bytes,
    tmp_path: Path,
    alias: str | None = None,
    **extra,
) -> int:
    """Store ``content`` as a one-file version of ``name``; its version number."""
    source = tmp_path / f"w-{uuid.uuid4().hex}.bin"
    source.write_bytes(content)
    request = one_file_request(registry, principal, source, path="w.bin", alias=alias, **extra)
    return registry.publish(principal, name, request).version


def test_versions_are_numbered_per_model_and_immutable(registry, tmp_path):
    # Given two models in one namespace
    numbers = [put(registry, ALICE, "vision/resnet", f"r{i}".encode(), tmp_path) for i in range(3)]
    other = put(registry, ALICE, "vision/vit", b"v", tmp_path)
    # Then each model counts its own versions from 1
    assert numbers == [1, 2, 3]
    assert other == 1
    # And a later publish does not change an earlier version
    first = registry.resolve(ALICE, "vision/resnet:1")
    put(registry, ALICE, "vision/resnet", b"later", tmp_path)
    assert registry.resolve(ALICE, "vision/resnet:1") == first
    assert registry.resolve(ALICE, "vision/resnet").version == 4


def test_versions_are_listed_a_page_at_a_time(registry, tmp_path):
    # Given a model with seven versions, the third one aliased
    for i in range(7):
        put(
            registry, ALICE, "vision/resnet", f"p{i}".encode(), tmp_path, "prod" if i == 2 else None
        )
    # When the newest page of three is asked for, then each page before it
    newest = registry.versions(ALICE, "vision/resnet", limit=3)
    older = registry.versions(ALICE, "vision/resnet", limit=3, before=newest[0].version)
    oldest = registry.versions(ALICE, "vision/resnet", limit=3, before=older[0].version)
    # Then the pages hold consecutive versions, oldest first in a page, each described in full
    assert [[v.version for v in p] for p in (oldest, older, newest)] == [[1], [2, 3, 4], [5, 6, 7]]
    assert oldest + older + newest == registry.versions(ALICE, "vision/resnet")
    assert older[1].aliases == ["prod"] and older[1].files[0].path == "w.bin"
    # And a page size or bound out of range is refused, naming it
    with pytest.raises(Invalid, match="1 to 1000 versions, not 0"):
        registry.versions(ALICE, "vision/resnet", limit=0)
    with pytest.raises(Invalid, match="before=0"):
        registry.versions(ALICE, "vision/resnet", limit=3, before=0)


def test_identical_content_is_stored_once(registry, tmp_path):
    # Given the same bytes published twice from two different files
    put(registry, ALICE, "vision/resnet", b"same bytes" * 1000, tmp_path)
    put(registry, ALICE, "vision/resnet", b"same bytes" * 1000, tmp_path)
    # Then two versions share one blob and one version digest
    v1, v2 = registry.versions(ALICE, "vision/resnet")
    assert v1.digest == v2.digest
    assert len(list(registry.blobs.addresses())) == 1


def test_refs_resolve_alias_number_and_latest(registry, tmp_path):
    put(registry, ALICE, "vision/resnet", b"1", tmp_path)
    put(registry, ALICE, "vision/resnet", b"2", tmp_path, alias="staging")
    put(registry, ALICE, "vision/resnet", b"3", tmp_path)
    assert registry.resolve(ALICE, "vision/resnet@staging").version == 2
    assert registry.resolve(ALICE, "vision/resnet:1").version == 1
    assert registry.resolve(ALICE, "vision/resnet").version == 3
    # A bare model name lives in the caller's own namespace
    put(registry, ALICE, "scratch", b"mine", tmp_path)
    assert registry.resolve(ALICE, "alice/scratch").version == 1


def test_rollback_walks_back_the_ledger_and_history_says_who(registry, tmp_path):
    # Given prod moved 1 -> 2 -> 3 by alice and bob (bob a maintainer)
    for i in range(3):
        put(registry, ALICE, "vision/resnet", f"{i}".encode(), tmp_path)
    registry.grant(ALICE, "vision", "maintainer", user="bob")
    registry.set_alias(ALICE, "vision/resnet", "prod", 1)
    registry.set_alias(BOB, "vision/resnet", "prod", 2)
    registry.set_alias(ALICE, "vision/resnet", "prod", 3)
    # When prod is rolled back twice
    assert registry.rollback(BOB, "vision/resnet", "prod").version == 2
    assert registry.rollback(BOB, "vision/resnet", "prod").version == 1
    # Then a third rollback has nowhere to go
    with pytest.raises(Conflict, match="no earlier version"):
        registry.rollback(BOB, "vision/resnet", "prod")
    # And the history lists every move, who made it, from where to where
    history = registry.history(ALICE, "vision/resnet", "prod")
    assert [(e.action, e.version, e.previous, e.actor) for e in history] == [
        ("set", 1, None, "alice"),
        ("set", 2, 1, "bob"),
        ("set", 3, 2, "alice"),
        ("rollback", 2, 3, "bob"),
        ("rollback", 1, 2, "bob"),
    ]
    assert registry.resolve(ALICE, "vision/resnet@prod").version == 1


def test_alias_ledger_is_append_only_in_the_database(registry, tmp_path):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    put(registry, ALICE, "vision/resnet", b"1", tmp_path, alias="prod")
    # Whoever connects, the database refuses to rewrite the ledger
    with pytest.raises(DBAPIError, match="append-only"), registry.store.write() as session:
        session.execute(text("UPDATE alias_events SET version = 7"))
    with pytest.raises(DBAPIError, match="append-only"), registry.store.write() as session:
        session.execute(text("DELETE FROM alias_events"))


def test_lineage_keeps_what_publish_recorded_and_who_loaded(registry, tmp_path):
    captured = {
        "datasets": [
            {"url": "git@x:data", "path": "d", "rev": "v2", "commit": "abc", "hash": "md5:1"}
        ],
        "parents": [{"name": "vision/base", "version": 2, "digest": "blake3:" + "0" * 64}],
        "jobs": ["job-1"],
        "notebook": "train.ipynb",
        "git": {"commit": "c0ffee", "dirty": True},
    }
    put(
        registry,
        ALICE,
        "vision/resnet",
        b"x",
        tmp_path,
        lineage=captured,
        params={"lr": 0.1},
        metrics={"acc": 0.9},
    )
    registry.record_load(ALICE, "vision/resnet", 1, LoadRequest(notebook="serve.ipynb"))
    lineage = registry.lineage(ALICE, "vision/resnet:1")
    assert lineage.datasets == captured["datasets"]
    assert lineage.parents[0]["version"] == 2
    assert lineage.jobs == ["job-1"]
    assert lineage.notebook == "train.ipynb"
    assert lineage.git == {"commit": "c0ffee", "dirty": True}
    assert (lineage.params, lineage.metrics, lineage.user) == ({"lr": 0.1}, {"acc": 0.9}, "alice")
    assert [(x.user, x.notebook) for x in lineage.loaded_by] == [("alice", "serve.ipynb")]


# Permissions: the matrix of role x action


ACTIONS = ["load", "publish", "set_alias", "set_protected_alias", "grant"]
ALLOWED = {
    "reader": {"load"},
    "writer": {"load", "publish", "set_alias"},
    "maintainer": {"load", "publish", "set_alias", "set_protected_alias"},
    "admin": set(ACTIONS),
}
NEEDED = {
    "load": "reader",
    "publish": "writer",
    "set_alias": "writer",
    "set_protected_alias": "maintainer",
    "grant": "admin",
}


def _act(registry: RegistryService, who: Principal, action: str, tmp_path: Path) -> None:
    if action == "load":
        registry.resolve(who, "vision/resnet@staging")
    elif action == "publish":
        put(registry, who, "vision/resnet", b"new", tmp_path)
    elif action == "set_alias":
        registry.set_alias(who, "vision/resnet", "staging", 1)
    elif action == "set_protected_alias":
        registry.set_alias(who, "vision/resnet", "prod", 1)
    elif action == "grant":
        registry.grant(who, "vision", "reader", user="dave")


@pytest.mark.parametrize("role", ["reader", "writer", "maintainer", "admin"])
@pytest.mark.parametrize("via", ["user", "group"])
def test_permission_matrix(registry, tmp_path, role, via):
    # Given alice's namespace 'vision' with a version aliased staging and prod
    put(registry, ALICE, "vision/resnet", b"v1", tmp_path, alias="staging")
    registry.set_alias(ALICE, "vision/resnet", "prod", 1)
    # And bob holding `role`, granted to him or to his group 'nlp'
    if via == "user":
        registry.grant(ALICE, "vision", role, user="bob")
    else:
        registry.grant(ALICE, "vision", role, group="nlp")
    for action in ACTIONS:
        if action in ALLOWED[role]:
            _act(registry, BOB, action, tmp_path)
        else:
            # Then what the role does not cover is refused, naming role and namespace
            with pytest.raises(Forbidden) as info:
                _act(registry, BOB, action, tmp_path)
            assert f"needs the {NEEDED[action]} role; you are {role}" in info.value.message
            assert "'vision'" in info.value.message


def test_no_role_means_no_access_and_everyone_grant_opens_reading(registry, tmp_path):
    put(registry, ALICE, "vision/resnet", b"v1", tmp_path)
    # Without a role, vision is the 404 of a namespace that does not exist (names are private)
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        registry.resolve(BOB, "vision/resnet")
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        registry.check_publish(BOB, "vision/resnet")
    assert registry.models(BOB) == []
    # When alice lets every authenticated user read
    registry.grant(ALICE, "vision", "reader", group="*")
    assert registry.resolve(BOB, "vision/resnet").version == 1
    assert [m.name for m in registry.models(BOB)] == ["vision/resnet"]


def test_first_writer_administers_a_new_namespace(registry, tmp_path):
    put(registry, BOB, "bob/mine", b"x", tmp_path)
    info = registry.namespace(BOB, "bob")
    assert info.role == "admin" and [g.user for g in info.grants] == ["bob"]
    for unseen in ("bob", "nobody"):  # bob's (no role there) and one that does not exist
        with pytest.raises(NotFound, match="does not exist or you have no role there"):
            registry.namespace(ALICE, unseen)
        # and asking for a role there tells alice the same: none
        assert registry.role_of(ALICE, unseen) is None
    assert registry.role_of(BOB, "bob") == "admin"
    with pytest.raises(Invalid, match="Invalid namespace name 'Bob'"):
        registry.role_of(BOB, "Bob")


# Bad input


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("Vision/resnet", "Invalid namespace name 'Vision': namespace names are 1-64 characters"),
        ("vision/Res Net", "Invalid model name 'Res Net'"),
        ("a/b/c", "use 'namespace/model'"),
        ("vision/resnet@1prod", "Invalid alias '1prod': aliases are 1-64 characters"),
        ("vision/resnet@latest", "'latest' is reserved"),
        ("vision/resnet:x", "the version after ':' must be a positive integer"),
        ("vision/resnet:0", "the version after ':' must be a positive integer"),
        ("", "A model reference is needed"),
    ],
)
def test_invalid_references_say_which_rule(registry, tmp_path, ref, message):
    put(registry, ALICE, "vision/resnet", b"1", tmp_path)
    with pytest.raises(Invalid) as info:
        registry.resolve(ALICE, ref)
    assert message in info.value.message


def test_unknown_names_suggest_close_ones(registry, tmp_path):
    put(registry, ALICE, "vision/resnet", b"1", tmp_path, alias="prod")
    with pytest.raises(NotFound, match=r"'visoin' does not exist or you .*Did you mean 'vision'"):
        registry.resolve(ALICE, "visoin/resnet")
    with pytest.raises(NotFound, match=r"'vision/resnt' does not exist. Did you mean 'resnet'"):
        registry.resolve(ALICE, "vision/resnt")
    with pytest.raises(NotFound, match=r"has no alias 'prdo'. Did you mean 'prod'"):
        registry.resolve(ALICE, "vision/resnet@prdo")
    with pytest.raises(NotFound, match="has no version 7; it has only version 1"):
        registry.resolve(ALICE, "vision/resnet:7")
    with pytest.raises(NotFound, match=r"has no alias 'prdo'. Did you mean 'prod'"):
        registry.history(ALICE, "vision/resnet", "prdo")
    with pytest.raises(NotFound, match=r"has no file 'w.bn'. Did you mean 'w.bin'"):
        registry.file(ALICE, "vision/resnet", 1, "w.bn")


def test_alias_on_a_missing_version_is_refused(registry, tmp_path):
    put(registry, ALICE, "vision/resnet", b"1", tmp_path)
    put(registry, ALICE, "vision/resnet", b"2", tmp_path)
    with pytest.raises(NotFound, match=r"vision/resnet has no version 9; it has versions 1\.\.2"):
        registry.set_alias(ALICE, "vision/resnet", "prod", 9)
    with pytest.raises(Invalid, match="versions are positive integers"):
        registry.set_alias(ALICE, "vision/resnet", "prod", 0)


def test_bad_publish_and_grant_requests(registry, tmp_path):
    entry = FileEntry(path="w.bin", digest="blake3:" + "a" * 64, size=1)
    with pytest.raises(Invalid, match="not uploaded first"):
        registry.publish(
            ALICE, "vision/x", PublishRequest(files=[entry], kind="file", entry="w.bin")
        )
    bad_path = entry.model_copy(update={"path": "../etc/passwd"})
    with pytest.raises(Invalid, match=r"Invalid file path '\.\./etc/passwd'"):
        registry.publish(
            ALICE, "vision/x", PublishRequest(files=[bad_path], kind="file", entry="../etc/passwd")
        )
    bad_digest = entry.model_copy(update={"digest": "md5:abc"})
    with pytest.raises(Invalid, match="is not a blob address"):
        registry.publish(
            ALICE, "vision/x", PublishRequest(files=[bad_digest], kind="file", entry="w.bin")
        )
    with pytest.raises(Invalid, match="Unknown role 'owner'"):
        registry.grant(ALICE, "vision", "owner", user="bob")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="exactly one of user"):
        registry.grant(ALICE, "vision", "reader", user="bob", group="nlp")
    with pytest.raises(Invalid, match="exactly one of user"):
        registry.grant(ALICE, "vision", "reader")


def test_fsck_finds_orphans_and_corruption(registry, tmp_path):
    put(registry, ALICE, "vision/resnet", b"kept", tmp_path)
    assert registry.fsck().clean
    # Given a blob no version references, and a stored blob whose bytes changed
    orphan = tmp_path / "orphan.bin"
    orphan.write_bytes(b"orphan")
    orphan_address, _ = registry.blobs.put_file(orphan)
    kept = registry.resolve(ALICE, "vision/resnet:1").files[0].digest
    blob = Path(registry.blobs.key(kept))
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")
    # Then fsck reports both
    report = registry.fsck()
    assert report.orphans == [orphan_address]
    assert report.mismatches == [kept]
    # And gc removes the orphan (only once it is older than the grace period)
    assert registry.fsck(gc=True).orphans == [orphan_address]
    assert registry.fsck(gc=True, grace_seconds=0).removed == [orphan_address]
    assert not registry.fsck().orphans


def test_alias_lookup_checks_roles_like_every_read(registry, tmp_path):
    # Given prod on alice's model, readable by the group nlp
    put(registry, ALICE, "vision/resnet", b"1", tmp_path, alias="prod")
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        registry.alias(BOB, "vision/resnet", "prod")
    registry.grant(ALICE, "vision", "reader", group="nlp")
    # Then bob resolves it through his group, and unknown aliases still suggest names
    assert registry.alias(BOB, "vision/resnet", "prod").version == 1
    with pytest.raises(NotFound, match="Did you mean 'prod'"):
        registry.alias(BOB, "vision/resnet", "prd")


def test_alias_lookup_sees_moves_made_by_other_processes(registry, registry_db_url, tmp_path):
    from lepton_jupyter.registry.store import SqlRegistryStore

    put(registry, ALICE, "vision/resnet", b"1", tmp_path, alias="prod")
    put(registry, ALICE, "vision/resnet", b"2", tmp_path)
    assert registry.alias(ALICE, "vision/resnet", "prod").version == 1
    # When another store (as another process would) moves prod
    other = RegistryService(SqlRegistryStore(registry_db_url), registry.blobs)
    other.set_alias(ALICE, "vision/resnet", "prod", 2)
    # Then the next lookup answers the new version, not a cached one
    assert registry.alias(ALICE, "vision/resnet", "prod").version == 2
    other.store.dispose()


def test_an_older_store_is_migrated_when_opened(registry_db_url, tmp_path):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, inspect

    from lepton_jupyter.registry import store as db

    # Given a database at the first schema revision (loads without a run column)
    engine = create_engine(registry_db_url)
    config = Config()
    config.set_main_option("script_location", str(Path(db.__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert "run" not in {c["name"] for c in inspect(engine).get_columns("loads")}
    engine.dispose()
    # When the registry opens it
    store = db.SqlRegistryStore(registry_db_url)
    # Then it is at the latest schema
    columns = {c["name"] for c in inspect(store.read_engine).get_columns("loads")}
    assert "run" in columns
    store.dispose()
