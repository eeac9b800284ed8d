"""Rerun a recorded run exactly: same notebook, same parameters, the recorded pins in force.

A rerun is planned first (everything checkable before a kernel starts: the notebook is still
there and unchanged, overriding parameters are declared), then executed by papermill with
the ``lepton`` engine, which records the new run. The rerun's folder also holds the pins it
ran under and its diff against the original.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .. import errors, pins
from ..errors import Conflict, Invalid, LeptonError, NotFound, did_you_mean, json_object
from ..workdir import mirror, release
from .diff import RunDiff, compare_runs
from .manifest import git_info, notebook_info, now, strip_injected
from .outcome import Outcome, exception_outcome
from .parameters import SourceValue, encode
from .schema import GitInfo, Manifest
from .store import DIFF, INPUT, OUTPUT, PINS, WORKDIR, RunStore

ENGINE = "lepton"


class RunFailed(Conflict):
    """The rerun executed but a cell raised; the failed run is recorded with its output."""


@dataclass
class RerunPlan:
    """What a rerun will execute, checked before any kernel starts."""

    original: Manifest
    notebook: Path
    parameters: dict[str, Any] | None  # what papermill injects (None: no injected cell)
    cwd: str
    overrides: dict[str, Any] = field(default_factory=dict)
    apply: bool = False

    @property
    def mode(self) -> pins.RerunMode:
        return "apply" if self.apply else "dry-run"

    @property
    def runs_with(self) -> dict[str, Any]:
        """Every parameter value the rerun's notebook will run with."""
        return {**self.original.parameters, **self.overrides}


def _first_line(cell: Any) -> str:
    source = cell.get("source", "").strip()
    return source.splitlines()[0][:60] if source else f"<empty {cell.get('cell_type')} cell>"


def describe_changes(recorded: Any, current: Any) -> str:
    """Which cells differ between the recorded copy and the notebook now, by first line
    (cells counted from 1 as the notebook shows them; injected parameters cells left out)."""
    recorded, current = strip_injected(recorded), strip_injected(current)
    old = notebook_info(recorded, "").cells
    new = notebook_info(current, "").cells
    changes = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op in ("replace", "delete"):
            verb = "changed" if op == "replace" else "removed"
            changes += [
                f"cell {i + 1} {verb} ({_first_line(recorded.cells[i])!r})" for i in range(a1, a2)
            ]
        if op == "insert" or (op == "replace" and b2 - b1 > a2 - a1):
            start = b1 if op == "insert" else b1 + (a2 - a1)
            changes += [
                f"cell {i + 1} added ({_first_line(current.cells[i])!r})" for i in range(start, b2)
            ]
    return "; ".join(changes[:5]) + ("; ..." if len(changes) > 5 else "")


def declared_parameters(notebook: Path) -> dict[str, Any]:
    """Parameters the notebook declares in its cell tagged 'parameters' (papermill's view)."""
    from papermill import inspect_notebook

    return inspect_notebook(str(notebook))


