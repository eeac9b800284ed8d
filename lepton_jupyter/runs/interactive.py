"""Record an interactive run: the notebook as saved, this kernel's ledger, its parameters.

``record_run()`` in a notebook makes what the kernel did so far rerunnable with papermill:
the manifest holds the saved notebook's digest, the values of its declared parameters in
the kernel, and every floating reference the kernel resolved, so ``rerun(run_id)`` resolves
them the same way.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from .. import pins
from ..errors import Invalid, NotFound
from .api import Run
from .manifest import (
    current_user,
    git_info,
    notebook_info,
    now,
    output_digest,
    package_versions,
    strip_injected,
)
from .rerunner import declared_parameters
from .schema import Manifest
from .service import RunService
from .store import INPUT, OUTPUT


def _notebook_file(notebook: str | None) -> Path:
    named = notebook or pins.notebook_path()
    if not named:
        raise Invalid(
            "Cannot tell which notebook this kernel runs (no JPY_SESSION_NAME or "
            "LEPTON_NOTEBOOK_PATH); pass record_run(notebook='path/to/notebook.ipynb')."
        )
    path = Path(named)
    if not path.is_absolute():
        # Jupyter names the session by its path under the server root; the kernel runs in
        # the notebook's folder.
        beside = Path.cwd() / path.name
        path = beside if beside.is_file() else Path.cwd() / path
    if not path.is_file():
        raise NotFound(f"Notebook {path} does not exist; save it first or pass its path.")
    return path.resolve()


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _kernel_values(names: list[str]) -> dict[str, Any]:
    """Current values of ``names`` in the IPython user namespace (JSON-able ones only)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    if shell is None:
        return {}
    return {
        n: shell.user_ns[n] for n in names if n in shell.user_ns and _jsonable(shell.user_ns[n])
    }


def record_run(notebook: str | None = None, parameters: dict[str, Any] | None = None) -> Run:
    """Record what this kernel ran as a run; returns the Run (rerun it with ``.rerun()``).

    Save the notebook first: the manifest describes the file on disk. ``parameters``
    defaults to the kernel's current values of the parameters the notebook declares.
    """
    path = _notebook_file(notebook)
    nb = nbformat.read(str(path), as_version=4)
    if parameters is None:
        parameters = _kernel_values(list(declared_parameters(path)))
    service = RunService.from_settings()
    run_id = service.store.create()
    folder = service.store.root / run_id
    nbformat.write(strip_injected(nb), str(folder / INPUT))
    nbformat.write(nb, str(folder / OUTPUT))
    ledger = pins.ledger()
    entries = ledger.entries()
    manifest = Manifest(
        id=run_id,
        status="completed",
        engine="interactive",
        notebook=notebook_info(nb, str(path)),
        kernel_name=nb.metadata.get("kernelspec", {}).get("name", ""),
        cwd=os.getcwd(),
        parameters=parameters,
        ledger=entries,
        metrics=pins.metrics_of(entries),
        packages=package_versions(),
        python=platform.python_version(),
        git=git_info(path.parent),
        started_at=datetime.fromtimestamp(ledger.created, timezone.utc),
        ended_at=now(),
        output_path=str(path),
        output_digest=output_digest(nb),
        user=current_user(),
        pid=os.getpid(),
    )
    service.store.save(manifest)
    return Run(manifest, service)
