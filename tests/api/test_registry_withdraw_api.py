"""Revoke, yank and the uniform 404 over REST, in a real Jupyter server (its registry)."""

from __future__ import annotations

import getpass
from pathlib import Path

from lepton_jupyter.registry.blobs import BlobStore, StatCache
from lepton_jupyter.registry.service import Principal, RegistryService
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.api.test_registry_api import call, error, publish
from tests.fixtures.registry import one_file_request

ME = getpass.getuser()


async def test_yank_over_rest(jp_fetch):
    # Given two versions, the second with the alias staging
    await publish(jp_fetch, "vision/resnet", b"one", alias="prod")
    await publish(jp_fetch, "vision/resnet", b"two", alias="staging")
    # When the second is yanked, with a reason
    code, yanked, _ = await call(
        jp_fetch, "POST", "models", "vision", "resnet", "versions", "2", "yank",
        body={"reason": "trained on the test split"},
    )  # fmt: skip
    assert code == 200 and yanked["yanked"]["reason"] == "trained on the test split"
    assert yanked["yanked"]["by"] == ME
    # Then listings leave it out unless asked, the number still loads it, with the reason
    _, listed, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions")
    assert [v["version"] for v in listed] == [1]
    _, listed, _ = await call(
        jp_fetch, "GET", "models", "vision", "resnet", "versions", params={"include_yanked": "true"}
    )
    assert [(v["version"], v["yanked"] is not None) for v in listed] == [(1, False), (2, True)]
    _, exact, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions", "2")
    assert exact["yanked"]["reason"] == "trained on the test split"
    _, models, _ = await call(jp_fetch, "GET", "models")
    assert [(m["latest"], m["aliases"]) for m in models] == [(1, {"prod": 1})]
    # And no alias can be moved onto it; the one left on it names the yank
    code, text = await error(
        jp_fetch, "PUT", "models", "vision", "resnet", "aliases", "dev", body={"version": 2}
    )
    assert code == 409 and "version 2 of vision/resnet is yanked" in text
    code, text = await error(jp_fetch, "GET", "models", "vision", "resnet", "aliases", "staging")
    assert code == 409 and "trained on the test split" in text
    # A reason is required
    code, text = await error(
        jp_fetch, "POST", "models", "vision", "resnet", "versions", "1", "yank", body={}
    )
    assert code == 400 and "reason" in text


async def test_a_model_with_only_yanked_versions_is_listed_when_asked(jp_fetch):
    # Given vision/vit whose only version is yanked
    await publish(jp_fetch, "vision/vit", b"vit")
    await call(jp_fetch, "POST", "models", "vision", "vit", "versions", "1", "yank",
               body={"reason": "leaked data"})  # fmt: skip
    # Then the plain listing leaves it out, and ?include_yanked=true shows it, no latest
    _, models, _ = await call(jp_fetch, "GET", "models")
    assert models == []
    _, models, _ = await call(jp_fetch, "GET", "models", params={"include_yanked": "true"})
    assert [(m["name"], m["latest"]) for m in models] == [("vision/vit", None)]
    code, text = await error(jp_fetch, "GET", "models", params={"include_yanked": "maybe"})
    assert code == 400 and "include_yanked" in text


async def test_unyank_over_rest(jp_fetch):
    # Given version 2 yanked
    await publish(jp_fetch, "vision/resnet", b"one")
    await publish(jp_fetch, "vision/resnet", b"two")
    yank = ("models", "vision", "resnet", "versions", "2", "yank")
    await call(jp_fetch, "POST", *yank, body={"reason": "bad labels"})
    # When it is un-yanked (DELETE of its yank)
    code, restored, _ = await call(jp_fetch, "DELETE", *yank)
    # Then it is listed and the latest again
    assert code == 200 and restored["version"] == 2 and restored["yanked"] is None
    _, listed, _ = await call(jp_fetch, "GET", "models", "vision", "resnet", "versions")
    assert [v["version"] for v in listed] == [1, 2]
    # And a version that is not yanked answers 409, a bad number 400
    code, text = await error(jp_fetch, "DELETE", *yank)
    assert code == 409 and "vision/resnet:2 is not yanked" in text
    code, text = await error(
        jp_fetch, "DELETE", "models", "vision", "resnet", "versions", "x", "yank"
    )
    assert code == 400 and "Invalid version 'x'" in text


