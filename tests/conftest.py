"""Shared fixtures: a real Jupyter server with lepton enabled, isolated state per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lepton_jupyter import pins
from tests.fixtures import parts

pytest_plugins = [
    "pytest_jupyter.jupyter_server",
    "tests.fixtures.processes",
    "tests.fixtures.jobs",
    "tests.fixtures.datasets",
    "tests.fixtures.slurm",
    "tests.fixtures.registry",
    "tests.fixtures.runs",
    "tests.fixtures.accounts",
    "tests.fixtures.hub",
    "tests.fixtures.federated",
]


#: What makes a test slow by itself: a real PostgreSQL, Slurm, hub, browser or standalone
#: registry server, or the shared papermill run. Such tests join the slow tier
#: (``pytest -m "not slow"`` is the edit-test loop; CI runs everything).
SLOW_PARTS = {"postgres", "slurm", "browser"}
SLOW_FIXTURES = {
    "postgres_server",
    "hub",
    "slurm_cluster",
    "lab_server",
    "browser",
    "registry_server",
    "recorded_run",
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        marked = {m.name for m in item.iter_markers()}
        if SLOW_PARTS & marked or SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config: pytest.Config) -> str:
    required = ", ".join(sorted(parts.REQUIRED)) or "none: a test whose part is missing skips"
    return f"required parts ({parts.REQUIRE_ENV}): {required}"


@pytest.fixture(autouse=True)
def lepton_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each test gets its own lepton state folder; the environment is restored afterwards.

    The server extension exports LEPTON_* variables for its kernels, so without the restore
    one test's locations would leak into the next.
    """
    saved = dict(os.environ)
    state = tmp_path_factory.mktemp("lepton-state")
    os.environ["LEPTON_STATE_DIR"] = str(state)
    os.environ["DVC_NO_ANALYTICS"] = "1"
    for key in [k for k in os.environ if k.startswith("LEPTON_") and k != "LEPTON_STATE_DIR"]:
        del os.environ[key]
    # Jobs start fresh unless a test asks for the warm pool (the job_pool fixture), so no
    # test leaves a pool behind.
    os.environ["LEPTON_JOB_POOL"] = "0"
    pins.reset()
    yield {"LEPTON_STATE_DIR": str(state)}
    pins.reset()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def lepton_state(lepton_env: dict[str, str]) -> Path:
    return Path(lepton_env["LEPTON_STATE_DIR"])


@pytest.fixture
def jp_server_config(lepton_state: Path) -> dict:
    return {
        "ServerApp": {"jpserver_extensions": {"lepton_jupyter": True}},
        "LeptonApp": {"state_dir": str(lepton_state)},
    }
