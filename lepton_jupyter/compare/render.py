"""How a comparison reads: an HTML table for notebooks and widgets, text for the CLI."""

from __future__ import annotations

from html import escape

from ..registry.schema import Comparison


def _interval(low: float, high: float) -> str:
    return f"[{low:+.4f}, {high:+.4f}]"


def rows(comparison: Comparison) -> list[dict[str, str]]:
    """One row per candidate: rank, mean, difference to the best and its interval, run."""
    best = comparison.ranking[0].candidate if comparison.ranking else None
    order = [s.candidate for s in comparison.ranking] or [c.label for c in comparison.candidates]
    ranks = {s.candidate: s.rank for s in comparison.ranking}
    result = []
    for label in order:
        candidate = comparison.candidate(label)
        pair = comparison.pair(label, best) if best and label != best else None
        mean = candidate.metrics.get(comparison.metric)
        result.append(
            {
                "candidate": label,
                "asked": candidate.ref,
                "rank": str(ranks.get(label, "")),
                "mean": f"{mean:.4f}" if isinstance(mean, int | float) else "",
                "vs_best": f"{pair.difference:+.4f}" if pair else "",
                "interval": _interval(pair.low, pair.high) if pair else "",
                "p_value": f"{pair.p_value:.3g}" if pair else "",
                "run": candidate.run,
            }
        )
    return result


def _header(comparison: Comparison) -> str:
    data = ", ".join(f"{d.path}@{d.commit[:12]}" for d in comparison.datasets) or "no dataset"
    return (
        f"Comparison {comparison.id} of {comparison.metric!r} on {data} "
        f"({comparison.evaluation.kind} {comparison.evaluation.digest[:19]}), "
        f"by {comparison.created_by}"
    )


def comparison_text(comparison: Comparison) -> str:
    lines = [_header(comparison), f"verdict: {comparison.verdict}"]
    for row in rows(comparison):
        lines.append(
            f"  {row['rank']:>2} {row['candidate']:<28} mean {row['mean']:<8} "
            f"vs best {row['vs_best']:<8} {row['interval']:<22} p {row['p_value']:<8} "
            f"run {row['run']}"
        )
    return "\n".join(lines)


def comparison_html(comparison: Comparison) -> str:
    head = "".join(
        f"<th>{escape(h)}</th>"
        for h in ("rank", "candidate", "mean", "vs best", "interval", "p", "run")
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(row[k])}</td>"
            for k in ("rank", "candidate", "mean", "vs_best", "interval", "p_value", "run")
        )
        + "</tr>"
        for row in rows(comparison)
    )
    return (
        f"<div><p>{escape(_header(comparison))}</p><p><b>{escape(comparison.verdict)}</b></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
