"""A federation is checked before anything starts: the extra, the strategy by name and its
options, the organisations, their attached datasets, privacy and SecAgg+ settings."""

from __future__ import annotations

import sys

import pytest

from lepton_jupyter.errors import Invalid
from lepton_jupyter.federated import federate
from lepton_jupyter.federated.service import MissingExtra, check_strategy, strategy_names
from tests.fixtures import federated as fx


def test_a_missing_extra_names_what_to_install(monkeypatch):
    # Given Flower is not importable (a None entry in sys.modules makes import fail)
    monkeypatch.setitem(sys.modules, "flwr", None)
    # When a federation is started, Then the error names the extra to install
    with pytest.raises(MissingExtra, match=r"pip install 'lepton-jupyter\[federated\]'"):
        federate("clinics/net@prod", fx.build, fx.train, fx.evaluate, [], rounds=1)


def test_strategies_are_flowers_by_name_with_their_own_options():
    names = strategy_names()
    assert {"FedAvg", "FedProx", "FedAdam", "FedYogi", "FedAdagrad", "FedAvgM"} <= set(names)
    assert check_strategy("fedprox", {"proximal_mu": 0.1}) == "FedProx"
    with pytest.raises(Invalid, match=r"Unknown strategy 'FedAvgg'.*Did you mean 'FedAvg'"):
        check_strategy("FedAvgg", {})
    with pytest.raises(Invalid, match=r"FedProx needs strategy_options \['proximal_mu'\]"):
        check_strategy("FedProx", {})
    with pytest.raises(Invalid, match=r"FedAvg takes no option \['momentum'\]"):
        check_strategy("FedAvg", {"momentum": 0.9})
    with pytest.raises(Invalid, match=r"\['min_fit_clients'\] are set by the federation"):
        check_strategy("FedAvg", {"min_fit_clients": 1})


def test_bad_federations_are_refused_before_anything_starts(federation_world):
    world = federation_world
    orgs = world.organisations()

    def start(organisations=orgs, **options):
        options.setdefault("rounds", 1)
        federate(world.start_ref, fx.build, fx.train, fx.evaluate, organisations, **options)

    # a dataset not attached in the organisation's workspace
    missing = world.organisations(**{"clinic-a": {"dataset": "dta"}})
    with pytest.raises(Invalid, match=r"'clinic-a': no dataset is attached at 'dta'.*'data'"):
        start(missing)
    # a dataset outside the workspace
    outside = world.organisations(**{"clinic-a": {"dataset": "../clinic-b/data"}})
    with pytest.raises(Invalid, match=r"outside its workspace"):
        start(outside)
    with pytest.raises(Invalid, match=r"at least 2 organisations"):
        start(orgs[:1])
    with pytest.raises(Invalid, match=r"named twice: \['clinic-a'\]"):
        start([orgs[0], orgs[0], orgs[1]])
    with pytest.raises(Invalid, match=r"min_organisations must be between 1 and 3, got 4"):
        start(min_organisations=4)
    with pytest.raises(Invalid, match=r"rounds must be an integer of at least 1, got 0"):
        start(rounds=0)
    with pytest.raises(Invalid, match=r"SecAgg\+ needs at least 3 organisations"):
        start(orgs[:2], secure_aggregation=True)
    with pytest.raises(
        Invalid, match=r"Bad privacy options: noise_multiplier: Input should be greater"
    ):
        start(privacy={"noise_multiplier": -1})
    with pytest.raises(Invalid, match=r"Bad organisation 'x' options: workspace: Field required"):
        start([{"name": "x"}, *orgs])
    # and nothing was launched
    from lepton_jupyter import jobs

    assert jobs() == []
