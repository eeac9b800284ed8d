"""Runs end to end with real papermill kernels: the engine's manifest, exact reruns, bad input.

The papermill run is shared (``recorded_run``, one kernel); each rerun here starts one more.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess

import nbformat
import pytest

import lepton_jupyter
from lepton_jupyter import pins
from lepton_jupyter.errors import Conflict, Invalid, NotFound
from lepton_jupyter.runs import RunFailed, get_run, list_runs, record_run, rerun
from lepton_jupyter.runs.schema import Manifest
from lepton_jupyter.runs.store import DIFF, INPUT, OUTPUT, PINS, RunStore
from tests.fixtures.runs import LEPTON, RecordedRun

pytestmark = pytest.mark.slow


def _text(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_papermill_cli_with_the_lepton_engine_writes_a_manifest(recorded_run: RecordedRun):
    # Given `papermill --engine lepton train.ipynb out.ipynb -p lr 0.05` ran in a git workspace
    m = recorded_run.manifest
    # Then its manifest says what ran, with what, and what came out
    assert (m.status, m.engine, m.error) == ("completed", "lepton", None)
    assert m.notebook.path == str(recorded_run.notebook.resolve())
    # (what the notebook ran with: the declared defaults and the injected lr)
    assert m.parameters == {"lr": 0.05, "steps": 40, "seed": 0, "fail": False}
    assert m.injected == {"lr": 0.05} and m.exit_code == 0
    assert isinstance(m.metrics["loss"], float)
    assert [(e["kind"], e["key"]) for e in m.ledger] == [("metric", "loss")]
    assert m.git is not None and m.git.commit == recorded_run.head and not m.git.dirty
    import torch

    assert m.packages["torch"] == torch.__version__
    assert m.packages["lepton_jupyter"] == lepton_jupyter.__version__
    assert {"papermill", "numpy", "dvc"} <= {k for k, v in m.packages.items() if v}
    assert m.python == platform.python_version()
    assert m.started_at < m.ended_at
    assert m.output_digest.startswith("sha256:")
    assert m.output_path == str(recorded_run.output.resolve())
    # And the output notebook names the run; the run folder keeps the notebook as it ran
    output = nbformat.read(recorded_run.output, as_version=4)
    assert output.metadata["lepton"]["run_id"] == m.id
    folder = recorded_run.state / "runs" / m.id
    # (as it ran: the cell papermill injected stays, after the parameters cell)
    kept = nbformat.read(folder / INPUT, as_version=4)
    written = [c.source for c in nbformat.read(recorded_run.notebook, as_version=4).cells]
    assert [c.source for c in kept.cells] == [written[0], "# Parameters\nlr = 0.05\n", *written[1:]]
    assert all(c.get("outputs", []) == [] for c in kept.cells)
    assert (folder / OUTPUT).is_file()
    # And the kernel had the lepton extension (the run ledger) loaded by the startup file
    assert "extension loaded: True" in _text(output)


def test_rerun_reproduces_the_metrics_exactly(use_recorded_state: RecordedRun):
    # Given the recorded run (seeded CPU training)
    original = use_recorded_state.manifest
    # When it is rerun through the public API
    run = lepton_jupyter.rerun(original.id)
    # Then the loss is bit-for-bit the same and the diff finds nothing
    assert run.status == "completed"
    assert run.metrics == original.metrics
    assert run.parameters == original.parameters
    result = run.diff()
    assert result.identical, result.summary()
    assert result.metrics[0].abs_diff == 0.0
    assert run.manifest.output_digest == original.output_digest
    # And the rerun is recorded as one, with its pins and diff beside it
    assert run.manifest.rerun_of == original.id
    assert run.original.id == original.id
    assert {DIFF, PINS, OUTPUT, INPUT} <= {p.name for p in run.folder.iterdir()}
    assert json.loads((run.folder / DIFF).read_text())["after"] == run.id
    assert list_runs()[0].id == run.id
    assert get_run(run.id).metrics == original.metrics


@pytest.mark.parametrize("fail", [False, True], ids=["completed", "failed"])
def test_a_rerun_shows_as_ended_only_once_wholly_recorded(
    own_copy_of_run: RecordedRun, monkeypatch: pytest.MonkeyPatch, fail: bool
):
    """The Runs panel asks for the diff the moment a rerun shows as ended (another process
    polls the store): by then the rerun must be settled and its output written, or that
    diff compares a half-recorded run."""
    # Given every write of a manifest watched (the store itself still writes it)
    ended: list[tuple[Manifest, str]] = []
    real_save = RunStore.save

    def watched_save(store: RunStore, manifest: Manifest):
        if manifest.status != "running":
            output = store.root / manifest.id / OUTPUT
            ended.append((manifest, _text(nbformat.read(output, as_version=4))))
        return real_save(store, manifest)

    monkeypatch.setattr(RunStore, "save", watched_save)
    # When the run is rerun (to completion, or through its failing cell)
    if fail:
        with pytest.raises(RunFailed):
            rerun(own_copy_of_run.manifest.id, {"fail": True})
    else:
        rerun(own_copy_of_run.manifest.id)
    # Then it showed as ended once, already settled in the workspace it reran in, with the
    # output of every cell it ran
    ((manifest, text),) = ended
    assert manifest.status == ("failed" if fail else "completed")
    assert (manifest.rerun_mode, manifest.cwd) == ("dry-run", str(own_copy_of_run.workspace))
    assert manifest.workdir is not None and "loss " in text


def test_cli_rerun_with_an_overridden_parameter_reports_what_changed(
    own_copy_of_run: RecordedRun,
):
    # Given a recorded run with lr=0.05
    original = own_copy_of_run.manifest
    env = {**os.environ, "LEPTON_STATE_DIR": str(own_copy_of_run.state)}
    # When `lepton runs rerun RUN -p lr=0.2 --json` runs
    done = subprocess.run(
        [LEPTON, "runs", "rerun", original.id, "-p", "lr=0.2", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    new_id, result = report["run"]["id"], report["diff"]
    # Then the diff names the parameter, the metric that moved and the cell whose output did
    assert report["run"]["parameters"] == {"lr": 0.2, "steps": 40, "seed": 0, "fail": False}
    assert report["run"]["injected"] == {"lr": 0.2}
    assert result["parameters"] == [{"name": "lr", "before": 0.05, "after": 0.2}]
    (loss,) = result["metrics"]
    assert not loss["equal"] and loss["before"] == original.metrics["loss"]
    assert [c["source"] for c in result["cells"]] == ["import torch"]
    # And `lepton runs diff --check` fails on it, `lepton runs list` and `show` know the run
    check = subprocess.run(
        [LEPTON, "runs", "diff", new_id, "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 1 and "parameter lr: 0.05 -> 0.2" in check.stdout
    listed = subprocess.run(
        [LEPTON, "runs", "list"], env=env, capture_output=True, text=True, timeout=120
    )
    assert (
        f"{new_id}  completed" in listed.stdout
        and f"(dry-run rerun of {original.id})" in listed.stdout
    )
    shown = subprocess.run(
        [LEPTON, "runs", "show", original.id], env=env, capture_output=True, text=True, timeout=120
    )
    assert own_copy_of_run.head in shown.stdout and '"lr": 0.05' in shown.stdout


def test_a_parameter_the_notebook_does_not_declare_is_refused(use_recorded_state: RecordedRun):
    with pytest.raises(Invalid) as info:
        rerun(use_recorded_state.manifest.id, {"lrr": 0.3})
    message = info.value.message
    assert "Parameter 'lrr' is not declared by notebook" in message
    assert "declared parameters: lr, steps, seed, fail" in message
    assert "Did you mean 'lr'?" in message


@pytest.mark.parametrize(
    "parameters",
    [{"lr": "\ud800"}, {"lr": {"nested": ["ok", "\udfff"]}}],
    ids=["value", "nested-value"],
)
def test_a_lone_surrogate_parameter_is_refused_and_no_run_folder_is_made(
    own_copy_of_run: RecordedRun, parameters
):
    # Given a recorded run, and a parameter value no file or JSON can hold (a lone surrogate)
    os.environ["LEPTON_STATE_DIR"] = str(own_copy_of_run.state)
    before = set(own_copy_of_run.store.ids())
    # When a notebook reruns it with that value through the Python API
    with pytest.raises(Invalid) as info:
        rerun(own_copy_of_run.manifest.id, parameters)
    # Then the error names the parameter and the problem, and no run (folder) was started
    assert "Parameter 'lr'" in info.value.message and "surrogate" in info.value.message
    assert set(own_copy_of_run.store.ids()) == before


def test_a_changed_notebook_is_refused_saying_which_cell(own_copy_of_run: RecordedRun):
    # Given the notebook was edited after the run
    nb = nbformat.read(own_copy_of_run.notebook, as_version=4)
    nb.cells[2].source = "print('edited')"
    nbformat.write(nb, own_copy_of_run.notebook)
    # When it is rerun, Then the error names the notebook, the cell and the way out
    with pytest.raises(Conflict) as info:
        rerun(own_copy_of_run.manifest.id)
    message = info.value.message
    assert f"Notebook {own_copy_of_run.notebook} changed since run" in message
    assert "cell 3 changed ('if fail:')" in message
    assert "from_copy=True" in message


def test_a_notebook_that_is_gone_can_be_rerun_from_the_recorded_copy(
    own_copy_of_run: RecordedRun,
):
    # Given the notebook was deleted after the run
    own_copy_of_run.notebook.unlink()
    run_id = own_copy_of_run.manifest.id
    # When it is rerun, Then the error says it is gone and offers the copy
    with pytest.raises(NotFound, match=r"is gone\. To rerun the copy recorded with the run"):
        rerun(run_id)
    # When the recorded copy is rerun, Then it reproduces the run
    run = rerun(run_id, from_copy=True)
    assert run.metrics == own_copy_of_run.manifest.metrics
    assert run.diff().identical


def test_a_cell_that_raises_fails_the_rerun_and_is_recorded(use_recorded_state: RecordedRun):
    # When the rerun is asked to take the failing branch
    original = use_recorded_state.manifest
    with pytest.raises(RunFailed) as info:
        rerun(original.id, {"fail": True})
    # Then the error names the run, the cell and the exception
    assert f"of run {original.id} failed at In [4]: ValueError" in info.value.message
    assert "ValueError: the notebook was asked to fail" in info.value.message
    # And the failed run is recorded with its error
    failed = list_runs()[0]
    assert failed.status == "failed" and failed.manifest.rerun_of == original.id
    assert failed.manifest.error == "In [4]: ValueError: the notebook was asked to fail"
    assert (failed.manifest.failure.cell_index, failed.manifest.exit_code) == (3, 1)


def test_unknown_run_is_not_found(use_recorded_state: RecordedRun):
    with pytest.raises(NotFound, match="No run '20200101-000000-000000'"):
        rerun("20200101-000000-000000")


def test_record_run_makes_an_interactive_session_rerunnable(use_recorded_state: RecordedRun):
    # Given a session (this process) that logged a metric with its notebook on disk
    lepton_jupyter.log_metric("accuracy", 0.75)
    # When it records its run
    run = record_run(notebook=str(use_recorded_state.notebook))
    # Then the manifest holds the notebook's digest and the session's ledger
    m = run.manifest
    assert (m.engine, m.status) == ("interactive", "completed")
    assert m.notebook.digest == use_recorded_state.manifest.notebook.digest
    assert m.metrics == {"accuracy": 0.75}
    assert m.git.commit == use_recorded_state.head
    assert pins.ledger().entries("metric")[0]["value"] == 0.75


def test_record_run_without_a_notebook_name_says_how_to_give_one(monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(Invalid, match=r"pass record_run\(notebook="):
        record_run()
