"""Yank, revoke and un-yank in the Models panel of a real JupyterLab, checked through the API.

The world, made with the public API before the server starts: ``vision/spiral`` versions 1
and 2 (``@prod`` on 2), published by the server's own user (vision's admin), and the user
``bob`` holding the writer role on ``vision``. The browser then yanks v2 with a reason and
revokes bob's grant, then un-yanks v2; what a notebook sees after each is asked of the
same registry.
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
    v2.get_by_role("button", name="Yank").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("@prod will not resolve until moved")
    dialog.locator("textarea").fill(REASON)
    dialog.get_by_role("button", name="Yank").click()
    expect(dialog).to_have_count(0)

    # Then the row is shown yanked, with who and why, and offers no Yank any more
    expect(v2).to_have_class(re.compile(r"\blepton-mod-yanked\b"))
    expect(v2.locator(".lepton-yanked")).to_have_text("yanked")
    expect(v2).to_contain_text(f"yanked by {me}: {REASON}")
    expect(v2.get_by_role("button", name="Yank")).to_have_count(0)
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
    expect(v2.get_by_role("button", name="Yank")).to_be_visible()
    expect(v2.locator(".lepton-yanked")).to_have_count(0)
    with registry_of(lab_world.state_dir):
        import lepton_jupyter as lepton
        from lepton_jupyter.registry.api import resolve

        assert [v.version for v in lepton.versions("vision/spiral")] == [1, 2]
        assert resolve("vision/spiral@prod").version == 2
