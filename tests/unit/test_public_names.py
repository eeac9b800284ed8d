"""Top-level verbs that share their name with a subpackage still work as the verbs.

``from lepton_jupyter import compare`` gives the subpackage once anything imported it (the
import system sets the attribute); the README's ``compare([...], ...)`` must still compare.
"""

from __future__ import annotations

import pytest

import lepton_jupyter.compare.api
import lepton_jupyter.jobs.api


@pytest.mark.parametrize(
    ("name", "api"), [("compare", lepton_jupyter.compare.api), ("jobs", lepton_jupyter.jobs.api)]
)
def test_a_verb_named_like_its_subpackage_calls_the_verb(name, api, monkeypatch):
    # Given the subpackage was imported (so the package attribute is the module)
    import lepton_jupyter

    verb = getattr(lepton_jupyter, name)
    # When a notebook calls the name it imported from lepton_jupyter
    monkeypatch.setattr(api, name, lambda *a, **kw: ("called", a, kw))
    # Then the verb runs with its arguments
    assert verb("x") == ("called", ("x",), {})


LAZY_PACKAGES = [
    "",
    ".compare",
    ".datasets",
    ".federated",
    ".jobs",
    ".registry",
    ".runs",
    ".scheduler",
]


@pytest.mark.parametrize("package", LAZY_PACKAGES, ids=lambda p: p or "lepton_jupyter")
def test_every_public_name_resolves_and_a_typo_names_the_package(package):
    import importlib

    module = importlib.import_module(package or "lepton_jupyter", "lepton_jupyter")
    # Every name the package offers is imported from the module its map names
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module)
    # A name it does not offer is an AttributeError that says which package was asked
    with pytest.raises(AttributeError, match=f"'{module.__name__}' has no attribute 'atach'"):
        module.atach  # noqa: B018
