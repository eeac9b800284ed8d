"""What an organisation's training function gets, without Flower's processes: DP-SGD by
Opacus with the budget accounted across rounds, FedProx's proximal term, weights in
state_dict order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lepton_jupyter.federated.schema import DifferentialPrivacy
from lepton_jupyter.federated.training import TrainContext, get_weights, set_weights
from tests.fixtures import federated as fx


def _context(round: int, state: Path, model, **options) -> TrainContext:
    return TrainContext(
        organisation="clinic-a",
        round=round,
        config=options.pop("config", {}),
        privacy=options.pop("privacy", None),
        state_dir=state,
        global_weights=get_weights(model),
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    fx.write_blobs(tmp_path / "data", 120, seed=1, shift=0.0)
    return tmp_path / "data"


def test_dp_budget_is_spent_and_accumulates_over_rounds(data, tmp_path):
    privacy = DifferentialPrivacy(noise_multiplier=1.1, max_grad_norm=1.0, delta=1e-5)
    spent = []
    for round in (1, 2):
        model = fx.build()
        ctx = _context(round, tmp_path / "node", model, privacy=privacy)
        result = fx.train(model, data, ctx)
        assert result["examples"] == 90
        spent.append(ctx.privacy_spent())
    # the second round spends on top of the first (the accountant's history is kept)
    assert 0 < spent[0] < spent[1]


def test_dp_asked_but_not_applied_is_an_error(data, tmp_path):
    model = fx.build()
    ctx = _context(1, tmp_path / "node", model, privacy=DifferentialPrivacy())

    def careless(model, data, ctx):  # never calls ctx.private
        return {"examples": 1, "loss": 0.0}

    careless(model, data, ctx)
    with pytest.raises(RuntimeError, match=r"never called ctx.private"):
        ctx.privacy_spent()


def test_proximal_term_and_weights_round_trip(tmp_path):
    model = fx.build()
    ctx = _context(1, tmp_path, model, config={"proximal_mu": 0.5})
    assert ctx.proximal_term(model).item() == 0.0
    with torch.no_grad():
        model.bias.add_(1.0)  # moved away from the global weights by 1 per element
    assert ctx.proximal_term(model).item() == pytest.approx(0.5 / 2 * 2)
    assert _context(1, tmp_path, model).proximal_term(model).item() == 0.0
    other = fx.build()
    set_weights(other, get_weights(model))
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), other.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match=r"build\(\) must make the starting version"):
        set_weights(torch.nn.Linear(3, 1), get_weights(model)[:1])
