"""Checks on a job definition's runs: the grammar and how a run's metrics are judged."""

from __future__ import annotations

import pytest

from lepton_jupyter.errors import Invalid
from lepton_jupyter.scheduler.checks import failure_text, judge, parse_check
from lepton_jupyter.scheduler.store import CheckStore


def test_a_threshold_passes_or_fails_naming_the_value_and_the_bound():
    check = parse_check("  accuracy   >=  0.9 ")
    assert check.text == "accuracy >= 0.9" and not check.against_previous
    ok = judge(check, {"accuracy": 0.93}, None)
    assert ok.passed and ok.message == "accuracy = 0.93, >= 0.9"
    low = judge(check, {"accuracy": 0.85}, None)
    assert not low.passed and low.message == "accuracy = 0.85, needs >= 0.9"


def test_a_regression_check_holds_the_run_to_the_previous_successful_one():
    absolute = parse_check("accuracy >= previous - 0.01")
    assert judge(absolute, {"accuracy": 0.895}, {"accuracy": 0.9}, "r1").passed
    failed = judge(absolute, {"accuracy": 0.85}, {"accuracy": 0.9}, "r1")
    assert not failed.passed
    assert failed.message == "accuracy = 0.85, needs >= 0.89 (previous 0.9 of run r1 - 0.01)"
    relative = parse_check("loss <= previous + 5%")
    assert judge(relative, {"loss": 1.04}, {"loss": 1.0}).passed
    assert not judge(relative, {"loss": 1.06}, {"loss": 1.0}).passed
    # A first run, or a previous run without the metric, has nothing to regress from
    first = judge(absolute, {"accuracy": 0.1}, None)
    assert first.passed and "no earlier successful run" in first.message
    assert judge(absolute, {"accuracy": 0.1}, {"loss": 1.0}).passed


def test_a_missing_or_non_numeric_metric_fails_the_check():
    check = parse_check("accuracy > 0.5")
    missing = judge(check, {"loss": 0.2}, None)
    assert not missing.passed
    assert missing.message == "the run logged no metric 'accuracy' (logged: loss)"
    assert not judge(check, {"accuracy": "high"}, None).passed
    assert not judge(check, {"accuracy": float("nan")}, None).passed
    assert not judge(check, {"accuracy": True}, None).passed


@pytest.mark.parametrize(
    "text",
    ["accuracy", "accuracy => 0.9", "accuracy >= high", "accuracy >= previous * 2", "", "1 > 0"],
)
def test_a_check_not_understood_is_invalid_showing_the_grammar(text: str):
    with pytest.raises(Invalid, match="not understood; write 'METRIC OP NUMBER'"):
        parse_check(text)


def test_failure_text_names_every_failed_check():
    results = [
        judge(parse_check("a >= 1"), {"a": 0, "b": 5}, None),
        judge(parse_check("b >= 1"), {"a": 0, "b": 5}, None),
        judge(parse_check("c < 1"), {"a": 0}, None),
    ]
    assert failure_text(results) == (
        "Checks failed: a >= 1 (a = 0, needs >= 1); "
        "c < 1 (the run logged no metric 'c' (logged: a))"
    )


def test_definition_ids_cannot_name_files_outside_the_store(tmp_path):
    store = CheckStore(tmp_path / "checks")
    for bad in ("../x", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(Invalid, match="is not a job definition id"):
            store.get(bad)
    assert store.get("3d5f3173-f898-49b6").checks == []


def test_the_cli_sets_shows_and_refuses_checks(lepton_state, capsys):
    from lepton_jupyter.cli import main

    assert main(["scheduler", "checks", "def-1", "accuracy >= 0.9", "loss<=previous+5%"]) == 0
    assert main(["scheduler", "checks", "def-1"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[-2:] == ["accuracy >= 0.9", "loss<=previous+5%"]
    assert main(["scheduler", "checks", "def-1", "accuracy is good"]) == 2
    assert "Check 'accuracy is good' is not understood" in capsys.readouterr().err
    assert main(["scheduler", "checks", "def-1", "--clear"]) == 0
    assert "No checks on job definition def-1." in capsys.readouterr().out
    assert main(["scheduler", "series", "def-1"]) == 0
    assert "No run of job definition def-1 was recorded yet." in capsys.readouterr().out


def test_without_jupyter_scheduler_a_clear_message_says_what_to_install(monkeypatch):
    import importlib
    import sys

    from lepton_jupyter.scheduler import service

    # Given an environment without the [scheduler] extra (its modules made unimportable)
    monkeypatch.setattr(service.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setitem(sys.modules, "jupyter_scheduler.executors", None)
    monkeypatch.delitem(sys.modules, "lepton_jupyter.scheduler.executor", raising=False)
    # Then the REST status and the execution manager's import both name the extra
    status = service.scheduler_status(None)
    assert (status.installed, status.enabled) == (False, False)
    assert status.message == (
        "Scheduled runs need jupyter-scheduler: pip install 'lepton_jupyter[scheduler]'."
    )
    with pytest.raises(ImportError, match=r"pip install 'lepton_jupyter\[scheduler\]'"):
        importlib.import_module("lepton_jupyter.scheduler.executor")
