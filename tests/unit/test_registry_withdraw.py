"""Taking things back in the registry, and what a caller without a role may learn.

- ``revoke`` removes a grant: the user's access ends with it.
- ``yank`` withdraws a bad version: it leaves listings, the latest and aliases, and an alias
  cannot be moved onto it; exact references and a rerun's pins still load it, with the
  reason shown.
- A caller with no role on a namespace gets the same 404 for what exists and for what does
  not (names are not public); a role too small for a write is still a 403 naming the role.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_jupyter.errors import Conflict, Forbidden, Invalid, NotFound
from lepton_jupyter.registry.policy import TeamPolicy
from lepton_jupyter.registry.service import Principal, RegistryService
from tests.fixtures.registry import ALICE, BOB, one_file_request

CAROL = Principal("carol")


def put(registry: RegistryService, who: Principal, name: str, data: bytes, tmp: Path, **kw):
    source = tmp / f"{name.replace('/', '-')}-{data.hex()}.bin"
    source.write_bytes(data)
    return registry.publish(who, name, one_file_request(registry, who, source, **kw))


@pytest.fixture
def resnet(registry, tmp_path) -> RegistryService:
    """vision/resnet v1 (alias prod) and v2 (alias staging), by alice (vision's admin)."""
    put(registry, ALICE, "vision/resnet", b"one", tmp_path, alias="prod")
    put(registry, ALICE, "vision/resnet", b"two", tmp_path, alias="staging")
    return registry


# revoke


def test_revoking_a_grant_ends_the_access_it_gave(resnet):
    # Given bob can read vision
    resnet.grant(ALICE, "vision", "reader", user="bob")
    assert resnet.resolve(BOB, "vision/resnet").version == 2
    # When alice revokes it
    removed = resnet.revoke(ALICE, "vision", user="bob")
    # Then the grant is gone and bob sees vision no more
    assert (removed.user, removed.role) == ("bob", "reader")
    assert all(g.user != "bob" for g in resnet.namespace(ALICE, "vision").grants)
    with pytest.raises(NotFound):
        resnet.resolve(BOB, "vision/resnet")
    assert resnet.models(BOB) == []


def test_revoking_a_group_grant_and_a_grant_that_is_not_there(resnet):
    resnet.grant(ALICE, "vision", "writer", group="nlp")
    assert resnet.revoke(ALICE, "vision", group="nlp").group == "nlp"
    with pytest.raises(NotFound, match="'vision' has no grant for the group 'nlp'"):
        resnet.revoke(ALICE, "vision", group="nlp")
    with pytest.raises(Invalid, match=r"exactly one of user=\.\.\. or group=\.\.\."):
        resnet.revoke(ALICE, "vision", user="bob", group="nlp")


def test_only_an_admin_revokes(resnet):
    resnet.grant(ALICE, "vision", "maintainer", user="bob")
    with pytest.raises(Forbidden, match="needs the admin role; you are maintainer"):
        resnet.revoke(BOB, "vision", user="alice")
    with pytest.raises(NotFound):  # carol has no role: vision is not hers to see
        resnet.revoke(CAROL, "vision", user="bob")


def test_the_last_admin_grant_is_not_revoked(resnet):
    with pytest.raises(Conflict, match="last admin"):
        resnet.revoke(ALICE, "vision", user="alice")


# yank


def test_a_yanked_version_leaves_listings_and_the_latest(resnet):
    # When alice yanks v2 with a reason
    yanked = resnet.yank(ALICE, "vision/resnet", 2, "trained on the test split")
    assert yanked.yanked is not None and yanked.yanked.reason == "trained on the test split"
    assert yanked.yanked.by == "alice" and yanked.yanked.at.tzinfo is not None
    # Then listings and the latest skip it
    assert [v.version for v in resnet.versions(ALICE, "vision/resnet")] == [1]
    listed = resnet.versions(ALICE, "vision/resnet", include_yanked=True)
    assert [(v.version, v.yanked is not None) for v in listed] == [(1, False), (2, True)]
    assert resnet.resolve(ALICE, "vision/resnet").version == 1
    (summary,) = resnet.models(ALICE)
    assert summary.latest == 1 and summary.aliases == {"prod": 1}


def test_a_yanked_version_still_loads_by_its_number_with_the_reason(resnet):
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    exact = resnet.resolve(ALICE, "vision/resnet:2")
    assert exact.version == 2 and exact.yanked.reason == "bad labels"
    entry = resnet.file(ALICE, "vision/resnet", 2, exact.files[0].path)
    with resnet.blobs.open(entry.digest) as f:
        assert f.read() == b"two"
    assert resnet.lineage(ALICE, "vision/resnet:2").version == 2


def test_an_alias_does_not_resolve_to_a_yanked_version_and_cannot_be_moved_there(resnet):
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    # An alias still pointing at it names the yank instead of handing it out
    with pytest.raises(Conflict, match=r"staging.*version 2.*yanked by alice: bad labels"):
        resnet.resolve(ALICE, "vision/resnet@staging")
    with pytest.raises(Conflict, match="yanked"):
        resnet.alias(ALICE, "vision/resnet", "staging")
    assert [a.alias for a in resnet.aliases(ALICE, "vision/resnet")] == ["prod"]
    # Moving an alias onto it is refused; moving the stuck alias away works
    with pytest.raises(Conflict, match="version 2 of vision/resnet is yanked"):
        resnet.set_alias(ALICE, "vision/resnet", "prod", 2)
    assert resnet.set_alias(ALICE, "vision/resnet", "staging", 1).version == 1
    assert resnet.resolve(ALICE, "vision/resnet@staging").version == 1
    # And rolling back onto the yanked version is refused too
    with pytest.raises(Conflict, match="yanked"):
        resnet.rollback(ALICE, "vision/resnet", "staging")


def test_yank_needs_a_maintainer_and_a_reason(resnet):
    resnet.grant(ALICE, "vision", "writer", user="bob")
    with pytest.raises(Forbidden, match="needs the maintainer role; you are writer"):
        resnet.yank(BOB, "vision/resnet", 2, "mine is better")
    with pytest.raises(Invalid, match="reason"):
        resnet.yank(ALICE, "vision/resnet", 2, "  ")
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    with pytest.raises(Conflict, match="already yanked"):
        resnet.yank(ALICE, "vision/resnet", 2, "again")
    with pytest.raises(NotFound, match="no version 3"):
        resnet.yank(ALICE, "vision/resnet", 3, "never published")


def test_a_model_whose_every_version_is_yanked_leaves_the_listing(resnet, tmp_path):
    put(resnet, ALICE, "vision/vit", b"vit", tmp_path)
    resnet.yank(ALICE, "vision/vit", 1, "leaked data")
    assert [m.name for m in resnet.models(ALICE)] == ["vision/resnet"]
    with pytest.raises(NotFound, match="no versions"):
        resnet.resolve(ALICE, "vision/vit")
    # The next publish is version 2: a yanked number is never reused
    assert put(resnet, ALICE, "vision/vit", b"vit2", tmp_path).version == 2


def test_asked_for_yanked_ones_the_listing_shows_a_model_with_only_yanked_versions(
    resnet, tmp_path
):
    # Given vision/vit whose only version is yanked (the panel must still offer it)
    put(resnet, ALICE, "vision/vit", b"vit", tmp_path, description="first try")
    resnet.yank(ALICE, "vision/vit", 1, "leaked data")
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    # When the listing includes yanked ones, vit is there with no latest
    listed = {m.name: m for m in resnet.models(ALICE, include_yanked=True)}
    assert list(listed) == ["vision/resnet", "vision/vit"]
    assert listed["vision/vit"].latest is None
    assert listed["vision/vit"].description == "first try" and listed["vision/vit"].aliases == {}
    # And a model with a live version still reports that one as its latest
    assert listed["vision/resnet"].latest == 1
    assert resnet.models(ALICE, "vision", include_yanked=True) == list(listed.values())
    # A caller without a role still sees nothing
    assert resnet.models(CAROL, include_yanked=True) == []


# un-yank


def test_an_unyanked_version_is_listed_again_but_no_alias_moves_back(resnet):
    # Given v2 yanked while staging pointed at it, and staging moved to v1
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    resnet.set_alias(ALICE, "vision/resnet", "staging", 1)
    # When alice un-yanks it
    restored = resnet.unyank(ALICE, "vision/resnet", 2)
    # Then it is listed and the latest again, with no yank left on it
    assert restored.version == 2 and restored.yanked is None
    assert [v.version for v in resnet.versions(ALICE, "vision/resnet")] == [1, 2]
    assert resnet.resolve(ALICE, "vision/resnet").version == 2
    assert resnet.models(ALICE)[0].latest == 2
    # And staging stays where it was moved: an alias move is a deliberate act
    assert resnet.alias(ALICE, "vision/resnet", "staging").version == 1
    assert resnet.set_alias(ALICE, "vision/resnet", "staging", 2).version == 2


def test_unyank_needs_a_maintainer_and_a_yanked_version(resnet):
    resnet.yank(ALICE, "vision/resnet", 2, "bad labels")
    resnet.grant(ALICE, "vision", "writer", user="bob")
    with pytest.raises(Forbidden, match="un-yanking versions in 'vision' needs the maintainer"):
        resnet.unyank(BOB, "vision/resnet", 2)
    with pytest.raises(NotFound, match="does not exist or you have no role there"):
        resnet.unyank(CAROL, "vision/resnet", 2)
    with pytest.raises(Conflict, match="vision/resnet:1 is not yanked"):
        resnet.unyank(ALICE, "vision/resnet", 1)
    with pytest.raises(NotFound, match="no version 3"):
        resnet.unyank(ALICE, "vision/resnet", 3)
    # A yank after an un-yank records the new reason
    resnet.unyank(ALICE, "vision/resnet", 2)
    assert resnet.yank(ALICE, "vision/resnet", 2, "again").yanked.reason == "again"


# uniform 404


def _same(error_a: Exception, name_a: str, error_b: Exception, name_b: str) -> None:
    assert type(error_a) is type(error_b) is NotFound
    assert str(error_a).replace(name_a, "X") == str(error_b).replace(name_b, "X")


@pytest.mark.parametrize(
    "call",
    [
        lambda r, ns: r.resolve(BOB, f"{ns}/resnet"),
        lambda r, ns: r.versions(BOB, f"{ns}/resnet"),
        lambda r, ns: r.aliases(BOB, f"{ns}/resnet"),
        lambda r, ns: r.alias(BOB, f"{ns}/resnet", "prod"),
        lambda r, ns: r.history(BOB, f"{ns}/resnet", "prod"),
        lambda r, ns: r.lineage(BOB, f"{ns}/resnet:1"),
        lambda r, ns: r.file(BOB, f"{ns}/resnet", 1, "x.bin"),
        lambda r, ns: r.models(BOB, ns),
        lambda r, ns: r.namespace(BOB, ns),
        lambda r, ns: r.set_alias(BOB, f"{ns}/resnet", "dev", 1),
        lambda r, ns: r.rollback(BOB, f"{ns}/resnet", "prod"),
        lambda r, ns: r.yank(BOB, f"{ns}/resnet", 1, "why"),
        lambda r, ns: r.revoke(BOB, ns, user="alice"),
    ],
    ids=[
        "resolve",
        "versions",
        "aliases",
        "alias",
        "history",
        "lineage",
        "file",
        "models",
        "namespace",
        "set_alias",
        "rollback",
        "yank",
        "revoke",
    ],
)
def test_no_role_sees_the_same_404_for_what_exists_and_what_does_not(resnet, call):
    # Given bob has no role on vision, and there is no namespace 'visiom'
    errors = {}
    for ns in ("vision", "visiom"):
        with pytest.raises(NotFound) as info:
            call(resnet, ns)
        errors[ns] = info.value
    # Then he cannot tell them apart (not even by a "did you mean 'vision'?")
    _same(errors["vision"], "vision", errors["visiom"], "visiom")
    assert "vision'?" not in str(errors["visiom"])


def test_a_missing_model_in_a_readable_namespace_is_named(resnet):
    resnet.grant(ALICE, "vision", "reader", user="bob")
    with pytest.raises(NotFound, match=r"'vision/resnt' does not exist.*Did you mean 'resnet'"):
        resnet.resolve(BOB, "vision/resnt")


def test_a_reader_is_told_the_role_a_write_needs(resnet):
    resnet.grant(ALICE, "vision", "reader", user="bob")
    with pytest.raises(Forbidden, match="publishing to 'vision' needs the writer role"):
        resnet.check_publish(BOB, "vision/resnet")
    with pytest.raises(Forbidden, match="needs the maintainer role; you are reader"):
        resnet.set_alias(BOB, "vision/resnet", "prod", 1)


def test_the_publish_check_is_uniform_for_a_no_role_caller(resnet):
    # On a single-user server anyone may found a namespace: carol may publish to a new one,
    # and an existing one she has no role in is the 404 that reads name
    resnet.check_publish(CAROL, "carol/net")
    with pytest.raises(NotFound, match="'vision' does not exist or you have no role there"):
        resnet.check_publish(CAROL, "vision/resnet")
    # On a hub only a team's members found its namespace: existing or not, carol hears the same
    hub = RegistryService(resnet.store, resnet.blobs, policy=TeamPolicy.of())
    errors = {}
    for ns in ("vision", "visiom"):
        with pytest.raises(Forbidden) as info:
            hub.check_publish(CAROL, f"{ns}/resnet")
        errors[ns] = str(info.value).replace(ns, "X")
    assert errors["vision"] == errors["visiom"]
