"""The model card (versions, aliases, metrics, lineage graph) and a small registry browser.

Both are thin over the public registry API: what a card shows is what ``versions``,
``lineage`` and ``history`` return, and its buttons call ``set_alias`` and ``rollback``.
"""

from __future__ import annotations

import html
import io
from typing import Any

import ipywidgets as widgets

from ..errors import LeptonError
from ..registry import api
from ..registry.schema import Lineage, ModelVersion


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:10]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def versions_table(versions: list[ModelVersion]) -> str:
    """Versions newest first: number, aliases, metrics, who, when, size, content digest."""
    metric_names = sorted({k for v in versions for k in v.metrics})
    head = "".join(
        f"<th>{html.escape(n)}</th>"
        for n in ["version", "aliases", *metric_names, "by", "created", "size", "digest"]
    )
    rows = []
    for v in sorted(versions, key=lambda v: -v.version):
        aliases = " ".join(f"<code>@{html.escape(a)}</code>" for a in v.aliases)
        metrics = "".join(f"<td>{html.escape(_fmt(v.metrics.get(n)))}</td>" for n in metric_names)
        rows.append(
            f"<tr><td>{v.version}</td><td>{aliases}</td>{metrics}"
            f"<td>{html.escape(v.created_by)}</td><td>{v.created_at:%Y-%m-%d %H:%M}</td>"
            f"<td>{_size(v.size)}</td><td><code>{_short(v.digest)}</code></td></tr>"
        )
    return (
        f"<table class='lepton-versions'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def lineage_nodes(lineage: Lineage) -> tuple[list[str], str, list[str]]:
    """(inputs, the version, consumers) as labels: what made it and who used it."""
    inputs = []
    for d in lineage.datasets:
        rev = d.get("rev") or ""
        commit = (d.get("commit") or "")[:8]
        inputs.append(f"data {d.get('path')}\n{rev} @ {commit}".strip())
    for p in lineage.parents:
        if p.get("kind") == "organisation":  # a federation's participant, with its data
            data = p.get("dataset") or {}
            commit = str(data.get("commit") or "")[:8]
            inputs.append(f"organisation {p.get('organisation')}\n{data.get('path')} @ {commit}")
        else:
            inputs.append(f"model {p.get('name')}:{p.get('version')}")
    inputs += [f"job {j}" for j in lineage.jobs]
    if lineage.notebook:
        inputs.append(f"notebook {lineage.notebook}")
    if lineage.git:
        dirty = " (dirty)" if lineage.git.get("dirty") else ""
        inputs.append(f"git {str(lineage.git.get('commit'))[:8]}{dirty}")
    consumers = sorted({f"{x.user}\n{x.notebook or x.job or 'load'}" for x in lineage.loaded_by})
    return inputs, f"{lineage.name}:{lineage.version}", consumers


def lineage_png(lineage: Lineage) -> bytes:
    """The lineage as a left-to-right graph: inputs -> version -> runs that loaded it."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch

    inputs, center, consumers = lineage_nodes(lineage)
    rows = max(len(inputs), len(consumers), 1)
    figure = Figure(figsize=(8, 0.7 + 0.55 * rows), dpi=90)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, 3)
    axes.set_ylim(-0.5, rows - 0.5)
    axes.axis("off")

    def column(labels: list[str], x: float, colour: str) -> list[tuple[float, float]]:
        spots = []
        for i, label in enumerate(labels):
            y = (rows - 1) / 2 + (len(labels) - 1) / 2 - i
            axes.text(
                x,
                y,
                label,
                ha="center",
                va="center",
                fontsize=8,
                bbox={"boxstyle": "round,pad=0.4", "fc": colour, "ec": "#555"},
            )
            spots.append((x, y))
        return spots

    left = column(inputs, 0.5, "#e7f1ff")
    (mid,) = column([center], 1.5, "#d1e7dd")
    right = column(consumers, 2.5, "#fff3cd")
    for start, end in [(p, mid) for p in left] + [(mid, p) for p in right]:
        axes.add_patch(
            FancyArrowPatch(
                (start[0] + 0.32, start[1]),
                (end[0] - 0.32, end[1]),
                arrowstyle="->",
                mutation_scale=10,
                color="#555",
            )
        )
    if not inputs and not consumers:
        axes.text(1.5, -0.35, "no recorded inputs or loads", ha="center", fontsize=8, color="#777")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class ModelCard(widgets.VBox):
    """One model: its versions and metrics, aliases (move, roll back), a version's lineage."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.title = widgets.HTML()
        self.table = widgets.HTML()
        self.message = widgets.HTML()
        self.alias = widgets.Text(value="staging", description="alias", layout={"width": "200px"})
        self.version = widgets.Dropdown(description="version", layout={"width": "180px"})
        self.set_button = widgets.Button(description="Set alias", icon="tag")
        self.rollback_button = widgets.Button(description="Roll back", icon="undo")
        self.history = widgets.HTML()
        self.lineage_version = widgets.Dropdown(description="lineage of", layout={"width": "200px"})
        self.lineage_image = widgets.Image(format="png")
        self.set_button.on_click(
            lambda _: self._act(
                lambda: api.set_alias(self.name, self.alias.value, self.version.value)
            )
        )
        self.rollback_button.on_click(
            lambda _: self._act(lambda: api.rollback(self.name, self.alias.value))
        )
        self.lineage_version.observe(lambda _: self._show_lineage(), names="value")
        self.alias.observe(lambda _: self._show_history(), names="value")
        super().__init__(
            [
                self.title,
                self.table,
                widgets.HBox([self.alias, self.version, self.set_button, self.rollback_button]),
                self.message,
                self.history,
                self.lineage_version,
                self.lineage_image,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        versions = api.versions(self.name)
        description = next((v.description for v in reversed(versions) if v.description), "")
        self.title.value = (
            f"<h3 style='margin:4px 0'>{html.escape(self.name)}</h3>"
            f"<div>{html.escape(description)}</div>"
        )
        self.table.value = versions_table(versions)
        numbers = [v.version for v in reversed(versions)]
        self.version.options = numbers
        keep = self.lineage_version.value
        self.lineage_version.options = numbers
        self.lineage_version.value = keep if keep in numbers else numbers[0]
        self._show_history()
        self._show_lineage()

    def _act(self, action: Any) -> None:
        try:
            moved = action()
        except LeptonError as e:
            self.message.value = f"<span style='color:#dc3545'>{html.escape(e.message)}</span>"
            return
        self.message.value = (
            f"<span style='color:#198754'>@{html.escape(moved.alias)} -> "
            f"version {moved.version}</span>"
        )
        self.refresh()

    def _show_history(self) -> None:
        try:
            events = api.history(self.name, self.alias.value)
        except LeptonError:
            self.history.value = ""
            return
        lines = "".join(
            f"<li>{e.at:%Y-%m-%d %H:%M} {html.escape(e.actor)} {e.action} -> {e.version}"
            f"{'' if e.previous is None else f' (was {e.previous})'}</li>"
            for e in events
        )
        self.history.value = f"<b>@{html.escape(self.alias.value)} history</b><ul>{lines}</ul>"

    def _show_lineage(self) -> None:
        if self.lineage_version.value is None:
            return
        lineage = api.lineage(f"{self.name}:{self.lineage_version.value}")
        self.lineage_image.value = lineage_png(lineage)


class RegistryBrowser(widgets.VBox):
    """The models you can read; picking one opens its card."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace
        self.models = widgets.Select(rows=8, layout={"width": "320px"})
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.card = widgets.Box()
        self.models.observe(lambda _: self._open(), names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        super().__init__([widgets.HBox([self.models, self.refresh_button]), self.card])
        self.refresh()

    def refresh(self) -> None:
        summaries = api.models(self.namespace)
        self.models.options = [
            (f"{m.name}  v{m.latest}  " + " ".join(f"@{a}" for a in m.aliases), m.name)
            for m in summaries
        ]

    def _open(self) -> None:
        if self.models.value:
            self.card.children = [ModelCard(self.models.value)]
