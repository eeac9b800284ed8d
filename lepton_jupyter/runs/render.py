"""A run diff drawn as HTML: what ``RunDiff._repr_html_`` and the run diff widget show."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diff import RunDiff

_STYLE = (
    "<style>.lepton-diff td,.lepton-diff th{padding:2px 8px;text-align:left;"
    "vertical-align:top}.lepton-diff .ok{color:#2e7d32}.lepton-diff .bad{color:#c62828}"
    ".lepton-diff pre{margin:0;white-space:pre-wrap;max-width:40em}</style>"
)


def _mark(ok: bool, text: str) -> str:
    return f'<span class="{"ok" if ok else "bad"}">{escape(text)}</span>'


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h4>{escape(title)}</h4><table><tr>{head}</tr>{body}</table>"


def _values(values: dict[str, Any] | None) -> str:
    if not values:
        return ""
    return escape(", ".join(f"{k}={v}" for k, v in values.items()))


def diff_html(diff: RunDiff, only_changes: bool = False) -> str:
    """The diff as HTML tables (also ``RunDiff._repr_html_``)."""
    verdict = _mark(diff.identical, "identical" if diff.identical else "different")
    parts = [
        _STYLE,
        '<div class="lepton-diff">',
        f"<b>Run {escape(diff.after)}</b> vs <b>{escape(diff.before)}</b>: {verdict}",
    ]
    if diff.notebook_changed:
        parts.append("<p>" + _mark(False, "The notebook's cell sources differ.") + "</p>")
    parts.append(
        _table(
            "Parameters changed",
            ["name", "before", "after"],
            [
                [escape(p.name), escape(repr(p.before)), escape(repr(p.after))]
                for p in diff.parameters
            ],
        )
    )
    pins = [p for p in diff.pins if not (only_changes and p.status == "held")]
    parts.append(
        _table(
            "Pins",
            ["kind", "key", "status", "resolved to"],
            [
                [
                    escape(p.kind),
                    escape(p.key),
                    _mark(p.status == "held", p.status),
                    _values(p.after)
                    if p.status == "held"
                    else f"{_values(p.before)} &rarr; {_values(p.after)}",
                ]
                for p in pins
            ],
        )
    )
    metrics = [m for m in diff.metrics if not (only_changes and m.equal)]
    parts.append(
        _table(
            f"Metrics (abs_tol={diff.abs_tol:g}, rel_tol={diff.rel_tol:g})",
            ["name", "before", "after", "|diff|", "equal"],
            [
                [
                    escape(m.name),
                    escape(repr(m.before)),
                    escape(repr(m.after)),
                    "" if m.abs_diff is None else f"{m.abs_diff:.3g}",
                    _mark(m.equal, str(m.equal)),
                ]
                for m in metrics
            ],
        )
    )
    parts.append(
        _table(
            "Cells whose outputs changed",
            ["cell", "source", "before", "after"],
            [
                [
                    escape(c.label or str(c.index)),
                    escape(c.source) + (" (source changed)" if c.source_changed else ""),
                    f"<pre>{escape(c.before)}</pre>",
                    f"<pre>{escape(c.after)}</pre>",
                ]
                for c in diff.cells
            ],
        )
    )
    if diff.identical:
        parts.append("<p>Same parameters, every pin held, same metrics and outputs.</p>")
    parts.append("</div>")
    return "".join(parts)
