"""The runs store: one folder per run under ``<state_dir>/runs``.

Why folders of JSON rather than a database: a run is already a set of files (the recorded
copy of the notebook, the executed output, the kernel's ledger, the pins and diff of a
rerun), so the manifest sits beside them and a run folder is complete on its own (copy it to
a colleague, attach it to a bug). Every run is written by the one process executing it
(papermill batch jobs run in parallel), so a folder per run needs no locking: the folder is
created exclusively and the manifest replaced atomically. Run ids are UTC timestamps to
the microsecond, so the sorted directory listing is the index, newest last, and listing the
latest N runs reads N manifests. Keeping SQLAlchemy out also keeps ``papermill -e lepton``
start-up cheap.

Layout of a run folder::

    manifest.json   the Manifest
    input.ipynb     the notebook as it ran (parameters not injected, no outputs)
    output.ipynb    the executed notebook
    ledger.jsonl    the kernel's ledger mirror (LEPTON_LEDGER)
    pins.json       a rerun's pins (LEPTON_PINS), its mode and working folder
    workdir/        a rerun's working folder: the workspace mirrored by links
    attached.json   the datasets a rerun placed in its working folder
    diff.json       a rerun's diff against the run it reran
    rerun.log       output of a rerun started in the background (REST)
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .._process import process_alive
from ..errors import Invalid, NotFound, did_you_mean
from ..settings import Settings, load_settings
from .schema import Manifest

RUN_ID = re.compile(r"^\d{8}-\d{6}-\d{6}$")
MANIFEST = "manifest.json"
INPUT = "input.ipynb"
OUTPUT = "output.ipynb"
LEDGER = "ledger.jsonl"
PINS = "pins.json"
DIFF = "diff.json"
LOG = "rerun.log"
WORKDIR = "workdir"


class RunStore:
    """Run folders under ``root``; see the module docstring for the layout."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RunStore:
        return cls((settings or load_settings()).state_dir / "runs")

    def create(self) -> str:
        """A new run id whose folder now exists and belongs to the caller."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            # To the microsecond, so ids sort in creation order; a clash (another process in
            # the same microsecond) loses the mkdir race and takes the next timestamp.
            run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
            try:
                (self.root / run_id).mkdir()
            except FileExistsError:
                continue
            return run_id

    def folder(self, run_id: str) -> Path:
        """The folder of an existing run; Invalid for a malformed id, NotFound for unknown."""
        if not isinstance(run_id, str) or not RUN_ID.match(run_id):
            raise Invalid(
                f"{run_id!r} is not a run id; run ids look like 20260131-142501-123456 "
                "(see `lepton runs list`)."
            )
        folder = self.root / run_id
        if not (folder / MANIFEST).is_file():
            hint = did_you_mean(run_id, self.ids())
            raise NotFound(f"No run {run_id!r} in {self.root}.{hint}")
        return folder

    def save(self, manifest: Manifest) -> Path:
        """Write the manifest atomically: readers see the old or the new one, never half."""
        folder = self.root / manifest.id
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".manifest-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(manifest.model_dump_json(indent=1))
        target = folder / MANIFEST
        os.replace(tmp, target)
        return target

    def get(self, run_id: str) -> Manifest:
        """The manifest; a 'running' run whose process is gone is recorded 'crashed' first."""
        return self._settle(self._read(self.folder(run_id)))

    def _read(self, folder: Path) -> Manifest:
        return Manifest.model_validate_json((folder / MANIFEST).read_text())

    def _settle(self, manifest: Manifest) -> Manifest:
        """Record as 'crashed' a run whose process ended without recording how the run ended.

        The pid and its start time name the process (a reused pid has another start time),
        as the job store does with its supervisors; a run on another machine is left as it is.
        """
        if manifest.status != "running" or manifest.pid is None:
            return manifest
        if manifest.host and manifest.host != socket.gethostname():
            return manifest
        if process_alive(manifest.pid, manifest.pid_started):
            return manifest
        # It may have recorded its end just before exiting: read again.
        manifest = self._read(self.root / manifest.id)
        if manifest.status != "running":
            return manifest
        crashed = manifest.model_copy(
            update={
                "status": "crashed",
                "error": f"The process running it (pid {manifest.pid}) ended without "
                "recording how the run ended: it was killed or crashed.",
            }
        )
        # Another user's run folder may be read-only to us: show it crashed all the same.
        with contextlib.suppress(OSError):
            self.save(crashed)
        return crashed

    def ids(self) -> list[str]:
        """Ids of every recorded run, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if RUN_ID.match(p.name) and (p / MANIFEST).is_file()
        )

    def list(self, notebook: str | None = None, limit: int | None = 50) -> list[Manifest]:
        """Runs newest first, optionally only those of one notebook (path as recorded)."""
        result: list[Manifest] = []
        wanted = str(Path(notebook).resolve()) if notebook else None
        for run_id in reversed(self.ids()):
            try:
                manifest = self._settle(self._read(self.root / run_id))
            except (OSError, ValueError):
                continue  # a folder being written right now
            if wanted and manifest.notebook.path != wanted:
                continue
            result.append(manifest)
            if limit is not None and len(result) >= limit:
                break
        return result