async def test_delete_a_yanked_version_over_rest(jp_fetch):
    # Given version 2 yanked
    await publish(jp_fetch, "vision/resnet", b"one", alias="prod")
    await publish(jp_fetch, "vision/resnet", b"two")
    version = ("models", "vision", "resnet", "versions")
    await call(jp_fetch, "POST", *version, "2", "yank", body={"reason": "bad labels"})
    # A version that is not yanked, or that an alias holds, is refused, naming why
    code, text = await error(jp_fetch, "DELETE", *version, "1")
    assert code == 409 and "vision/resnet:1 is not yanked" in text
    # A dry run says what would go and does nothing
    code, plan, _ = await call(jp_fetch, "DELETE", *version, "2", params={"dry_run": "true"})
    assert code == 200 and plan["dry_run"] and plan["deleted"] is None
    assert len(plan["blobs"]) == 1 and plan["reclaimed"] == []
    _, kept, _ = await call(jp_fetch, "GET", *version, "2")
    assert kept["deleted"] is None
    # When it is deleted
    code, done, _ = await call(jp_fetch, "DELETE", *version, "2")
    assert code == 200 and done["deleted"]["by"] == ME and done["blobs"] == plan["blobs"]
    # Then loading it is a 404 naming who deleted it and why it was yanked
    code, text = await error(jp_fetch, "GET", *version, "2")
    assert code == 404 and f"vision/resnet:2 was deleted by {ME}" in text
    assert "bad labels" in text
    code, text = await error(jp_fetch, "GET", *version, "2", "files", "model.pt")
    assert code == 404 and "was deleted" in text
    # It cannot be un-yanked, and its number is not reused
    code, text = await error(jp_fetch, "DELETE", *version, "2", "yank")
    assert code == 409 and "cannot be un-yanked" in text
    assert (await publish(jp_fetch, "vision/resnet", b"three"))["version"] == 3


async def test_revoke_over_rest(jp_fetch):
    await publish(jp_fetch, "vision/resnet", b"one")
    await call(jp_fetch, "POST", "namespaces", "vision", "grants",
               body={"role": "reader", "user": "bob"})  # fmt: skip
    code, removed, _ = await call(
        jp_fetch, "DELETE", "namespaces", "vision", "grants", "user", "bob"
    )
    assert code == 200 and (removed["user"], removed["role"]) == ("bob", "reader")
    _, grants, _ = await call(jp_fetch, "GET", "namespaces", "vision", "grants")
    assert all(g["user"] != "bob" for g in grants)
    code, text = await error(jp_fetch, "DELETE", "namespaces", "vision", "grants", "user", "bob")
    assert code == 404 and "no grant for the user 'bob'" in text
    code, text = await error(jp_fetch, "DELETE", "namespaces", "vision", "grants", "team", "x")
    assert code == 400 and "'user' or 'group'" in text


async def test_no_role_gets_the_same_404_for_what_exists_and_what_does_not(
    jp_fetch, lepton_state: Path
):
    # Given a namespace 'vision' that alice (not the server's user) administers
    store = SqlRegistryStore(f"sqlite:///{lepton_state / 'registry.db'}")
    blobs = BlobStore(str(lepton_state / "blobs"), StatCache(lepton_state / "alice-stat.db"))
    alice = RegistryService(store, blobs)
    (lepton_state / "a.bin").write_bytes(b"alice's")
    request = one_file_request(alice, Principal("alice"), lepton_state / "a.bin", alias="prod")
    alice.publish(Principal("alice"), "vision/resnet", request)
    # Then every read and write of vision answers as if there were no vision
    paths = [
        ("GET", ("models", "{ns}", "resnet", "versions"), None),
        ("GET", ("models", "{ns}", "resnet", "aliases", "prod"), None),
        ("GET", ("namespaces", "{ns}"), None),
        ("GET", ("namespaces", "{ns}", "grants"), None),
        ("PUT", ("models", "{ns}", "resnet", "aliases", "prod"), {"version": 1}),
        ("POST", ("models", "{ns}", "resnet", "versions", "1", "yank"), {"reason": "x"}),
        ("DELETE", ("models", "{ns}", "resnet", "versions", "1", "yank"), None),
        ("DELETE", ("models", "{ns}", "resnet", "versions", "1"), None),
        ("DELETE", ("namespaces", "{ns}", "grants", "user", "alice"), None),
    ]
    for method, path, body in paths:
        seen = {}
        for ns in ("vision", "visiom"):
            code, text = await error(jp_fetch, method, *(p.format(ns=ns) for p in path), body=body)
            seen[ns] = (code, text.replace(ns, "X"))
        assert seen["vision"] == seen["visiom"], (method, path, seen)
        assert (
            seen["vision"][0] == 404
            and "does not exist or you have no role there" in (seen["vision"][1])
        )
    # The early publish check says what the publish would: 404 here, fine in a new namespace
    code, text = await error(jp_fetch, "GET", "publish-check", params={"name": "vision/resnet"})
    assert code == 404 and "'vision' does not exist or you have no role there" in text
    code, allowed, _ = await call(jp_fetch, "GET", "publish-check", params={"name": f"{ME}/net"})
    assert code == 200 and allowed["name"] == f"{ME}/net"
    # Once alice makes the server's user a reader, a write names the role it needs
    alice.grant(Principal("alice"), "vision", "reader", user=ME)
    code, text = await error(jp_fetch, "GET", "publish-check", params={"name": "vision/resnet"})
    assert (code, text) == (403, "publishing to 'vision' needs the writer role; you are reader.")
    code, text = await error(jp_fetch, "DELETE", "models", "vision", "resnet", "versions", "1")
    assert (code, text) == (
        403,
        "deleting versions in 'vision' needs the admin role; you are reader.",
    )
    store.dispose()
