"""lepton_jupyter: collaborative ML from Jupyter.

Attach pinned DVC datasets, launch distributed PyTorch jobs, publish and pin model
versions, and rerun any notebook run exactly. The top-level names are imported lazily so
``import lepton_jupyter`` stays cheap for the server and for papermill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import lazy_exports
from .jobs.api import show_jobs_with

if TYPE_CHECKING:
    from .jobs.api import Job

try:
    from ._version import __version__
except ImportError:  # a source tree that was never built
    __version__ = "0.0.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "launch": ".jobs",
    "Job": ".jobs",
    "jobs": ".jobs",
    "report": ".jobs",
    "browse": ".datasets",
    "attach": ".datasets",
    "attached": ".datasets",
    "update": ".datasets",
    "detach": ".datasets",
    "publish": ".registry",
    "load": ".registry",
    "load_state_dict": ".registry",
    "models": ".registry",
    "versions": ".registry",
    "set_alias": ".registry",
    "rollback": ".registry",
    "history": ".registry",
    "lineage": ".registry",
    "grant": ".registry",
    "revoke": ".registry",
    "yank": ".registry",
    "unyank": ".registry",
    "delete_version": ".registry",
    "ModelVersion": ".registry",
    "rerun": ".runs.api",
    "Run": ".runs.api",
    "list_runs": ".runs.api",
    "get_run": ".runs.api",
    "diff_runs": ".runs.api",
    "record_run": ".runs.interactive",
    "log_metric": ".pins",
    "compare": ".compare",
    "compare_runs": ".compare",
    "rerun_comparison": ".compare",
    "comparisons": ".compare",
}

__all__ = ["__version__", *_EXPORTS]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def _job_monitor(job: Job) -> Any:
    from .widgets.jobs import JobMonitor

    return JobMonitor(job)


# The package root runs before any of its modules, so a Job anywhere (kernel, script, test)
# shows the widgets' monitor, while the jobs domain never imports a view.
show_jobs_with(_job_monitor)


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import LeptonApp

    return [{"module": "lepton_jupyter", "app": LeptonApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "lepton-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext lepton_jupyter``: the ``%lepton`` magics and the run ledger."""
    from .magics import register
    from .pins import activate

    register(ipython)
    activate()
