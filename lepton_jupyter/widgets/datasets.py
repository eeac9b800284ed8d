"""The dataset picker: registry URL -> datasets -> versions -> attach, with a progress bar.

It calls the same public API a notebook cell would (``browse``, ``attach``); the attach
runs on a background thread so the kernel stays free, and reports files and bytes.
"""

from __future__ import annotations

import html
import threading
from pathlib import PurePosixPath
from typing import Any

import ipywidgets as widgets

from ..datasets.api import attach, browse, human_bytes
from ..datasets.schema import AttachedDataset, AttachProgress, RegistryListing
from ..errors import LeptonError
from ..settings import load_settings


class DatasetPicker(widgets.VBox):
    """Pick a dataset and version from a data registry and attach it into the workspace."""

    def __init__(self, url: str | None = None, workspace: str | None = None) -> None:
        registries = load_settings().data_registries
        self.workspace = workspace
        self.listing: RegistryListing | None = None
        self.result: AttachedDataset | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self.url = widgets.Combobox(
            value=url or (registries[0] if registries else ""),
            options=registries,
            placeholder="git URL or path of a data registry",
            description="Registry",
            layout=widgets.Layout(width="60%"),
        )
        self.browse_button = widgets.Button(description="Browse", icon="search")
        self.dataset = widgets.Dropdown(description="Dataset", options=[], disabled=True)
        self.version = widgets.Dropdown(description="Version", options=[], disabled=True)
        self.to = widgets.Text(description="Into", placeholder="folder in the workspace")
        self.attach_button = widgets.Button(
            description="Attach", icon="download", button_style="primary", disabled=True
        )
        self.bar = widgets.IntProgress(min=0, max=1, value=0, description="Files")
        self.counts = widgets.Label("")
        self.status = widgets.HTML("")
        self.browse_button.on_click(lambda _: self.do_browse())
        self.attach_button.on_click(lambda _: self.start_attach())
        self.dataset.observe(self._dataset_changed, names="value")
        super().__init__(
            [
                widgets.HBox([self.url, self.browse_button]),
                self.dataset,
                self.version,
                widgets.HBox([self.to, self.attach_button]),
                widgets.HBox([self.bar, self.counts]),
                self.status,
            ]
        )

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#dc3545" if error else "#198754"
        self.status.value = f'<span style="color:{colour}">{html.escape(message)}</span>'

    def do_browse(self) -> None:
        """List the registry's datasets and versions into the dropdowns."""
        try:
            self.listing = browse(self.url.value)
        except LeptonError as e:
            self.error = e.message
            self._say(e.message, error=True)
            return
        self.error = None
        self.dataset.options = [
            (
                f"{d.path} - {d.files or 0} files, {human_bytes(d.size or 0)}"
                + (f" - {d.description}" if d.description else ""),
                d.path,
            )
            for d in self.listing.datasets
        ]
        self.version.options = [
            (f"{v.name} ({v.kind}, {v.date:%Y-%m-%d})", v.name) for v in self.listing.versions
        ]
        self.dataset.disabled = self.version.disabled = False
        self.attach_button.disabled = not self.listing.datasets
        self._say(f"{len(self.listing.datasets)} dataset(s) at {self.listing.commit[:10]}")

    def _dataset_changed(self, change: dict[str, Any]) -> None:
        if change["new"]:
            self.to.value = PurePosixPath(change["new"]).name

    def progress(self, event: AttachProgress) -> None:
        """Progress callback: files on the bar, bytes beside it."""
        if event.phase == "fetch":
            self.counts.value = f"downloading {human_bytes(event.bytes_total)} into the cache"
            return
        if event.phase in ("link", "done"):
            self.bar.max = max(event.files_total, 1)
            self.bar.value = event.files_done
            self.counts.value = (
                f"{event.files_done}/{event.files_total} files, "
                f"{human_bytes(event.bytes_done)}/{human_bytes(event.bytes_total)}"
            )

    def start_attach(self, wait: bool = False) -> None:
        """Attach the selection on a background thread (``wait`` joins it, for scripts)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self.attach_button.disabled = True
        self.bar.value = 0
        self._thread = threading.Thread(target=self._attach, daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()

    def _attach(self) -> None:
        try:
            self.result = attach(
                self.url.value,
                self.dataset.value,
                rev=self.version.value,
                to=self.to.value or None,
                progress=self.progress,
                workspace=self.workspace,
            )
        except LeptonError as e:
            self.error = e.message
            self._say(e.message, error=True)
        else:
            self.error = None
            r = self.result
            self._say(f"Attached {r.path} @ {r.rev} ({r.commit[:10]}) into {r.to}")
        finally:
            self.attach_button.disabled = False


def picker(url: str | None = None) -> DatasetPicker:
    """A dataset picker for a notebook cell: ``picker("https://.../data-registry.git")``."""
    return DatasetPicker(url)
