"""The run diff widget: parameters, pins held or changed, metrics within a tolerance, cells.

``RunDiffView(run)`` shows how a rerun differs from its original; the tolerance fields
recompute the diff through the public API (``lepton_jupyter.runs.diff_runs``).
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from ..runs.diff import RunDiff
from ..runs.render import diff_html


class RunDiffView(widgets.VBox):
    """How ``run`` differs from ``against`` (default: the run it reran), with tolerances."""

    def __init__(
        self, run: Any, against: Any = None, *, abs_tol: float = 0.0, rel_tol: float = 0.0
    ) -> None:
        self.run = run
        self.against = against
        self.abs_tol = widgets.BoundedFloatText(
            value=abs_tol, min=0.0, max=1e12, description="abs tol"
        )
        self.rel_tol = widgets.BoundedFloatText(
            value=rel_tol, min=0.0, max=1e12, description="rel tol"
        )
        self.only_changes = widgets.Checkbox(value=False, description="only differences")
        self.body = widgets.HTML()
        for control in (self.abs_tol, self.rel_tol, self.only_changes):
            control.observe(self._refresh, names="value")
        super().__init__([widgets.HBox([self.abs_tol, self.rel_tol, self.only_changes]), self.body])
        self._refresh()

    @property
    def diff(self) -> RunDiff:
        from ..runs.api import diff_runs

        return diff_runs(
            self.run, self.against, abs_tol=self.abs_tol.value, rel_tol=self.rel_tol.value
        )

    def _refresh(self, change: Any = None) -> None:
        self.body.value = diff_html(self.diff, only_changes=self.only_changes.value)
