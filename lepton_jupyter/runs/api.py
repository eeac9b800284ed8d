"""What notebooks call: ``rerun``, ``list_runs``, ``get_run``, ``diff_runs``, ``Run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import Invalid
from .diff import RunDiff
from .rerunner import load_output
from .schema import Manifest
from .service import RunService
from .store import OUTPUT


class Run:
    """A recorded run: its manifest, its executed notebook, and what can be done with it."""

    def __init__(self, manifest: Manifest, service: RunService | None = None) -> None:
        self.manifest = manifest
        self._service = service or RunService.from_settings()

    @classmethod
    def load(cls, run_id: str) -> Run:
        service = RunService.from_settings()
        return cls(service.get(run_id), service)

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def status(self) -> str:
        return self.manifest.status

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.manifest.parameters)

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.metrics)

    @property
    def pins(self) -> list[dict[str, Any]]:
        """The floating references this run resolved (datasets, models)."""
        return self.manifest.pin_entries()

    @property
    def folder(self) -> Path:
        return self._service.store.root / self.id

    @property
    def output_path(self) -> Path:
        """The executed notebook kept in the run folder."""
        return self.folder / OUTPUT

    def output(self) -> Any | None:
        """The executed notebook (nbformat), or None if the run never wrote one."""
        return load_output(self._service.store, self.manifest)

    def refresh(self) -> Run:
        """Re-read the manifest (a background rerun updates it when it ends)."""
        self.manifest = self._service.get(self.id)
        return self

    @property
    def original(self) -> Run | None:
        """The run this one reran, if it is a rerun."""
        if self.manifest.rerun_of is None:
            return None
        return Run(self._service.get(self.manifest.rerun_of), self._service)

    def diff(
        self, against: Run | str | None = None, *, abs_tol: float = 0.0, rel_tol: float = 0.0
    ) -> RunDiff:
        """How this run differs from ``against`` (default: the run it reran)."""
        other = against.id if isinstance(against, Run) else against
        return self._service.diff(self.id, other, abs_tol=abs_tol, rel_tol=rel_tol)

    def rerun(self, parameters: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        """Rerun this run; see :func:`rerun`."""
        return rerun(self, parameters, **kwargs)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v}" for k, v in self.metrics.items())
        tail = f" {metrics}" if metrics else ""
        return f"<Run {self.id} {self.status} {self.manifest.notebook.path}{tail}>"


def _run_id(run: Run | Manifest | str) -> str:
    if isinstance(run, Run):
        return run.id
    if isinstance(run, Manifest):
        return run.id
    if isinstance(run, str):
        return run
    raise Invalid(f"Expected a Run, a Manifest or a run id, got {type(run).__name__}.")


def rerun(
    manifest_or_run_id: Run | Manifest | str,
    parameters: dict[str, Any] | None = None,
    *,
    from_copy: bool = False,
    apply: bool = False,
    output_path: str | None = None,
    log_output: bool = False,
) -> Run:
    """Execute a recorded run again with its parameters and the pins it recorded.

    ``parameters`` override recorded ones (each must be declared by the notebook).
    ``from_copy`` runs the copy of the notebook kept with the run, for when the notebook was
    moved or edited since. Floating references (``attach(..., rev="main")``,
    ``load("name@prod")``) resolve to what the original run resolved, and datasets are read
    at the pinned commits in the rerun's own folder: the workspace is left as it is.

    A rerun changes nothing shared unless ``apply=True``: ``publish`` records the digest it
    would have published (the diff says whether the model bytes were reproduced), alias
    moves and grants are recorded, not made. The returned run's :meth:`Run.diff` compares
    it with the original. Raises NotFound/Conflict/Invalid naming what is missing or
    wrong; a cell that raises makes :class:`~.rerunner.RunFailed`.
    """
    service = RunService.from_settings()
    manifest = service.rerun(
        _run_id(manifest_or_run_id),
        parameters,
        from_copy=from_copy,
        apply=apply,
        output_path=output_path,
        log_output=log_output,
    )
    return Run(manifest, service)


def list_runs(notebook: str | None = None, limit: int | None = 50) -> list[Run]:
    """Recorded runs, newest first (optionally only those of ``notebook``)."""
    service = RunService.from_settings()
    return [Run(m, service) for m in service.list(notebook=notebook, limit=limit)]


def get_run(run_id: str) -> Run:
    """The recorded run ``run_id``."""
    return Run.load(run_id)


def diff_runs(
    run: Run | Manifest | str,
    against: Run | Manifest | str | None = None,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
) -> RunDiff:
    """How ``run`` differs from ``against`` (default: the run it reran).

    Metrics are equal when ``math.isclose(a, b, abs_tol=abs_tol, rel_tol=rel_tol)``.
    """
    other = None if against is None else _run_id(against)
    return RunService.from_settings().diff(_run_id(run), other, abs_tol=abs_tol, rel_tol=rel_tol)