def _refuse_unstorable(name: str, value: Any) -> None:
    """A parameter that neither the notebook nor the manifest could hold (a lone surrogate
    anywhere in it) is refused before anything is written."""
    try:
        json.dumps({name: encode(value)}, default=str, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise Invalid(
            f"Parameter {name!r} holds a lone surrogate ({e.reason}); no notebook or manifest "
            "can store it."
        ) from None


def plan_rerun(
    store: RunStore,
    original: Manifest,
    parameters: dict[str, Any] | None = None,
    *,
    from_copy: bool = False,
    apply: bool = False,
) -> RerunPlan:
    """Check that ``original`` can be rerun as asked; raise a clear error if not."""
    copy = store.root / original.id / INPUT
    recorded = original.notebook.path
    # stdin, a NotebookNode or a URL: what ran is the copy (the source may be gone or other).
    if from_copy or original.notebook.source != "file":
        if not copy.is_file():
            raise NotFound(f"Run {original.id} kept no copy of its notebook ({copy} is missing).")
        notebook = copy
    else:
        notebook = Path(recorded)
        offer = (
            f"To rerun the copy recorded with the run, pass from_copy=True "
            f"(CLI: --from-copy); the copy is {copy}."
        )
        if not notebook.is_file():
            raise NotFound(f"Notebook {recorded} recorded by run {original.id} is gone. {offer}")
        current = nbformat.read(str(notebook), as_version=4)
        if notebook_info(current, recorded).digest != original.notebook.digest:
            detail = (
                describe_changes(nbformat.read(str(copy), as_version=4), current)
                if copy.is_file()
                else "cell sources differ"
            )
            raise Conflict(
                f"Notebook {recorded} changed since run {original.id} ({detail}). {offer}"
            )
    overrides = dict(parameters or {})
    for name, value in overrides.items():
        _refuse_unstorable(name, value)
    if overrides:
        declared = declared_parameters(notebook)
        for name in overrides:
            if name not in declared:
                listed = ", ".join(declared) or "none (no cell is tagged 'parameters')"
                raise Invalid(
                    f"Parameter {name!r} is not declared by notebook {notebook}; declared "
                    f"parameters: {listed}.{did_you_mean(name, list(declared))}"
                )
    cwd = original.cwd if original.cwd and Path(original.cwd).is_dir() else str(notebook.parent)
    return RerunPlan(
        original=original,
        notebook=notebook,
        parameters=injected_again(original, overrides),
        cwd=cwd,
        overrides=overrides,
        apply=apply,
    )


def injected_again(original: Manifest, overrides: dict[str, Any]) -> dict[str, Any] | None:
    """What papermill must inject so the rerun runs with the original's values plus
    ``overrides``: the original's injected values (papermill replaces an injected cell
    whole), or None to run a cell saved in the notebook as it is."""
    injected = dict(original.injected or {})
    computed = [name for name, value in injected.items() if isinstance(value, SourceValue)]
    if not overrides:
        return None if computed or original.injected is None else injected
    if computed:
        raise Invalid(
            f"Run {original.id} ran an injected-parameters cell saved in the notebook whose "
            f"{', '.join(computed)} is computed, not a value, so it cannot be injected again "
            "with the overrides; rerun without overrides, or edit the notebook."
        )
    return {**injected, **overrides}


def placeholder(store: RunStore, plan: RerunPlan, run_id: str) -> Manifest:
    """The manifest of a rerun that was started but whose kernel is not up yet."""
    manifest = Manifest(
        id=run_id,
        notebook=plan.original.notebook,
        kernel_name=plan.original.kernel_name,
        cwd=plan.cwd,
        parameters=plan.runs_with,
        injected=plan.parameters,
        started_at=now(),
        rerun_of=plan.original.id,
        rerun_mode=plan.mode,
        user=plan.original.user,
    )
    store.save(manifest)
    return manifest


def execute_rerun(
    store: RunStore,
    plan: RerunPlan,
    *,
    run_id: str | None = None,
    output_path: str | None = None,
    log_output: bool = False,
) -> Manifest:
    """Execute a planned rerun with papermill; return the new run's manifest.

    The kernel runs in the rerun's own folder (``workdir.py``): the workspace mirrored by
    links, where attach places the pinned data. The workspace itself is left as it was.
    Errors raised by lepton inside the notebook (a pinned dataset commit or model version
    that no longer exists) are re-raised as the same class, naming the run and the cell.
    """
    import papermill

    run_id = run_id or store.create()
    folder = store.root / run_id
    workdir = mirror(Path(plan.cwd), folder / WORKDIR)
    pins_path = pins.write_pins(
        plan.original.ledger, folder / PINS, mode=plan.mode, workdir=workdir
    )
    output = output_path or str(folder / OUTPUT)
    git = git_info(plan.cwd)
    # The engine hands over the finished manifest rather than recording it: the rerun shows
    # as ended only once papermill has written the output and the rerun is settled.
    ended: list[Manifest] = []
    with failures_recorded(
        store,
        run_id,
        RunFailed,
        lambda at: (
            f"Rerun {run_id} of run {plan.original.id} failed at {at} (output notebook: {output})"
        ),
        settle=lambda: _settle(store, run_id, plan, workdir, git, ended),
    ):
        papermill.execute_notebook(
            str(plan.notebook),
            output,
            parameters=plan.parameters or None,
            engine_name=ENGINE,
            kernel_name=plan.original.kernel_name or None,
            cwd=str(workdir),
            log_output=log_output,
            progress_bar=False,
            lepton_run_id=run_id,
            lepton_rerun_of=plan.original.id,
            lepton_pins=str(pins_path),
            lepton_on_end=ended.append,
        )
    manifest = _settle(store, run_id, plan, workdir, git, ended)
    write_diff(store, plan.original, manifest)
    return manifest


def _settle(
    store: RunStore,
    run_id: str,
    plan: RerunPlan,
    workdir: Path,
    git: GitInfo | None,
    ended: list[Manifest],
) -> Manifest:
    """Record the rerun as of the workspace it reran in, and free its datasets' links.

    The engine saw the rerun's folder as its working directory; the manifest names the
    workspace (so a rerun of this rerun starts there), the folder and the mode. ``ended``
    holds the manifest the engine finished, if it got that far.
    """
    release(workdir)
    try:
        manifest = ended[-1] if ended else store.get(run_id)
    except LeptonError:
        return placeholder(store, plan, run_id)
    manifest = manifest.model_copy(
        update={
            "cwd": plan.cwd,
            "workdir": str(workdir),
            "rerun_mode": plan.mode,
            "git": git,
        }
    )
    store.save(manifest)
    return manifest


@contextmanager
def failures_recorded(
    store: RunStore,
    run_id: str,
    failed: type[LeptonError],
    describe: Callable[[str], str],
    *,
    settle: Callable[[], object] = lambda: None,
) -> Iterator[None]:
    """Around a papermill execution of run ``run_id``: any failure is recorded on the run
    (after ``settle``), so it is never left 'running'; a cell's error is raised again as the
    lepton class of the same name (else ``failed``), ``describe(the cell that failed)``."""
    from papermill.exceptions import PapermillExecutionError

    try:
        yield
    except PapermillExecutionError as e:
        settle()
        outcome = exception_outcome(e)
        mark_failed(store, run_id, outcome)
        raise errors.error_class_named(e.ename, failed)(describe(outcome.failure.text())) from e
    except BaseException as e:
        settle()
        mark_failed(store, run_id, exception_outcome(e))
        raise


def mark_failed(store: RunStore, run_id: str, outcome: Outcome) -> None:
    """Make sure a run that died before or inside the engine is not left 'running'."""
    try:
        manifest = store.get(run_id)
    except LeptonError:
        return
    if manifest.status == "running" and outcome.failure is not None:
        update = {
            "status": outcome.status,
            "error": outcome.failure.text(),
            "failure": outcome.failure,
            "exit_code": outcome.exit_code,
            "ended_at": now(),
        }
        store.save(manifest.model_copy(update=update))


def load_output(store: RunStore, manifest: Manifest) -> Any | None:
    """The executed notebook kept in the run folder, or None if it was never written."""
    path = store.root / manifest.id / OUTPUT
    if not path.is_file():
        return None
    return nbformat.read(str(path), as_version=4)


def declared_defaults(store: RunStore, manifest: Manifest) -> dict[str, Any]:
    """The parameters the run's notebook declares, with their defaults, as papermill's own
    inspection reads them from the copy kept with the run (for runs recorded before the
    manifest kept them; a recorded value always wins over these)."""
    from papermill import inspect_notebook

    from .parameters import literal_value

    copy = store.root / manifest.id / INPUT
    if not copy.is_file():
        return {}
    return {
        name: literal_value(str(declared.get("default", "")))
        for name, declared in inspect_notebook(str(copy)).items()
    }


def diff_stored(
    store: RunStore, a: Manifest, b: Manifest, *, abs_tol: float = 0.0, rel_tol: float = 0.0
) -> RunDiff:
    return compare_runs(
        a,
        b,
        load_output(store, a),
        load_output(store, b),
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        defaults_a=declared_defaults(store, a),
        defaults_b=declared_defaults(store, b),
    )


def write_diff(store: RunStore, original: Manifest, rerun: Manifest) -> RunDiff:
    result = diff_stored(store, original, rerun)
    (store.root / rerun.id / DIFF).write_text(result.model_dump_json(indent=1))
    return result


def parse_parameters(pairs: list[str] | None, as_json: str | None = None) -> dict[str, Any]:
    """``name=value`` pairs (values read as JSON when they parse, else as strings)."""
    result: dict[str, Any] = {}
    if as_json:
        result.update(
            json_object(
                as_json,
                not_json="Parameters are not valid JSON",
                not_object="Parameters must be a JSON object of name: value.",
            )
        )
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise Invalid(f"Parameter {pair!r} is not name=value.")
        try:
            result[name] = json.loads(raw)
        except json.JSONDecodeError:
            result[name] = raw
    return result
