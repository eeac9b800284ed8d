"""Required parts: in CI a missing part fails, naming what to install; elsewhere it skips.

Mutation checks, done when these were written: with ``unavailable`` always skipping (the old
behaviour) the first test goes red; with ``.ci/setup``'s early check removed, the ``.ci/run``
test goes red (set-up carries on to the virtual environment); with the check's ``stop``
turned into a warning (the old behaviour), it goes red too.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.fixtures import parts

REPO = Path(__file__).resolve().parents[2]
# Caught together, so that a skip where a failure is due fails this test instead of skipping it.
OUTCOMES = (pytest.fail.Exception, pytest.skip.Exception)


@pytest.fixture
def no_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process's view of the machine, with chromium gone."""
    gone = tmp_path / "no" / "chromium"
    monkeypatch.setattr(parts, "CHROMIUM", gone)
    parts.missing.cache_clear()
    yield gone
    parts.missing.cache_clear()


def test_a_required_part_that_is_missing_fails_naming_what_to_install(no_chromium, monkeypatch):
    # Given CI requires the browser, on a machine without chromium
    monkeypatch.setattr(parts, "REQUIRED", frozenset({"browser"}))
    # When a browser test asks for it, Then the test fails (not skips), saying what to install
    with pytest.raises(OUTCOMES) as info:
        parts.require("browser")
    assert info.type is pytest.fail.Exception
    message = str(info.value)
    assert f"no chromium executable at {no_chromium}" in message
    assert "apt-get install chromium" in message and parts.REQUIRE_ENV in message


def test_outside_ci_a_missing_part_skips_with_the_same_reason(no_chromium, monkeypatch):
    monkeypatch.setattr(parts, "REQUIRED", frozenset())
    with pytest.raises(OUTCOMES) as info:
        parts.require("browser")
    assert info.type is pytest.skip.Exception
    assert f"no chromium executable at {no_chromium}" in str(info.value)
    assert "apt-get install chromium" in str(info.value)


def test_an_unknown_part_name_is_an_error_not_nothing_required():
    with pytest.raises(ValueError, match=r"unknown parts \['chromium'\]; the parts are browser"):
        parts.parse_parts("postgres,chromium")
    assert parts.parse_parts("all") == list(parts.PARTS)


def test_ci_requires_every_part_the_suite_drives():
    declared = re.search(r"^export LEPTON_REQUIRE=(\S+)$", (REPO / ".ci/run").read_text(), re.M)
    assert declared, ".ci/run must export LEPTON_REQUIRE"
    assert set(parts.parse_parts(declared.group(1))) == set(parts.PARTS)


FAKE_APT = """#!/bin/sh
# A machine whose package mirror cannot provide the package.
echo "apt-get $*" >> "$APT_LOG"
echo "E: Unable to locate package" >&2
exit 100
"""


def test_ci_run_on_a_machine_without_chromium_stops_naming_chromium(tmp_path):
    # Given a copy of the CI scripts and the parts list (so nothing here is touched), on a
    # machine where chromium is missing and apt-get cannot install it (both simulated:
    # LEPTON_CHROMIUM points at nothing, and a fake apt-get comes first on PATH)
    repo = tmp_path / "repo"
    shutil.copytree(REPO / ".ci", repo / ".ci")
    for name in ("__init__.py", "fixtures/__init__.py", "fixtures/parts.py"):
        (repo / "tests" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "tests" / name, repo / "tests" / name)
    # (a file where the venv would go: a set-up that carries on fails at once, not after
    # minutes of pip)
    (repo / ".venv").write_text("untouched")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "apt-get").write_text(FAKE_APT)
    (fake_bin / "apt-get").chmod(stat.S_IRWXU)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")},
        "PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        "APT_LOG": str(tmp_path / "apt.log"),
        parts.CHROMIUM_ENV: str(tmp_path / "no" / "chromium"),
    }
    # When CI runs
    done = subprocess.run(
        ["bash", str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=120
    )
    # Then it fails before making any environment, naming chromium and how to install it
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"browser: no chromium executable at {tmp_path / 'no' / 'chromium'}" in done.stderr
    assert "Install: apt-get install chromium" in done.stderr
    assert ".ci/setup: stopped" in done.stderr
    assert (repo / ".venv").read_text() == "untouched"
    if os.geteuid() == 0:
        # having tried to install it (as root)
        assert (tmp_path / "apt.log").read_text().startswith("apt-get update")
        assert "apt-get could not install chromium" in done.stderr
