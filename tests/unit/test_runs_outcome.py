"""The papermill engine's pure parts: outcomes as papermill decides them, parameters as the
notebook ran with them, lossless storage, paths as papermill resolves them, crashed runs.

Executed notebooks are built here as nbclient + papermill leave them (outputs, execution
counts, papermill's cell metadata); the e2e corpus (tests/e2e/test_papermill_dropin.py)
checks the same against real kernels.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lepton_jupyter.runs.manifest import notebook_location, now
from lepton_jupyter.runs.outcome import cell_label, exception_outcome, notebook_outcome
from lepton_jupyter.runs.parameters import (
    SourceValue,
    decode,
    encode,
    literal_value,
    run_parameters,
)
from lepton_jupyter.runs.schema import Manifest, NotebookInfo
from lepton_jupyter.runs.store import RunStore


def _cell(source: str, *outputs: dict, count: int | None = None, tags=(), exception=False):
    cell = nbformat.v4.new_code_cell(source)
    cell.execution_count = count
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    cell.metadata["tags"] = list(tags)
    cell.metadata["papermill"] = {"exception": exception}
    return cell


def _error(ename: str, evalue: str) -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def _executed(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": {}}
    nb.cells = list(cells)
    return nb


def test_a_failed_cell_is_reported_as_papermill_reports_it_with_its_in_number():
    nb = _executed(
        _cell("a = 1", count=1, tags=["parameters"]),
        _cell("a = 2", count=2, tags=["injected-parameters"]),
        _cell("raise ValueError('boom')", _error("ValueError", "boom"), count=3, exception=True),
    )
    outcome = notebook_outcome(nb)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    assert outcome.failure.model_dump() == {
        "ename": "ValueError",
        "evalue": "boom",
        "cell_index": 2,
        "exec_count": 3,
    }
    assert outcome.failure.text() == "In [3]: ValueError: boom"
    # papermill's judge worked on a copy: the notebook gained no marker cells
    assert len(nb.cells) == 3


def test_an_error_printed_by_a_magic_fails_the_run_through_papermills_exception_flag():
    # IPython prints a UsageError to stderr: no error output, only the cell's flag
    stderr = {"output_type": "stream", "name": "stderr", "text": "UsageError: no magic"}
    nb = _executed(_cell("%nosuch", stderr, count=1, exception=True), _cell("print(1)"))
    outcome = notebook_outcome(nb)
    assert outcome.status == "failed"
    assert outcome.failure.text() == "In [1]: CellExecutionError"


@pytest.mark.parametrize(
    "evalue, status", [("", "completed"), ("0", "completed"), ("1", "failed"), ("bye", "failed")]
)
def test_sys_exit_with_nothing_or_zero_completes_anything_else_fails(evalue, status):
    nb = _executed(
        _cell("import sys; sys.exit()", _error("SystemExit", evalue), count=1, exception=True),
        _cell("print('never')"),
    )
    outcome = notebook_outcome(nb)
    assert (outcome.status, outcome.exit_code) == (status, 0 if status == "completed" else 1)


def test_papermill_reports_the_last_error_so_a_raises_exception_cell_before_it_is_not_named():
    expected = _cell(
        "1/0", _error("ZeroDivisionError", "division by zero"), count=1, tags=["raises-exception"]
    )
    nb = _executed(
        expected,
        _cell("raise KeyError('k')", _error("KeyError", "'k'"), count=2, exception=True),
    )
    assert notebook_outcome(nb).failure.text() == "In [2]: KeyError: 'k'"
    # papermill 2.x also fails a run whose only error is in a raises-exception cell
    assert notebook_outcome(_executed(expected)).status == "failed"


def test_parameters_json_cannot_hold_fail_the_run_with_the_message_papermill_gives():
    nb = _executed(_cell("print(1)", count=1))
    nb.metadata["papermill"]["parameters"] = {"when": datetime.date(2026, 1, 2)}
    outcome = notebook_outcome(nb)
    with pytest.raises(TypeError) as papermill_says:
        nbformat.writes(nb)
    assert outcome.status == "failed"
    assert outcome.failure.text() == f"TypeError: {papermill_says.value}"


def test_an_exception_raised_through_the_engine_is_the_failure():
    outcome = exception_outcome(TimeoutError("Cell execution timed out"))
    assert (outcome.status, outcome.failure.text()) == (
        "failed",
        "TimeoutError: Cell execution timed out",
    )
    assert cell_label(None) == "In [ ]"


@pytest.mark.parametrize(
    "value",
    [
        1,
        -2.5,
        True,
        None,
        'it\'s "quoted" \u00e9',
        [1, "a", None],
        (1, (2, 3)),
        {"nested": {"list": [1.5, (2,)]}},
        {1: "int key", (1, 2): "tuple key"},
        {"__tuple__": [1]},
        float("inf"),
        float("-inf"),
    ],
)
def test_parameter_values_papermill_accepts_keep_their_type_through_json(value):
    stored = json.loads(json.dumps(encode(value), allow_nan=False))
    back = decode(stored)
    assert back == value and type(back) is type(value)


def test_nan_and_values_json_cannot_hold_are_stored_as_what_they_are():
    assert math.isnan(decode(json.loads(json.dumps(encode(float("nan")), allow_nan=False))))
    for refused in (Path("/data/x"), decimal.Decimal("1.10"), datetime.date(2026, 1, 2)):
        back = decode(json.loads(json.dumps(encode(refused))))
        assert back == SourceValue(
            repr(refused), f"{type(refused).__module__}.{type(refused).__qualname__}"
        )


def test_a_manifest_stores_parameters_losslessly_and_reads_older_manifests(tmp_path):
    manifest = Manifest(
        id="20260101-000000-000000",
        notebook=NotebookInfo(path="/nb.ipynb", digest="sha256:x"),
        started_at=now(),
        parameters={"shape": (2, 3), "rate": float("inf"), "data_dir": SourceValue("Path.home()")},
        injected={"shape": (2, 3)},
    )
    text = manifest.model_dump_json()
    json.loads(text)  # strict JSON: a browser parses it
    assert Manifest.model_validate_json(text) == manifest
    # A manifest from before `injected`: its parameters were the injected values
    older = json.loads(text)
    del older["injected"]
    older["parameters"] = {"lr": 0.1}
    assert Manifest.model_validate_json(json.dumps(older)).injected == {"lr": 0.1}


@pytest.mark.parametrize(
    "source, value",
    [
        ("0.1", 0.1),
        ("'a'", "a"),
        ("float('nan')", "nan"),
        ("float('-inf')", -math.inf),
        ("(1, [2, {'k': None}])", (1, [2, {"k": None}])),
        ("os.environ['HOME']", SourceValue("os.environ['HOME']")),
    ],
)
def test_literals_are_read_as_papermill_writes_them_and_expressions_kept_as_source(source, value):
    got = literal_value(source)
    if value == "nan":
        assert math.isnan(got)
    else:
        assert got == value and type(got) is type(value)


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["papermill"] = {"parameters": {}}
    nb.cells = list(cells)
    return nb


def test_recorded_parameters_are_declared_defaults_overlaid_by_what_was_injected():
    from papermill.parameterize import parameterize_notebook

    declared = _cell("lr = 0.1\nsteps = 10\nname = 'x'\nroot = Path.home()", tags=["parameters"])
    nb = parameterize_notebook(
        _notebook(declared, _cell("print(lr)")), {"lr": 0.5, "shape": (1, 2)}
    )
    parameters, injected = run_parameters(nb)
    # papermill writes a tuple as a string: the notebook ran with the string
    assert injected == {"lr": 0.5, "shape": "(1, 2)"}
    assert parameters == {
        "lr": 0.5,
        "steps": 10,
        "name": "x",
        "root": SourceValue("Path.home()"),
        "shape": "(1, 2)",
    }
    # No injected cell: the defaults, and nothing to inject again
    assert run_parameters(_notebook(declared)) == (
        {"lr": 0.1, "steps": 10, "name": "x", "root": SourceValue("Path.home()")},
        None,
    )


def test_an_injected_cell_saved_in_the_input_is_read_from_its_source():
    declared = _cell("lr = 0.1", tags=["parameters"])
    saved = _cell("# Parameters\nlr = 0.25\nextra = [1, 2]\n", tags=["injected-parameters"])
    nb = _notebook(declared, saved)
    # stale papermill metadata from an earlier run: the cell is what ran
    nb.metadata["papermill"]["parameters"] = {"lr": 9}
    assert run_parameters(nb) == ({"lr": 0.25, "extra": [1, 2]}, {"lr": 0.25, "extra": [1, 2]})


def test_paths_are_resolved_as_papermill_resolves_them(tmp_path):
    assert notebook_location("sub/nb.ipynb", str(tmp_path)) == (
        "file",
        str((tmp_path / "sub" / "nb.ipynb").resolve()),
    )
    assert notebook_location("-", "/anywhere") == ("stdin", "-")
    assert notebook_location("http://host/nb.ipynb", "/x") == ("url", "http://host/nb.ipynb")
    assert notebook_location(nbformat.v4.new_notebook(), "/x") == ("object", "")


def test_a_running_run_whose_process_is_gone_reads_as_crashed_and_a_live_one_as_running(tmp_path):
    from lepton_jupyter._process import process_started

    store = RunStore(tmp_path / "runs")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs = {}
    for name, pid in (("gone", gone.pid), ("alive", os.getpid())):
        run_id = store.create()
        store.save(
            Manifest(
                id=run_id,
                notebook=NotebookInfo(path=f"/{name}.ipynb", digest="sha256:x"),
                started_at=now(),
                pid=pid,
                pid_started=process_started(pid) if name == "alive" else 1.0,
            )
        )
        runs[name] = run_id
    # this process with another start time is a reused pid: not the run's process
    reused = store.create()
    store.save(
        Manifest(
            id=reused,
            notebook=NotebookInfo(path="/reused.ipynb", digest="sha256:x"),
            started_at=now(),
            pid=os.getpid(),
            pid_started=12.0,
        )
    )
    assert store.get(runs["alive"]).status == "running"
    crashed = store.get(runs["gone"])
    assert crashed.status == "crashed" and f"pid {gone.pid}" in crashed.error
    assert {m.id: m.status for m in store.list()}[reused] == "crashed"
    # recorded: the next reader reads it from the file
    assert (
        json.loads((store.root / runs["gone"] / "manifest.json").read_text())["status"] == "crashed"
    )
