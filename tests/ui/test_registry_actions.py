"""Yank, revoke, un-yank, grant and delete in the Models panel of a real JupyterLab,
checked through the API.

The world, made with the public API before the server starts: ``vision/spiral`` versions 1
and 2 (``@prod`` on 2), published by the server's own user (vision's admin); v3 yanked
(``@staging`` left on it) and v4 yanked; the user ``bob`` holding the writer role on
``vision``. The browser then yanks v2 with a reason and revokes bob's grant, then un-yanks
v2; then grants a group a role and deletes v4 (v3's delete is refused: @staging holds it).
What a notebook sees after each is asked of the same registry.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from lepton_jupyter import pins
from lepton_jupyter.errors import Conflict, NotFound
from lepton_jupyter.registry import client as registry_client
from lepton_jupyter.registry.api import YankedVersionWarning

from .conftest import LabServer, LabWorld, save_screenshot
from .test_panels import open_model

pytestmark = pytest.mark.browser

REASON = "trained on the test split"
BAD_SEED = "diverged: bad seed"


def weights(value: float) -> dict[str, torch.Tensor]:
    return {"weight": torch.full((2,), value)}


@contextmanager
def registry_of(state: Path) -> Iterator[None]:
    """The public API on ``state``'s registry, as a notebook of that workspace would use it."""
    saved = dict(os.environ)
    os.environ["LEPTON_STATE_DIR"] = str(state)
    registry_client._clients.clear()
    pins.reset()
    try:
        yield
    finally:
        pins.reset()
        registry_client._clients.clear()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def lab_world(tmp_path_factory: pytest.TempPathFactory) -> LabWorld:
    folder = tmp_path_factory.mktemp("registry-actions")
    root, state = folder / "root", folder / "state"
    root.mkdir()
    with registry_of(state):
        import lepton_jupyter as lepton

        lepton.publish("vision/spiral", weights(1.0))
        lepton.publish("vision/spiral", weights(2.0), alias="prod")
        lepton.publish("vision/spiral", weights(3.0), alias="staging")
        lepton.yank("vision/spiral", 3, BAD_SEED)
        lepton.publish("vision/spiral", weights(4.0))
        lepton.yank("vision/spiral", 4, BAD_SEED)
        lepton.grant("vision", "writer", user="bob")
    return LabWorld(root_dir=root, state_dir=state)


