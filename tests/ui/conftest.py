"""Browser-test fixtures: a real ``jupyter lab`` server and headless Debian chromium.

The server runs as a subprocess of the test session with its own token, port and
folders; it is polled until it answers (no fixed sleeps) and stopped by PID at teardown.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.parts import CHROMIUM, require
from tests.fixtures.processes import free_port, stop_process, wait_for

JUPYTER = Path(sys.executable).with_name("jupyter")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
STARTUP_TIMEOUT = 180.0
# Read at import: the autouse lepton_env fixture clears LEPTON_* variables for each test.
UPDATE_SCREENSHOTS = bool(os.environ.get("LEPTON_UPDATE_SCREENSHOTS"))
DOCS = REPO / "labextension" / "docs"


@dataclass(frozen=True)
class LabServer:
    """A running ``jupyter lab``: where it listens and the token that opens it."""

    base_url: str
    token: str
    root_dir: Path
    log_path: Path

    def url(self, path: str, **query: str) -> str:
        """``base_url/path`` with the token (and any other query arguments)."""
        params = "&".join(f"{k}={v}" if v else k for k, v in query.items())
        separator = "&" if params else ""
        return f"{self.base_url}{path}?token={self.token}{separator}{params}"

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.url(path), timeout=10) as response:
            return json.load(response)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@dataclass(frozen=True)
class LabWorld:
    """What the server is started on: its root folder and lepton's state folder."""

    root_dir: Path
    state_dir: Path


@pytest.fixture(scope="module")
def lab_world(tmp_path_factory: pytest.TempPathFactory) -> LabWorld:
    """Empty folders; a test module overrides this fixture to serve real data."""
    tmp = tmp_path_factory.mktemp("world")
    (tmp / "root").mkdir()
    return LabWorld(root_dir=tmp / "root", state_dir=tmp / "state")


def lab_options(tmp: Path) -> tuple[list[str], LabServer]:
    """Options that make ``jupyter lab`` a test's own: a free port, a token, settings and
    workspaces outside ~/.jupyter, and no news prompt over the screenshots."""
    token = secrets.token_hex(16)
    port = free_port()
    user_settings = tmp / "user-settings"
    news = user_settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text(json.dumps({"fetchNews": "false"}))
    options = [
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--ServerApp.token={token}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        f"--LabApp.user_settings_dir={user_settings}",
    ]
    server = LabServer(
        base_url=f"http://127.0.0.1:{port}/",
        token=token,
        root_dir=Path(),
        log_path=tmp / "jupyter.log",
    )
    return options, server


@contextmanager
def running_lab(
    command: list[str], server: LabServer, *, cwd: Path, env: dict[str, str]
) -> Iterator[LabServer]:
    """Start ``command`` (a ``jupyter lab``), wait until it answers, stop it by PID after."""
    with server.log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group, so the kernels it starts are stopped with it.
            start_new_session=True,
        )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}"
                )
            return _answers(server.url("api/status"))

        try:
            wait_for(ready, timeout=STARTUP_TIMEOUT, interval=0.25, message="jupyter lab")
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n{server.log_tail()}") from e
        yield server
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, lab_world: LabWorld
) -> Iterator[LabServer]:
    """``jupyter lab`` on a free loopback port, serving ``lab_world``."""
    options, server = lab_options(tmp_path_factory.mktemp("lab"))
    server = replace(server, root_dir=lab_world.root_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    env["LEPTON_STATE_DIR"] = str(lab_world.state_dir)
    env["DVC_NO_ANALYTICS"] = "1"
    command = [str(JUPYTER), "lab", *options, f"--ServerApp.root_dir={lab_world.root_dir}"]
    with running_lab(command, server, cwd=lab_world.root_dir, env=env) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Debian chromium driven by Playwright (no browser download).

    Function-scoped on purpose: Playwright's sync API keeps its asyncio loop marked
    as running between calls, and pytest-jupyter's autouse per-test loop fixture
    would pick that loop up and try to close it if Playwright outlived the test.
    """
    require("browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page per test, closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def save_screenshot(target: Any, name: str, artifacts_dir: Path, readme: bool = True) -> Path:
    """``name``.png of a page or element in tests/artifacts/; with
    ``LEPTON_UPDATE_SCREENSHOTS=1`` also in labextension/docs/ for the README (only on
    request, so a test run leaves git clean) unless ``readme`` is False."""
    path = artifacts_dir / f"{name}.png"
    target.screenshot(path=str(path))
    if UPDATE_SCREENSHOTS and readme:
        shutil.copyfile(path, DOCS / path.name)
    return path
