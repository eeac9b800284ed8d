"""The comparisons widget: a model's recorded comparisons, one table each, newest first.

``ComparisonsView("vision/net")`` lists them through the public API
(``lepton_jupyter.compare.comparisons``); the dropdown picks one, shown with its
intervals, each candidate's evaluation run and the verdict.
"""

from __future__ import annotations

import ipywidgets as widgets

from ..compare.api import ComparisonResult, comparisons
from ..compare.render import comparison_html


class ComparisonsView(widgets.VBox):
    """Recorded comparisons of a model (``name``) or of one version (``ref``)."""

    def __init__(self, name: str | None = None, *, ref: str | None = None) -> None:
        self.results: list[ComparisonResult] = comparisons(ref, name=name)
        options = [(f"#{r.id}: {r.verdict}", r.id) for r in self.results]
        self.picker = widgets.Dropdown(options=options, description="Comparison")
        self.table = widgets.HTML()
        self.picker.observe(lambda _: self._show(), names="value")
        super().__init__([self.picker, self.table])
        self._show()

    def _show(self) -> None:
        chosen = next((r for r in self.results if r.id == self.picker.value), None)
        self.table.value = (
            comparison_html(chosen.record) if chosen else "<i>No comparisons recorded.</i>"
        )
