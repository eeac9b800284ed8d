"""The job monitor: status, per-rank progress and devices, a loss curve, the log tail, a
cancel button; and, in the same display output, the same view as static HTML.

It reads the same :class:`~lepton_jupyter.jobs.Job` a user holds, from a background
thread, so the kernel stays free while the job trains; the thread ends with the job. The
static HTML (``text/html`` beside the widget) is what viewers without widgets show. When
the job ends the output is replaced, through its display id, by the final static view
alone; a later cell that waits on the job (``job.result()``) does it too, which is how a
papermill output notebook (and its nbconvert HTML) ends up with the final status and loss
curve.
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ..jobs import render
from ..jobs.api import on_job_end

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from ..jobs.api import Job
    from ..jobs.schema import JobInfo

LOG_LINES = 15


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
        self._lock = threading.Lock()
        self._metrics: list[dict[str, Any]] = []
        self._metrics_offset = 0
        self._metrics_drawn = -1
        self._png: bytes | None = None
        self._info: JobInfo | None = None
        self._devices: dict[int, str] = {}
        self._tail = ""
        self._handle: DisplayHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not self.refresh().status.ended:
            on_job_end(job.id, self._publish)
            self._thread = threading.Thread(
                target=self._follow, daemon=True, name=f"monitor-{job.id}"
            )
            self._thread.start()

    def refresh(self) -> JobInfo:
        """Read what is new of the job and update every part of the view."""
        with self._lock:
            info = self.job.info
            new, self._metrics_offset = self.job.metrics_since(self._metrics_offset)
            self._metrics.extend(new)
            self._devices = self.job.devices()
            self._tail = self.job.logs(tail=LOG_LINES)
            self._info = info
            if len(self._metrics) != self._metrics_drawn:
                self._png = render.loss_curve_png(self._metrics)
                self._metrics_drawn = len(self._metrics)
                if self._png is not None:
                    self.plot.value = self._png
                self.plot.layout.display = None if self._png is not None else "none"
        self.header.value = render.header_html(info)
        self.ranks.value = render.rank_table_html(info, self._metrics, self._devices)
        self.log_tail.value = render.log_html(self._tail)
        self.error_box.value = render.error_html(info)
        self.cancel_button.disabled = info.status.ended
        return info

    def static_html(self) -> str:
        """The view as self-contained HTML (the loss curve inlined)."""
        assert self._info is not None
        return render.job_html(self._info, self._metrics, self._devices, self._tail, self._png)

    def static_bundle(self) -> dict[str, str]:
        """The view without the widget: what a finished job's output keeps."""
        assert self._info is not None
        return {
            "text/html": self.static_html(),
            "text/plain": render.job_text(self._info, self._metrics),
        }

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return {**(super()._repr_mimebundle_(**kwargs) or {}), **self.static_bundle()}

    def show(self) -> None:
        """Display the monitor under a display id, so its output can be replaced when the
        job ends; a job that already ended shows only the static view."""
        from IPython.display import display

        if self._info is not None and self._info.status.ended:
            self._handle = display(self.static_bundle(), raw=True, display_id=True)
        else:
            self._handle = display(self, display_id=True)

    def _publish(self) -> None:
        """Refresh; once the job ended, replace the displayed output with the static view
        alone: a saved notebook then shows the final state in every viewer, including
        nbconvert's HTML, which would otherwise try the widget from its saved state."""
        info = self.refresh()
        if self._handle is not None and info.status.ended:
            self._handle.update(self.static_bundle(), raw=True)

    def _follow(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if self.refresh().status.ended:
                    self._publish()
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
