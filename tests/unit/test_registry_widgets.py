"""The model card and browser show what the API returns, and their buttons move aliases."""

from __future__ import annotations

import torch

import lepton_jupyter as lepton
from lepton_jupyter import pins
from lepton_jupyter.widgets.registry import ModelCard, RegistryBrowser, lineage_nodes


def _two_versions() -> None:
    pins.record(
        "dataset",
        "repo|data/points|v2",
        url="repo",
        path="data/points",
        rev="v2",
        commit="abcdef123",
        hash="md5:1",
    )
    lepton.publish(
        "vision/net",
        torch.nn.Linear(2, 2),
        metrics={"acc": 0.71},
        description="spiral classifier",
        alias="prod",
    )
    lepton.publish("vision/net", torch.nn.Linear(2, 2), metrics={"acc": 0.93})
    lepton.load("vision/net@prod")


def test_model_card_shows_versions_aliases_metrics_and_lineage():
    # Given a model with two versions, prod on the first
    _two_versions()
    # When its card is built
    card = ModelCard("vision/net")
    # Then it lists both versions with their metrics and the alias
    assert "spiral classifier" in card.title.value
    assert "0.93" in card.table.value and "0.71" in card.table.value
    assert "<code>@prod</code>" in card.table.value
    # And draws version 2's lineage: the dataset commit in, nothing loaded it yet
    assert card.lineage_version.value == 2
    assert bytes(card.lineage_image.value).startswith(b"\x89PNG")
    inputs, center, consumers = lineage_nodes(lepton.lineage("vision/net:1"))
    assert center == "vision/net:1"
    assert any("data/points" in i and "abcdef12" in i for i in inputs)
    assert consumers  # this run loaded @prod


def test_card_buttons_move_and_roll_back_aliases():
    _two_versions()
    card = ModelCard("vision/net")
    card.alias.value = "prod"
    card.version.value = 2
    card.set_button.click()
    assert "version 2" in card.message.value
    assert lepton.load("vision/net@prod").exists()
    assert [e.version for e in lepton.history("vision/net", "prod")] == [1, 2]
    card.rollback_button.click()
    assert "version 1" in card.message.value
    assert "rollback -&gt; 1" in card.history.value or "rollback -> 1" in card.history.value
    # An error is shown, not raised
    card.rollback_button.click()
    assert "no earlier version" in card.message.value


def test_browser_lists_models_and_opens_a_card():
    _two_versions()
    browser = RegistryBrowser()
    labels = [label for label, _ in browser.models.options]
    assert labels == ["vision/net  v2  @prod"]
    browser.models.value = "vision/net"
    (card,) = browser.card.children
    assert isinstance(card, ModelCard) and card.name == "vision/net"
