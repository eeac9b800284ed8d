"""The Lepton sidebar in a real JupyterLab, driven through headless chromium."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import LabServer, save_screenshot

SECTIONS = ("datasets", "jobs", "models", "runs")
# JupyterLab needs a while to load on a 2-core machine.
UI_TIMEOUT_MS = 90_000

pytestmark = pytest.mark.browser


def open_lab(page: Page, lab_server: LabServer) -> None:
    """Load JupyterLab on a fresh workspace and wait until its shell is up."""
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(lab_server.url("lab/workspaces/lepton-ui-test", reset=""))
    expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.locator('.jp-SideBar [data-id="filebrowser"]')).to_be_visible(timeout=UI_TIMEOUT_MS)


def open_palette(page: Page) -> Locator:
    """Ctrl+Shift+C until the palette's input has the focus. On a loaded machine the
    first press can arrive while JupyterLab is still restoring its layout (which moves the
    focus), so the press is repeated until the palette shows, up to UI_TIMEOUT_MS."""
    palette_input = page.locator(".lm-CommandPalette-input")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        page.keyboard.press("Control+Shift+C")
        try:
            expect(palette_input).to_be_focused(timeout=5_000)
            return palette_input
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def expect_loaded_sidebar(page: Page, version: str) -> None:
    sidebar = page.locator("#lepton-sidebar.lepton-sidebar")
    expect(sidebar).to_be_visible()
    expect(sidebar.locator(".lepton-version")).to_have_text(version, timeout=UI_TIMEOUT_MS)
    for section in SECTIONS:
        expect(sidebar.locator(f'[data-lepton-section="{section}"]')).to_be_visible()
    expect(sidebar.locator(".lepton-error")).to_have_count(0)


def test_sidebar_tab_shows_server_version_and_sections(
    lab_server: LabServer, page: Page, artifacts_dir: Path
) -> None:
    # Given a JupyterLab whose server extension reports its version
    status = lab_server.get_json("lepton/api/status")
    open_lab(page, lab_server)

    # When the user clicks the Lepton tab in the left sidebar
    tab = page.locator('.jp-SideBar.jp-mod-left [data-id="lepton-sidebar"]')
    expect(tab).to_have_attribute("title", "Lepton")
    tab.click()

    # Then the sidebar shows the server's version, who lepton acts as (the OS user on a
    # single-user server, not the random identity of a token-only client) and the sections
    expect_loaded_sidebar(page, status["version"])
    expect(page.locator("#lepton-sidebar .lepton-user-name")).to_have_text(getpass.getuser())

    expect(page.locator("#lepton-sidebar .lepton-loading")).to_have_count(0)
    save_screenshot(page, "sidebar", artifacts_dir)


def test_palette_command_opens_sidebar(lab_server: LabServer, page: Page) -> None:
    # Given JupyterLab with the Lepton sidebar closed
    status = lab_server.get_json("lepton/api/status")
    open_lab(page, lab_server)
    expect(page.locator("#lepton-sidebar")).to_be_hidden()

    # When the user runs "Open Lepton sidebar" from the command palette by keyboard
    palette_input = open_palette(page)
    palette_input.fill("Open Lepton sidebar")
    expect(page.locator(".lm-CommandPalette-item", has_text="Open Lepton sidebar")).to_be_visible(
        timeout=UI_TIMEOUT_MS
    )
    page.keyboard.press("Enter")

    # Then the sidebar opens and loads
    expect_loaded_sidebar(page, status["version"])

    # And the palette offers the main actions under "Lepton"
    open_palette(page).fill("Lepton")
    for label in (
        "Attach a dataset…",
        "Cancel a job…",
        "Promote a model version…",
        "Roll back a model alias…",
        "Rerun a notebook run…",
        "Refresh Lepton sidebar",
    ):
        item = page.locator(".lm-CommandPalette-item", has_text=label)
        expect(item).to_have_count(1, timeout=UI_TIMEOUT_MS)
