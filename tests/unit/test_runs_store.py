"""The runs store and manifest capture: ids, lookups with clear errors, digests, git state."""

from __future__ import annotations

from datetime import datetime, timezone

import nbformat
import pytest

from lepton_jupyter.errors import Invalid, NotFound
from lepton_jupyter.runs.manifest import git_info, notebook_info
from lepton_jupyter.runs.schema import Manifest, NotebookInfo
from lepton_jupyter.runs.service import RunService
from lepton_jupyter.runs.store import RunStore
from tests.fixtures.runs import git, write_notebook


def _save(store: RunStore, notebook: str) -> str:
    run_id = store.create()
    store.save(
        Manifest(
            id=run_id,
            notebook=NotebookInfo(path=notebook, digest="sha256:x"),
            started_at=datetime.now(timezone.utc),
        )
    )
    return run_id


def test_runs_are_listed_newest_first_and_by_notebook(tmp_path):
    store = RunStore(tmp_path / "runs")
    a = _save(store, str(tmp_path / "a.ipynb"))
    b = _save(store, str(tmp_path / "b.ipynb"))
    c = _save(store, str(tmp_path / "a.ipynb"))
    assert [m.id for m in store.list()] == sorted([a, b, c], reverse=True)
    assert {m.id for m in store.list(notebook=str(tmp_path / "a.ipynb"))} == {a, c}
    assert len(store.list(limit=1)) == 1


def test_unknown_and_malformed_run_ids_are_clear_errors(tmp_path):
    store = RunStore(tmp_path / "runs")
    run_id = _save(store, "/nb.ipynb")
    typo = run_id[:-1] + ("0" if run_id[-1] != "0" else "1")
    with pytest.raises(NotFound, match=rf"No run '{typo}'.*Did you mean '{run_id}'"):
        store.get(typo)
    with pytest.raises(Invalid, match=r"'\.\./etc' is not a run id"):
        store.get("../etc")


def test_service_rejects_a_bad_limit_or_tolerance(tmp_path):
    service = RunService(RunStore(tmp_path / "runs"))
    run_id = _save(service.store, "/nb.ipynb")
    with pytest.raises(Invalid, match="limit must be at least 1, got 0"):
        service.list(limit=0)
    with pytest.raises(Invalid, match="Tolerances must be >= 0"):
        service.diff(run_id, run_id, abs_tol=-1.0)


def test_diff_of_a_run_that_is_no_rerun_asks_which_run_to_compare_with(tmp_path):
    service = RunService(RunStore(tmp_path / "runs"))
    run_id = _save(service.store, "/nb.ipynb")
    with pytest.raises(Invalid, match=f"Run {run_id} is not a rerun; name the run"):
        service.diff(run_id)


def test_notebook_digest_covers_sources_not_outputs(tmp_path):
    path = write_notebook(tmp_path / "n.ipynb", ["print(1)"], "x = 1")
    nb = nbformat.read(path, as_version=4)
    before = notebook_info(nb, str(path))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.cells[1].execution_count = 4
    assert notebook_info(nb, str(path)).digest == before.digest
    nb.cells[1].source = "print(2)"
    after = notebook_info(nb, str(path))
    assert after.digest != before.digest
    assert after.cells[0] == before.cells[0] and after.cells[1] != before.cells[1]


def test_git_state_is_the_head_commit_and_whether_tracked_files_changed(tmp_path):
    # Given a repo with a committed notebook and an untracked output
    path = write_notebook(tmp_path / "n.ipynb", ["print(1)"])
    assert git_info(tmp_path) is None
    git("init", "-q", cwd=tmp_path)
    git("add", "n.ipynb", cwd=tmp_path)
    git("commit", "-q", "-m", "nb", cwd=tmp_path)
    (tmp_path / "out.ipynb").write_text("{}")
    info = git_info(tmp_path)
    # Then untracked files do not make it dirty
    assert info.commit == git("rev-parse", "HEAD", cwd=tmp_path)
    assert not info.dirty
    # When a tracked file changes, Then it is dirty
    write_notebook(path, ["print(2)"])
    assert git_info(tmp_path).dirty


def test_the_runs_magic_lists_shows_and_diffs_and_explains_its_usage(tmp_path, monkeypatch):
    # Given two recorded runs and an IPython shell with the lepton extension
    from IPython.testing.globalipapp import get_ipython

    monkeypatch.setenv("LEPTON_STATE_DIR", str(tmp_path))
    store = RunStore(tmp_path / "runs")
    first, second = _save(store, "/a.ipynb"), _save(store, "/a.ipynb")
    shell = get_ipython()
    shell.extension_manager.load_extension("lepton_jupyter")
    # When the user asks through %lepton runs, Then the objects come back
    assert [r.id for r in shell.run_line_magic("lepton", "runs list")] == [second, first]
    assert shell.run_line_magic("lepton", f"runs show {first}").id == first
    result = shell.run_line_magic("lepton", f"runs diff {second} {first} --abs-tol 0.1")
    assert (result.before, result.after, result.abs_tol) == (first, second, 0.1)
    # And a wrong verb gets the usage
    with pytest.raises(Invalid, match=r"Usage: %lepton runs list"):
        shell.run_line_magic("lepton", "runs frobnicate")


def test_a_diff_compares_a_given_parameter_with_the_other_runs_declared_default(tmp_path):
    # Given a run with the notebook's defaults and a rerun given publish_model=False
    from lepton_jupyter.runs.rerunner import diff_stored
    from lepton_jupyter.runs.store import INPUT

    store = RunStore(tmp_path / "runs")
    first, second = _save(store, "nb.ipynb"), _save(store, "nb.ipynb")
    for run_id in (first, second):
        write_notebook(
            store.folder(run_id) / INPUT,
            ["print(1)"],
            'publish_model = True\nlr = 0.05\nname = "demo/" + "spirals"',
        )
    store.save(store.get(second).model_copy(update={"parameters": {"publish_model": False}}))
    # When they are compared, Then the change reads from the declared default (papermill's
    # own inspection of the recorded notebook), not from nothing
    result = diff_stored(store, store.get(first), store.get(second))
    assert [(p.name, p.before, p.after) for p in result.parameters] == [
        ("publish_model", True, False)
    ]
    assert "parameter publish_model: True -> False" in result.summary()
