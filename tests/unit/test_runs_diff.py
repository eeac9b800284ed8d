"""Run diffs: parameters, pins held or changed, metrics within a tolerance, cell outputs."""

from __future__ import annotations

from datetime import datetime, timezone

import nbformat
import pytest

from lepton_jupyter.runs.diff import compare_runs, diff_cells, diff_metrics, diff_pins
from lepton_jupyter.runs.manifest import output_digest
from lepton_jupyter.runs.render import diff_html
from lepton_jupyter.runs.schema import Manifest, NotebookInfo


def _nb(outputs: list[list[dict]], injected: str | None = None, counts: int = 1):
    nb = nbformat.v4.new_notebook()
    if injected is not None:
        cell = nbformat.v4.new_code_cell(injected)
        cell.metadata["tags"] = ["injected-parameters"]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("# title"))
    for i, outs in enumerate(outputs):
        cell = nbformat.v4.new_code_cell(f"print({i})", execution_count=i + counts)
        cell.outputs = [nbformat.from_dict(o) for o in outs]
        nb.cells.append(cell)
    return nb


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _result(text: str, count: int) -> dict:
    return {
        "output_type": "execute_result",
        "execution_count": count,
        "metadata": {},
        "data": {"text/plain": text},
    }


def _manifest(run_id: str, **fields) -> Manifest:
    return Manifest(
        id=run_id,
        notebook=NotebookInfo(path="/nb.ipynb", digest="sha256:x"),
        started_at=datetime.now(timezone.utc),
        **fields,
    )


def test_metrics_are_equal_within_absolute_or_relative_tolerance():
    before = {"loss": 0.5, "acc": 0.9, "steps": 10, "gone": 1.0}
    after = {"loss": 0.5000001, "acc": 0.9, "steps": 10, "new": 2.0}
    exact = {m.name: m.equal for m in diff_metrics(before, after)}
    assert exact == {"acc": True, "gone": False, "loss": False, "new": False, "steps": True}
    assert {m.name: m.equal for m in diff_metrics(before, after, abs_tol=1e-6)}["loss"]
    assert {m.name: m.equal for m in diff_metrics(before, after, rel_tol=1e-6)}["loss"]
    loss = next(m for m in diff_metrics(before, after) if m.name == "loss")
    assert loss.abs_diff == pytest.approx(1e-7)
    assert loss.rel_diff == pytest.approx(2e-7)


def test_pins_held_changed_missing_and_new_ignore_when_they_were_recorded():
    before = [
        {"kind": "dataset", "key": "u|points|main", "at": 1.0, "commit": "aaa", "hash": "h"},
        {"kind": "model", "key": "m@prod", "at": 2.0, "version": 1, "digest": "d1"},
        {"kind": "model", "key": "old@prod", "at": 2.0, "version": 4},
        {"kind": "metric", "key": "loss", "value": 1.0},
        {"kind": "job", "key": "job-1"},
    ]
    after = [
        {"kind": "dataset", "key": "u|points|main", "at": 9.0, "commit": "aaa", "hash": "h"},
        {"kind": "model", "key": "m@prod", "at": 9.0, "version": 2, "digest": "d2"},
        {"kind": "model", "key": "other@prod", "at": 9.0, "version": 1},
    ]
    result = {(p.kind, p.key): p.status for p in diff_pins(before, after)}
    assert result == {
        ("dataset", "u|points|main"): "held",
        ("model", "m@prod"): "changed",
        ("model", "old@prod"): "missing",
        ("model", "other@prod"): "new",
    }


def test_cells_compare_results_not_counts_progress_bars_or_the_injected_parameters_cell():
    # Given two executions with the same outputs but other counts and parameter cells
    # (and, in only one of them, progress bars and a stream split in two chunks)
    bar = {"output_type": "stream", "name": "stderr", "text": "attach: 100%|##| 2/2\n"}
    widget = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x"}, "text/plain": "0%"},
    }
    first = [bar, widget, _stream("1"), _stream("\n")]
    a = _nb([first, [_result("2", 3)]], injected="lr = 0.1", counts=1)
    b = _nb([[_stream("1\n")], [_result("2", 7)]], injected="lr = 0.2", counts=5)
    # Then no cell differs and the output digests agree
    assert diff_cells(a, b) == ([], [])
    assert output_digest(a) == output_digest(b)
    # When one output changes, Then that cell is reported at its place in the notebook
    c = _nb([[_stream("1\n")], [_result("3", 7)]])
    (changed,), _ = diff_cells(a, c)
    assert (changed.index, changed.outputs_changed, changed.source_changed) == (2, True, False)
    assert (changed.before, changed.after) == ("2", "3")
    assert output_digest(a) != output_digest(c)


def test_a_run_diff_is_identical_only_when_everything_matches():
    nb = _nb([[_stream("ok\n")]])
    ledger = [{"kind": "model", "key": "m@prod", "version": 1}]
    a = _manifest("a", parameters={"lr": 0.1}, metrics={"loss": 0.5}, ledger=ledger)
    same = _manifest("b", parameters={"lr": 0.1}, metrics={"loss": 0.5}, ledger=ledger)
    other = _manifest("c", parameters={"lr": 0.2}, metrics={"loss": 0.7}, ledger=ledger)
    identical = compare_runs(a, same, nb, nb)
    assert identical.identical
    assert [p.key for p in identical.held] == ["m@prod"]
    different = compare_runs(a, other, nb, nb)
    assert not different.identical
    assert [(p.name, p.before, p.after) for p in different.parameters] == [("lr", 0.1, 0.2)]
    summary = different.summary()
    assert "parameter lr: 0.1 -> 0.2" in summary
    assert "metric loss: 0.5 -> 0.7 differs" in summary
    assert "pin model m@prod: held" in summary
    # The widget's HTML shows the same facts
    html = diff_html(different)
    assert "different" in html and "m@prod" in html and "0.7" in html


