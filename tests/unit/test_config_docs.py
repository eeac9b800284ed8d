"""Every LeptonApp option is documented where a user looks: ``--help-all`` shows its help and
its real default, and the README's table is the one generated from ``Settings``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lepton_jupyter.app import LeptonApp
from lepton_jupyter.settings import Settings, option_names, option_table, shown_default

README = Path(__file__).resolve().parents[2] / "README.md"
OPTIONS = sorted(
    name for name, t in LeptonApp.class_traits(config=True).items() if t.this_class is LeptonApp
)


@pytest.fixture(scope="module")
def help_all() -> str:
    # What `--help-all` prints, from a process of its own (as a user would run it)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lepton_jupyter.app import LeptonApp as A; A.launch_instance(['--help-all'])",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_every_setting_is_a_config_option():
    # Kernels read Settings from LEPTON_* variables; the server sets them from its traits.
    assert set(OPTIONS) == set(option_names())
    assert set(Settings.model_fields) - set(OPTIONS) == {"registry_token"}


@pytest.mark.parametrize("name", OPTIONS)
def test_help_all_shows_each_option_with_its_default(help_all: str, name: str):
    # Given `--help-all`, the entry of each option
    entry = help_all.split(f"--LeptonApp.{name}=", 1)[1].split("\n--", 1)[0]
    # Then it explains the option, names its variable and shows the default it falls back to
    assert len(LeptonApp.class_traits()[name].help) > 20
    assert f"LEPTON_{name.upper()}" in entry.replace("\n    ", " ")
    assert f"Default: {shown_default(name)}" in entry


def test_help_all_shows_the_built_in_defaults_not_none(help_all: str):
    assert "Default: prod" in help_all.split("--LeptonApp.protected_aliases=")[1]
    assert "Default: reflink, hardlink, symlink" in help_all
    assert "Default: <jupyter data dir>/lepton" in help_all


def test_readme_table_is_the_generated_one():
    # The README's configuration table is generated (settings.option_table): regenerate with
    # python -c "from lepton_jupyter.settings import option_table; print(option_table())"
    assert option_table() in README.read_text(), "README's configuration table is out of date"
