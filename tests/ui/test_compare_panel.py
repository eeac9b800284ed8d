"""The Models panel's comparisons view in a real JupyterLab on a real comparison.

The world: a DVC data registry, ``vision/spiral:1`` (barely trained) at ``@prod`` and
``vision/spiral:2`` (trained), compared by ``compare()`` through two papermill evaluation
runs on one data commit; ``@prod`` is gated on that dataset. The state folder lies inside
the server root so the evaluation runs' outputs can be opened from the panel.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lepton_jupyter import pins
from lepton_jupyter.demo.world import DATASET_PATH, create_data_registry
from lepton_jupyter.registry import client as registry_client
from tests.e2e.test_compare import EVALUATE, PARAMETERS, train
from tests.fixtures.runs import write_notebook

from .conftest import LabServer, LabWorld, save_screenshot
from .test_panels import open_model

pytestmark = pytest.mark.browser

GATES = {"prod": {"dataset": DATASET_PATH, "metric": "correct", "min_delta": 0.0}}


@pytest.fixture(scope="module")
def lab_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabWorld]:
    folder = tmp_path_factory.mktemp("compare-world")
    root, state = folder / "root", folder / "root" / "lepton-state"
    root.mkdir()
    config = folder / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"LeptonApp": {"promotion_gates": GATES}})
    )
    saved = dict(os.environ)
    try:
        os.environ["LEPTON_STATE_DIR"] = str(state)
        registry_client._clients.clear()
        pins.reset()
        import lepton_jupyter as lepton
        from lepton_jupyter.compare import compare

        data = create_data_registry(folder / "data", folder / "remote")
        lepton.publish("vision/spiral", train(data / DATASET_PATH, steps=3), alias="prod")
        lepton.publish("vision/spiral", train(data / DATASET_PATH, steps=400))
        notebook = write_notebook(root / "evaluate.ipynb", EVALUATE, PARAMETERS)
        compare(
            ["vision/spiral@prod", "vision/spiral:2"],
            notebook,
            metric="correct",
            parameters={"data_url": str(data)},
            cwd=str(root),
            progress=False,
        )
    finally:
        pins.reset()
        registry_client._clients.clear()
        os.environ.clear()
        os.environ.update(saved)
    # The lab server (started next, for this module) reads its gates from this folder.
    os.environ["JUPYTER_CONFIG_DIR"] = str(config)
    yield LabWorld(root_dir=root, state_dir=state)
    os.environ.clear()
    os.environ.update(saved)


def test_models_panel_shows_the_comparison_and_the_gate_verdict(
    lab_server: LabServer, page: Page, artifacts_dir: Path
) -> None:
    # Given vision/spiral:2 compared with @prod (v1) on one commit of datasets/points
    models, detail = open_model(page, lab_server, "vision/spiral")
    view = models.locator(".lepton-comparisons")
    comparison = view.locator(".lepton-comparison")
    # Then the table ranks v2 first, and v1 against it with an interval below zero
    expect(comparison).to_have_count(1)
    expect(comparison).to_have_attribute("data-winner", "vision/spiral:2")
    expect(comparison.locator(".lepton-comparison-verdict")).to_contain_text(
        "vision/spiral:2 is better than every other candidate"
    )
    rows = comparison.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-candidate", "vision/spiral:2")
    interval = rows.nth(1).locator(".lepton-comparison-interval")
    expect(interval).to_have_text(re.compile(r"^\[\u22120\.\d{4}, \u22120\.\d{4}\]$"))
    expect(comparison).to_contain_text(re.compile(r"datasets/points@[0-9a-f]{8}"))
    # And the gate's verdict: v2 may take @prod from v1
    verdict = comparison.locator(".lepton-gate-verdict")
    expect(verdict).to_have_attribute("data-passed", "true")
    expect(verdict).to_contain_text("@prod: vision/spiral:2 may take it from vision/spiral:1")
    save_screenshot(models, "models-comparison", artifacts_dir)

    # When promoting v2 to @prod, the gate lets it, and the history cites the comparison
    detail.get_by_label("Alias", exact=True).fill("prod")
    detail.locator(".lepton-promote-version").select_option("2")
    detail.get_by_role("button", name="Promote").click()
    prod = detail.locator('.lepton-alias[data-alias="prod"]')
    expect(prod.locator(".lepton-alias-version")).to_have_text("v2")
    prod.get_by_role("button", name="History").click()
    expect(prod.locator(".lepton-history-event").first).to_contain_text(
        re.compile(r"gate passed by comparison #\d+")
    )

    # And v2's lineage goes version -> comparison -> the gated promotion it allowed
    detail.get_by_role("option", name="version 2").click()
    graph = detail.locator(".lepton-lineage")
    expect(graph.locator('.lepton-lineage-node[data-kind="comparison"]')).to_have_count(1)
    expect(graph.locator('.lepton-lineage-node[data-kind="promotion"]')).to_have_count(1)
    expect(graph).to_contain_text("@prod → v2")

    # When the user opens v1's evaluation run, its output notebook opens in the lab
    run_link = rows.nth(1).locator(".lepton-comparison-run")
    run_id = run_link.inner_text()
    run_link.click()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="output.ipynb")
    expect(tab).to_be_visible()
    expect(page.locator(".jp-Notebook")).to_contain_text("vision/spiral:1")
    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}", run_id)