def test_yank_a_version_and_revoke_a_grant_from_the_models_panel(
    lab_server: LabServer, lab_world: LabWorld, page: Page, artifacts_dir: Path
) -> None:
    me = getpass.getuser()
    models, detail = open_model(page, lab_server, "vision/spiral")
    expect(detail.locator(".lepton-role strong")).to_have_text("admin")

    # When the user yanks v2 from its row, giving the reason the dialog asks for
    v2 = detail.get_by_role("option", name="version 2")
    v2.get_by_role("button", name="Yank", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("@prod will not resolve until moved")
    dialog.locator("textarea").fill(REASON)
    dialog.get_by_role("button", name="Yank", exact=True).click()
    expect(dialog).to_have_count(0)

    # Then the row is shown yanked, with who and why, and offers no Yank any more
    expect(v2).to_have_class(re.compile(r"\blepton-mod-yanked\b"))
    expect(v2.locator(".lepton-yanked")).to_have_text("yanked")
    expect(v2).to_contain_text(f"yanked by {me}: {REASON}")
    expect(v2.get_by_role("button", name="Yank", exact=True)).to_have_count(0)
    # And the model's summary no longer names v2 as its latest, nor @prod on it
    summary = models.get_by_role("option", name="vision/spiral")
    expect(summary).to_contain_text("latest v1")
    expect(summary).not_to_contain_text("@prod")
    # And @prod, still on v2, says it does not resolve until moved
    prod = detail.locator('.lepton-alias[data-alias="prod"]')
    expect(prod.locator(".lepton-alias-stale")).to_contain_text(
        "@prod does not resolve until moved"
    )
    save_screenshot(models, "models-yanked", artifacts_dir, readme=False)

    # When the user opens vision's access list and revokes bob's grant, confirming it
    namespace = models.locator('.lepton-namespace[data-namespace="vision"]')
    namespace.get_by_role("button", name="Access").click()
    access = namespace.get_by_role("region", name="Access to vision")
    bob = access.locator('.lepton-grant[data-holder="user bob"]')
    expect(bob).to_contain_text("writer")
    bob.get_by_role("button", name="Revoke").click()
    expect(dialog).to_contain_text("Revoke the writer role of user bob on vision?")
    dialog.get_by_role("button", name="Revoke").click()
    # Then bob's grant leaves the list; the last admin grant stays, not revocable
    expect(bob).to_have_count(0)
    mine = access.locator(f'.lepton-grant[data-holder="user {me}"]')
    expect(mine.get_by_role("button", name="Revoke")).to_be_disabled()

    # And a notebook on the same registry: v2 is out of listings, the latest and @prod, ...
    with registry_of(lab_world.state_dir):
        import lepton_jupyter as lepton
        from lepton_jupyter.registry.api import resolve
        from lepton_jupyter.registry.client import get_client

        assert [v.version for v in lepton.versions("vision/spiral")] == [1]
        assert resolve("vision/spiral").version == 1
        with pytest.raises(Conflict, match=REASON):
            resolve("vision/spiral@prod")
        # ... but its pin still loads the bytes, with the reason
        with pytest.warns(YankedVersionWarning, match=REASON):
            pinned = resolve("vision/spiral:2")
        assert pinned.yanked is not None and pinned.yanked.reason == REASON
        with pytest.warns(YankedVersionWarning, match=REASON):
            state = lepton.load_state_dict("vision/spiral:2")
        assert torch.equal(state["weight"], weights(2.0)["weight"])
        # And bob holds no grant on vision any more
        grants = get_client().namespace("vision").grants
        assert [(g.user, g.role) for g in grants] == [(me, "admin")]
        with pytest.raises(NotFound, match="no grant for the user 'bob'"):
            lepton.revoke("vision", user="bob")

    # When the user un-yanks v2 from its row and confirms
    v2.get_by_role("button", name="Un-yank").click()
    expect(dialog).to_contain_text("vision/spiral resolves to it (the latest)")
    dialog.get_by_role("button", name="Un-yank").click()
    # Then the row is a plain version again, and the registry lists and resolves it
    expect(v2.get_by_role("button", name="Yank", exact=True)).to_be_visible()
    expect(v2.locator(".lepton-yanked")).to_have_count(0)
    with registry_of(lab_world.state_dir):
        import lepton_jupyter as lepton
        from lepton_jupyter.registry.api import resolve

        assert [v.version for v in lepton.versions("vision/spiral")] == [1, 2]
        assert resolve("vision/spiral@prod").version == 2


def test_grant_a_role_and_delete_a_yanked_version_from_the_models_panel(
    lab_server: LabServer, lab_world: LabWorld, page: Page
) -> None:
    me = getpass.getuser()
    models, detail = open_model(page, lab_server, "vision/spiral")
    expect(detail.locator(".lepton-role strong")).to_have_text("admin")
    dialog = page.locator(".jp-Dialog")
    errors = page.locator(".jp-Notification-Toast-error")

    # When the admin grants the group nlp the maintainer role from vision's access list
    namespace = models.locator('.lepton-namespace[data-namespace="vision"]')
    namespace.get_by_role("button", name="Access").click()
    access = namespace.get_by_role("region", name="Access to vision")
    form = access.get_by_role("group", name="Grant a role in vision")
    form.get_by_label("Grant to").select_option("group")
    form.get_by_label("Name of the group").fill("nlp")
    form.get_by_label("Role").select_option("maintainer")
    form.get_by_role("button", name="Grant").click()
    # Then the grant is listed, and the name field cleared for the next one
    nlp = access.locator('.lepton-grant[data-holder="group nlp"]')
    expect(nlp.locator(".lepton-grant-role")).to_have_text("maintainer")
    expect(form.get_by_label("Name of the group")).to_have_value("")

    # When the admin deletes v3, which @staging still points at, the server's refusal shows
    v3 = detail.get_by_role("option", name="version 3")
    v3.get_by_role("button", name="Delete").click()
    expect(errors.filter(has_text="@staging still points at it")).to_have_count(1)
    expect(dialog).to_have_count(0)

    # When the admin deletes v4 (yanked, no alias), the dialog says what happens; confirmed
    v4 = detail.get_by_role("option", name="version 4")
    v4.get_by_role("button", name="Delete").click()
    expect(dialog).to_contain_text("Delete vision/spiral:4?")
    expect(dialog).to_contain_text("its number is never given to other files")
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_have_count(0)
    # Then its row is a tombstone with no action left; v3 still offers both
    expect(v4.locator(".lepton-deleted")).to_have_text("deleted")
    expect(v4).to_contain_text(f"deleted by {me}")
    expect(v4.get_by_role("button")).to_have_count(0)
    expect(v3.get_by_role("button", name="Un-yank")).to_be_visible()

    # And a notebook on the same registry: nlp maintains vision; v4 is gone for good
    with registry_of(lab_world.state_dir):
        import lepton_jupyter as lepton
        from lepton_jupyter.registry.api import resolve
        from lepton_jupyter.registry.client import get_client

        grants = get_client().namespace("vision").grants
        assert ("nlp", "maintainer", me) in [(g.group, g.role, g.granted_by) for g in grants]
        with pytest.raises(NotFound, match=f"vision/spiral:4 was deleted by {me}"):
            resolve("vision/spiral:4")
        everything = lepton.versions("vision/spiral", include_yanked=True)
        assert [(v.version, v.deleted is not None) for v in everything] == [
            (1, False),
            (2, False),
            (3, False),
            (4, True),
        ]
        # Its number is not given to the next publish
        assert lepton.publish("vision/spiral", weights(5.0)).version == 5
