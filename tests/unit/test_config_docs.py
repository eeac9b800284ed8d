"""Every LeptonApp option is documented: a help text and a row in the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from lepton_jupyter.app import LeptonApp
from lepton_jupyter.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
OPTIONS = sorted(
    name for name, t in LeptonApp.class_traits(config=True).items() if t.this_class is LeptonApp
)


@pytest.mark.parametrize("name", OPTIONS)
def test_option_has_help_and_a_readme_row(name: str):
    trait = LeptonApp.class_traits()[name]
    assert len(trait.help) > 20, f"c.LeptonApp.{name} needs a help= text"
    rows = [line for line in README.read_text().splitlines() if line.startswith(f"| `{name}` |")]
    assert rows, f"README's configuration table lacks a row for c.LeptonApp.{name}"
    assert f"LEPTON_{name.upper()}" in rows[0], f"README row for {name} must name its variable"


def test_every_setting_is_a_config_option():
    # Kernels read Settings from LEPTON_* variables; the server sets them from its traits.
    assert set(Settings.model_fields) - {"registry_token"} <= set(OPTIONS)
