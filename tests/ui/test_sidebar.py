"""The Lepton sidebar in a real JupyterLab, driven through headless chromium."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

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


def search_palette(page: Page, text: str, labels: tuple[str, ...]) -> None:
    """Open the palette by keyboard and type ``text`` until it offers every one of
    ``labels``. On a loaded machine JupyterLab can still be settling (restoring its layout,
    activating the sidebar) when the palette opens, and the focus that moves closes the
    palette again: the whole search is repeated, pressing Ctrl+Shift+C only while the
    palette is closed (the key toggles it), up to UI_TIMEOUT_MS."""
    palette_input = page.locator(".lm-CommandPalette-input")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        if not palette_input.is_visible():
            page.keyboard.press("Control+Shift+C")
        try:
            expect(palette_input).to_be_focused(timeout=5_000)
            palette_input.fill(text, timeout=5_000)
            for label in labels:
                item = page.locator(".lm-CommandPalette-item", has_text=label)
                expect(item).to_have_count(1, timeout=5_000)
            return
        except (AssertionError, PlaywrightTimeoutError):
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
    sidebar = page.locator("#lepton-sidebar.lepton-sidebar")
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while not sidebar.is_visible():  # Enter on a palette that closed meanwhile runs nothing
        search_palette(page, "Open Lepton sidebar", ("Open Lepton sidebar",))
        page.keyboard.press("Enter")
        try:
            expect(sidebar).to_be_visible(timeout=10_000)
        except AssertionError:
            if time.monotonic() > deadline:
                raise

    # Then the sidebar opens and loads
    expect_loaded_sidebar(page, status["version"])

    # And the palette offers the main actions under "Lepton"
    search_palette(
        page,
        "Lepton",
        (
            "Attach a dataset…",
            "Cancel a job…",
            "Promote a model version…",
            "Roll back a model alias…",
            "Rerun a notebook run…",
            "Refresh Lepton sidebar",
        ),
    )
