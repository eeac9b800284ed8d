"""A job drawn without a live kernel: the loss curve as a PNG and a self-contained HTML
summary (status, a table per rank with its device, the curve, the last log lines, the
error). The job monitor widget shows the same, and carries this HTML beside the widget in
its display output, so a papermill output notebook, nbconvert's HTML and GitHub show the
job although none of them runs widgets."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from .schema import JobInfo

STATUS_COLOURS = {
    "queued": "#6c757d",
    "running": "#0d6efd",
    "succeeded": "#198754",
    "failed": "#dc3545",
    "cancelled": "#fd7e14",
}
NOT_METRICS = ("rank", "step", "time")


def loss_curve_png(metrics: list[dict[str, Any]]) -> bytes | None:
    """A PNG of loss (or the first numeric metric) against step, one line per rank."""
    from matplotlib.figure import Figure

    if not metrics:
        return None
    names = [
        k for k, v in metrics[-1].items() if k not in NOT_METRICS and isinstance(v, int | float)
    ]
    if not names:
        return None
    name = "loss" if "loss" in names else names[0]
    figure = Figure(figsize=(5, 2.6), dpi=90)
    axes = figure.add_subplot()
    for rank in sorted({m.get("rank", 0) for m in metrics}):
        points = [
            (m["step"] if m.get("step") is not None else i, m[name])
            for i, m in enumerate(metrics)
            if m.get("rank", 0) == rank and name in m
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="." if len(points) < 50 else None, label=f"rank {rank}")
    axes.set_xlabel("step")
    axes.set_ylabel(name)
    axes.grid(alpha=0.3)
    if len(axes.lines) > 1:
        axes.legend(fontsize="small")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def header_html(info: JobInfo) -> str:
    colour = STATUS_COLOURS[info.status.value]
    text = (
        f"<b>{html.escape(info.name)}</b> <code>{html.escape(info.id)}</code> "
        f"<span style='color:{colour};font-weight:bold'>{info.status.value}</span> "
        f"&middot; {info.nprocs * info.nnodes} rank(s) on {html.escape(info.backend)}"
    )
    if info.gpus:
        where = f": GPU {', '.join(info.devices)}" if info.devices else " per node"
        text += f" &middot; {info.gpus} GPU(s){html.escape(where)}"
    if info.detail:  # what the engine says: a Slurm job id, its pending reason, nodes
        text += f" &middot; <i>{html.escape(info.detail)}</i>"
    return text


def rank_table_html(
    info: JobInfo, metrics: list[dict[str, Any]], devices: dict[int, str] | None = None
) -> str:
    """Each rank's last step and loss, what it computes on, and its exit code."""
    devices = devices or {}
    last: dict[int, dict[str, Any]] = {}
    for record in metrics:
        last[record.get("rank", 0)] = record
    rows = []
    for rank in range(info.nprocs * info.nnodes):
        record = last.get(rank, {})
        step = record.get("step", "-") if record else "-"
        loss = record.get("loss")
        code = info.exit_codes.get(rank, "-") if info.exit_codes else "-"
        shown_loss = f"{loss:.4g}" if isinstance(loss, int | float) else "-"
        rows.append(
            f"<tr><td>{rank}</td><td>{step}</td><td>{shown_loss}</td><td>{code}</td>"
            f"<td>{html.escape(devices.get(rank, '-'))}</td></tr>"
        )
    return (
        "<table><tr><th>rank</th><th>step</th><th>loss</th><th>exit code</th>"
        "<th>device</th></tr>" + "".join(rows) + "</table>"
    )


def log_html(tail: str) -> str:
    return (
        "<details><summary>log tail</summary><pre style='max-height:16em;overflow:auto'>"
        f"{html.escape(tail)}</pre></details>"
    )


def error_html(info: JobInfo) -> str:
    return f"<pre style='color:#dc3545'>{html.escape(info.error)}</pre>" if info.error else ""


def job_html(
    info: JobInfo,
    metrics: list[dict[str, Any]],
    devices: dict[int, str],
    log_tail: str,
    png: bytes | None = None,
) -> str:
    """The whole job as one HTML fragment, the loss curve inlined as a data: URI."""
    image = ""
    if png is not None:
        encoded = base64.b64encode(png).decode()
        image = f"<img alt='loss curve' src='data:image/png;base64,{encoded}'/>"
    parts = [
        f"<div>{header_html(info)}</div>",
        rank_table_html(info, metrics, devices),
        image,
        # Open in a static view: nobody can click it open in a PDF or on GitHub.
        log_html(log_tail).replace("<details>", "<details open>"),
        error_html(info),
    ]
    return "<div class='lepton-job'>" + "".join(parts) + "</div>"


def job_text(info: JobInfo, metrics: list[dict[str, Any]]) -> str:
    """One line for text-only front ends (``text/plain``)."""
    last = [m for m in metrics if isinstance(m.get("loss"), int | float)]
    loss = f", loss {last[-1]['loss']:.4g} at step {last[-1].get('step')}" if last else ""
    return (
        f"Job {info.id} ({info.name}): {info.status.value}, "
        f"{info.nprocs * info.nnodes} rank(s) on {info.backend}{loss}"
    )