def test_the_diff_widget_recomputes_with_the_tolerance(tmp_path, monkeypatch):
    # Given two stored runs whose loss differs by 1e-4
    from lepton_jupyter.runs.store import RunStore
    from lepton_jupyter.widgets.runs import RunDiffView

    monkeypatch.setenv("LEPTON_STATE_DIR", str(tmp_path))
    store = RunStore(tmp_path / "runs")
    first, second = store.create(), store.create()
    store.save(_manifest(first, metrics={"loss": 0.5}))
    store.save(_manifest(second, metrics={"loss": 0.5001}, rerun_of=first))
    # When the widget shows the rerun, Then it is different at tolerance 0
    view = RunDiffView(second)
    assert "different" in view.body.value
    # When the user widens the absolute tolerance, Then the same diff is identical
    view.abs_tol.value = 1e-3
    assert "identical" in view.body.value and "abs_tol=0.001" in view.body.value


def test_run_ids_job_ids_times_and_the_reruns_folder_are_presentation_not_difference():
    # Given two runs whose outputs name their own run, job, rerun folder and clock time
    a = _manifest("20260101-000000-000001", ledger=[{"kind": "job", "key": "job-aaa"}])
    b = _manifest(
        "20260101-000000-000002",
        ledger=[{"kind": "job", "key": "job-bbb"}],
        cwd="/ws",
        workdir="/state/runs/20260101-000000-000002/workdir",
        rerun_mode="dry-run",
    )
    nb_a = _nb(
        [
            [_stream(f"run {a.id} job job-aaa at 2026-01-01T10:00:00.123+00:00\n")],
            [_stream("/ws/points\n")],
            [_stream("loss 0.5\n")],
        ]
    )
    nb_b = _nb(
        [
            [_stream(f"run {b.id} job job-bbb at 2026-02-03 11:12:13\n")],
            [_stream(f"{b.workdir}/points\n")],
            [_stream("loss 0.5\n")],
        ]
    )
    # When they are compared
    result = compare_runs(a, b, nb_a, nb_b)
    # Then they are identical; the two cells show up as presentation only
    assert result.identical, result.summary()
    assert [c.index for c in result.presentation] == [1, 2]  # after the parameters cell
    assert "only ids or times differ" in result.summary()
    assert "(dry-run rerun)" in result.summary()
    # But a real change next to an id is a difference
    nb_c = _nb(
        [
            [_stream(f"run {b.id} job job-bbb at 2026-02-03 11:12:13\n")],
            [_stream(f"{b.workdir}/points\n")],
            [_stream("loss 0.7\n")],
        ]
    )
    assert [c.index for c in compare_runs(a, b, nb_a, nb_c).cells] == [3]


def test_published_digests_say_whether_the_model_bytes_were_reproduced():
    def publish(digest, applied=None):
        entry = {"kind": "publish", "key": "t/m:1", "name": "t/m", "version": 1}
        entry["digest"] = digest
        if applied is not None:
            entry["applied"] = applied
        return entry

    nb = _nb([[_stream("ok\n")]])
    a = _manifest("a", ledger=[publish("blake3:aa")])
    same = _manifest(
        "b",
        ledger=[
            publish("blake3:aa", applied=False),
            {
                "kind": "alias",
                "key": "t/m@prod",
                "name": "t/m",
                "alias": "prod",
                "version": 1,
                "applied": False,
            },
        ],
    )
    other = _manifest("c", ledger=[publish("blake3:bb", applied=False)])
    reproduced = compare_runs(a, same, nb, nb)
    assert reproduced.model_bytes_reproduced is True and reproduced.identical
    assert "model t/m:1 bytes reproduced: yes" in reproduced.summary()
    assert reproduced.not_applied == ["publish t/m:1", "move t/m@prod -> 1"]
    changed = compare_runs(a, other, nb, nb)
    assert changed.model_bytes_reproduced is False and not changed.identical
    assert "bytes reproduced: no" in changed.summary()


def test_the_summary_names_pins_as_people_do_with_full_commits():
    # Given two runs that resolved a dataset at main and a model alias alike
    commit = "0123456789abcdef0123456789abcdef01234567"
    digest = "blake3:" + "ab" * 32
    ledger = [
        {"kind": "dataset", "key": "/srv/reg|datasets/points|main", "url": "/srv/reg",
         "path": "datasets/points", "rev": "main", "commit": commit, "hash": "x" * 32},
        {"kind": "model", "key": "team/m@prod", "name": "team/m", "version": 3, "digest": digest},
    ]  # fmt: skip
    nb = _nb([[_stream("ok\n")]])
    summary = compare_runs(_manifest("a", ledger=ledger), _manifest("b", ledger=ledger), nb, nb)
    lines = summary.summary().splitlines()
    # Then each pin reads path@rev or name@alias, with the whole commit, no internal key
    assert f"  pin dataset datasets/points@main: held commit {commit}" in lines
    assert "  pin model team/m@prod: held version 3 (blake3:abababababab)" in lines
    assert not any("|" in line for line in lines)
