"""The run ledger: metrics, the JSON-lines mirror a run engine reads, and the pins of a rerun."""

from __future__ import annotations

import json
import math

import pytest

import lepton_jupyter
from lepton_jupyter import pins
from lepton_jupyter.errors import Invalid
from tests.fixtures.runs import dataset_pin


def test_log_metric_is_recorded_and_mirrored_to_the_run_ledger_file(tmp_path, monkeypatch):
    # Given a process whose run engine named a ledger file
    mirror = tmp_path / "ledger.jsonl"
    monkeypatch.setenv(pins.LEDGER_ENV, str(mirror))
    pins.reset()
    # When the notebook logs metrics (a numpy scalar and a 0-d tensor included)
    import numpy as np
    import torch

    lepton_jupyter.log_metric("loss", torch.tensor(0.25))
    lepton_jupyter.log_metric("loss", np.float32(0.125), step=2)
    lepton_jupyter.log_metric("epochs", 3)
    # Then the last value per name is the run's metric, and the file has every entry
    assert pins.metrics() == {"loss": 0.125, "epochs": 3}
    entries = pins.read_ledger_file(mirror)
    assert [(e["kind"], e["key"], e["value"]) for e in entries] == [
        ("metric", "loss", 0.25),
        ("metric", "loss", 0.125),
        ("metric", "epochs", 3),
    ]
    assert entries[1]["step"] == 2


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("", 1.0, "non-empty string"),
        ("acc", "high", "'acc' must be a real number, got str"),
        ("acc", None, "'acc' must be a real number, got NoneType"),
        ("loss", math.nan, "'loss' is nan"),
        ("loss", math.inf, "'loss' is inf"),
    ],
)
def test_log_metric_rejects_what_is_not_a_finite_number(name, value, expected):
    with pytest.raises(Invalid, match=expected):
        lepton_jupyter.log_metric(name, value)
    assert pins.metrics() == {}


def test_a_mirror_line_cut_short_by_a_killed_kernel_is_skipped(tmp_path):
    # Given a ledger file whose last line a killed kernel left unfinished
    mirror = tmp_path / "ledger.jsonl"
    good = dataset_pin()
    mirror.write_text(json.dumps(good) + "\n" + '{"kind": "metric", "ke')
    # When the engine reads it, Then it keeps the complete entries
    assert pins.read_ledger_file(mirror) == [good]


def test_pins_file_makes_a_key_resolve_to_the_first_recorded_resolution(tmp_path, monkeypatch):
    # Given the ledger of a run that resolved the same ref twice, and logged a metric
    entries = [
        {"kind": "model", "key": "team/m@prod", "name": "team/m", "version": 1},
        {"kind": "model", "key": "team/m@prod", "name": "team/m", "version": 2},
        {"kind": "metric", "key": "loss", "value": 0.5},
    ]
    path = pins.write_pins(
        entries, tmp_path / "pins.json", mode="dry-run", workdir=tmp_path / "workdir"
    )
    # Then the pins file leaves metrics out (they are outcomes, not resolutions)
    assert [e["kind"] for e in json.loads(path.read_text())["entries"]] == ["model", "model"]
    # When a rerun reads it
    monkeypatch.setenv(pins.PINS_ENV, str(path))
    pins.reset()
    # Then the ref is pinned to what the run saw first, and other keys are not pinned
    assert pins.pinned("model", "team/m@prod")["version"] == 1
    assert pins.pinned("model", "team/m@staging") is None
    assert pins.pinned("metric", "loss") is None
    # And the rerun knows it may change nothing shared, and where its own folder is
    assert (pins.rerun_mode(), pins.dry_run()) == ("dry-run", True)
    assert pins.rerun_workdir() == tmp_path / "workdir"


def test_a_pins_file_from_before_rerun_modes_still_pins(tmp_path, monkeypatch):
    # Given a pins file written by an earlier version (a bare list of entries)
    path = tmp_path / "pins.json"
    path.write_text(json.dumps([dataset_pin(url="u", path="p", rev="main", commit="abc")]))
    monkeypatch.setenv(pins.PINS_ENV, str(path))
    pins.reset()
    # Then its entries pin, and the rerun has no mode and no folder of its own
    assert pins.pinned("dataset", "u|p|main")["commit"] == "abc"
    assert (pins.rerun_mode(), pins.dry_run(), pins.rerun_workdir()) == (None, False, None)


def test_outside_a_rerun_nothing_is_pinned():
    assert pins.pinned("dataset", "u|p|main") is None
    assert (pins.rerun_mode(), pins.dry_run(), pins.rerun_workdir()) == (None, False, None)


@pytest.mark.parametrize("content", [None, "{not json"])
def test_unreadable_pins_file_is_a_clear_error_at_activation(tmp_path, monkeypatch, content):
    # Given LEPTON_PINS naming a missing or corrupt file
    path = tmp_path / "pins.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv(pins.PINS_ENV, str(path))
    pins.reset()
    # When the kernel extension activates the ledger, Then the error names the file and variable
    with pytest.raises(Invalid, match=rf"pins file {path} named by LEPTON_PINS"):
        pins.activate()


def test_the_ipython_extension_activates_the_ledger_and_registers_the_magics(monkeypatch):
    # Given an IPython shell (a real one, as a kernel has)
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.extension_manager.loaded.discard("lepton_jupyter")  # the shell is process-global
    # When the extension loads (the shipped startup file does this in every kernel:
    # tests/e2e/test_kernel_startup.py)
    shell.extension_manager.load_extension("lepton_jupyter")
    # Then the ledger exists and %lepton answers
    assert "lepton_jupyter" in shell.extension_manager.loaded
    assert pins._ledger is not None
    assert "state_dir" in shell.run_line_magic("lepton", "status")
