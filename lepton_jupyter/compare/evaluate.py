"""Run one candidate's evaluation as a recorded run (papermill, ``lepton`` engine).

An evaluation is a notebook that takes the candidate as a parameter; a function is kept as
a generated notebook (its cloudpickle inside, content-addressed under the state folder) so
that it, too, is a recorded run that ``rerun()`` repeats exactly.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

from .. import pins
from ..errors import Conflict, Invalid, NotFound
from ..runs.rerunner import failures_recorded
from ..runs.schema import Manifest
from ..runs.store import OUTPUT, PINS, RunStore
from .comparable import FUNCTION_NOTEBOOK_TAG

ENGINE = "lepton"


class EvaluationFailed(Conflict):
    """A candidate's evaluation raised; its run is recorded (failed) with its output."""


def function_notebook(fn: Callable[[str], Any], folder: Path, parameter: str) -> Path:
    """A notebook that calls ``fn(<candidate>)``, stored under ``folder`` by content."""
    import cloudpickle

    if not callable(fn):
        raise Invalid(f"evaluation must be a notebook path or a function, got {fn!r}.")
    if not parameter.isidentifier():
        raise Invalid(f"The candidate parameter {parameter!r} is not a Python identifier.")
    payload = base64.b64encode(cloudpickle.dumps(fn)).decode()
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        source = getattr(fn, "__qualname__", repr(fn))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"{parameter} = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("Evaluation function:\n\n```python\n" + source + "\n```"),
        nbformat.v4.new_code_cell(
            "import base64, cloudpickle\n"
            f'evaluate = cloudpickle.loads(base64.b64decode("{payload}"))\n'
            f"evaluate({parameter})"
        ),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    text = nbformat.writes(nb)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{FUNCTION_NOTEBOOK_TAG}-{digest}.ipynb"
    if not path.is_file():
        tmp = path.with_suffix(f".{digest}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return path


def run_evaluation(
    store: RunStore,
    notebook: Path,
    parameters: dict[str, Any],
    *,
    pinned: list[dict[str, Any]] | None = None,
    kernel_name: str | None = None,
    cwd: str | None = None,
    label: str = "",
) -> Manifest:
    """Execute ``notebook`` with ``parameters`` under the ``pinned`` ledger entries."""
    import papermill

    if not notebook.is_file():
        raise NotFound(f"Evaluation notebook {notebook} does not exist.")
    run_id = store.create()
    folder = store.root / run_id
    pins_path = pins.write_pins(pinned, folder / PINS) if pinned else None
    with failures_recorded(
        store,
        run_id,
        EvaluationFailed,
        lambda at: (
            f"The evaluation of {label} (run {run_id}) failed at {at} "
            f"(output notebook: {folder / OUTPUT})"
        ),
    ):
        papermill.execute_notebook(
            str(notebook),
            str(folder / OUTPUT),
            parameters=parameters,
            engine_name=ENGINE,
            kernel_name=kernel_name,
            cwd=cwd,
            progress_bar=False,
            lepton_run_id=run_id,
            lepton_pins=str(pins_path) if pins_path else None,
        )
    return store.get(run_id)


def dataset_pins(run: Manifest) -> list[dict[str, Any]]:
    """The first evaluation's dataset resolutions: every later candidate reads the same."""
    return [e for e in run.ledger if e.get("kind") == "dataset"]
