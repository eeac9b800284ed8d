"""The job monitor: status, per-rank progress, a loss curve, the log tail, a cancel button.

It reads the same :class:`~lepton_jupyter.jobs.Job` a user holds, from a background
thread, so the kernel stays free while the job trains; the thread ends with the job.
"""

from __future__ import annotations

import html
import io
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

if TYPE_CHECKING:
    from ..jobs.api import Job
    from ..jobs.spec import JobInfo

STATUS_COLOURS = {
    "queued": "#6c757d",
    "running": "#0d6efd",
    "succeeded": "#198754",
    "failed": "#dc3545",
    "cancelled": "#fd7e14",
}
LOG_LINES = 15


def loss_curve_png(metrics: list[dict[str, Any]]) -> bytes | None:
    """A PNG of loss (or the first numeric metric) against step, one line per rank."""
    from matplotlib.figure import Figure

    if not metrics:
        return None
    names = [
        k
        for k, v in metrics[-1].items()
        if k not in ("rank", "step", "time") and isinstance(v, int | float)
    ]
    if not names:
        return None
    name = "loss" if "loss" in names else names[0]
    figure = Figure(figsize=(5, 2.6), dpi=90)
    axes = figure.add_subplot()
    for rank in sorted({m["rank"] for m in metrics}):
        points = [
            (m["step"] if m["step"] is not None else i, m[name])
            for i, m in enumerate(metrics)
            if m["rank"] == rank and name in m
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


class JobMonitor(widgets.VBox):
    """Live view of one job, refreshed every ``interval`` seconds until it ends."""

    def __init__(self, job: Job, interval: float = 1.0) -> None:
        self.job = job
        self.interval = interval
        self.header = widgets.HTML()
        self.ranks = widgets.HTML()
        self.plot = widgets.Image(format="png", layout=widgets.Layout(max_width="480px"))
        self.log_tail = widgets.HTML()
        self.error_box = widgets.HTML()
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", button_style="danger"
        )
        self.cancel_button.on_click(self._on_cancel)
        super().__init__(
            [
                widgets.HBox([self.header, self.cancel_button]),
                self.ranks,
                self.plot,
                self.log_tail,
                self.error_box,
            ]
        )
        self._metrics_seen = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not self.refresh().status.ended:
            self._thread = threading.Thread(
                target=self._follow, daemon=True, name=f"monitor-{job.id}"
            )
            self._thread.start()

    def refresh(self) -> JobInfo:
        """Read the job once and update every part of the view."""
        info = self.job.info
        metrics = self.job.metrics()
        colour = STATUS_COLOURS[info.status.value]
        self.header.value = (
            f"<b>{html.escape(info.name)}</b> <code>{info.id}</code> "
            f"<span style='color:{colour};font-weight:bold'>{info.status.value}</span> "
            f"&middot; {info.nprocs * info.nnodes} rank(s) on {info.backend}"
        )
        if info.detail:  # what the engine says: a Slurm job id, its pending reason, nodes
            self.header.value += f" &middot; <i>{html.escape(info.detail)}</i>"
        self.ranks.value = self._rank_table(info, metrics)
        if len(metrics) != self._metrics_seen:
            png = loss_curve_png(metrics)
            if png is not None:
                self.plot.value = png
            self.plot.layout.display = None if png is not None else "none"
            self._metrics_seen = len(metrics)
        tail = self.job.logs(tail=LOG_LINES)
        self.log_tail.value = (
            "<details><summary>log tail</summary><pre style='max-height:16em;overflow:auto'>"
            f"{html.escape(tail)}</pre></details>"
        )
        self.error_box.value = (
            f"<pre style='color:#dc3545'>{html.escape(info.error)}</pre>" if info.error else ""
        )
        self.cancel_button.disabled = info.status.ended
        return info

    def _rank_table(self, info: JobInfo, metrics: list[dict[str, Any]]) -> str:
        last: dict[int, dict[str, Any]] = {}
        for record in metrics:
            last[record["rank"]] = record
        rows = []
        for rank in range(info.nprocs * info.nnodes):
            record = last.get(rank, {})
            step = record.get("step", "-") if record else "-"
            loss = record.get("loss")
            code = info.exit_codes.get(rank, "-") if info.exit_codes else "-"
            rows.append(
                f"<tr><td>{rank}</td><td>{step}</td>"
                f"<td>{'-' if loss is None else f'{loss:.4g}'}</td><td>{code}</td></tr>"
            )
        return (
            "<table><tr><th>rank</th><th>step</th><th>loss</th><th>exit code</th></tr>"
            + "".join(rows)
            + "</table>"
        )

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.refresh().status.ended:
                    return
            except Exception as e:  # keep the kernel's log clean; show it in the view
                self.error_box.value = f"<pre>monitor stopped: {html.escape(repr(e))}</pre>"
                return

    def _on_cancel(self, _button: widgets.Button) -> None:
        self.cancel_button.disabled = True
        # Cancelling waits for the ranks to stop; not on the kernel's message thread.
        threading.Thread(target=self._cancel, daemon=True).start()

    def _cancel(self) -> None:
        try:
            self.job.cancel()
        except Exception as e:
            self.error_box.value = f"<pre>{html.escape(str(e))}</pre>"
        self.refresh()

    def close(self) -> None:
        self._stop.set()
        super().close()
