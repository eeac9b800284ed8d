"""What notebooks call: browse a data registry, attach pinned datasets into the cwd.

The workspace is the current directory (a notebook's folder); settings come from the
``LEPTON_*`` variables the server extension exports to its kernels. Progress is a tqdm bar:
``tqdm.auto`` draws an ipywidgets bar in a notebook and text in a terminal.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from .. import pins
from ..errors import Invalid
from ..settings import load_settings
from .schema import AttachedDataset, AttachProgress, CacheReport, PrunedMirror, RegistryListing
from .service import DatasetService, ProgressCallback, browse_key, pin_key


def _service(workspace: str | os.PathLike[str] | None = None) -> DatasetService:
    return DatasetService(Path(workspace or os.getcwd()), load_settings())


class TqdmProgress:
    """Files as the bar's count, bytes in its postfix; closed on the ``done`` event."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._bar: Any = None

    def __call__(self, event: AttachProgress) -> None:
        from tqdm.auto import tqdm

        if event.phase in ("resolve", "fetch") and self._bar is None:
            return
        if self._bar is None:
            self._bar = tqdm(
                total=event.files_total, desc=self.description, unit="file", leave=True
            )
        self._bar.n = event.files_done
        self._bar.set_postfix_str(
            f"{human_bytes(event.bytes_done)}/{human_bytes(event.bytes_total)}", refresh=False
        )
        self._bar.refresh()
        if event.phase == "done":
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _progress(progress: ProgressCallback | bool | None, what: str) -> ProgressCallback | None:
    if progress is True or progress is None:
        return TqdmProgress(what)
    if progress is False:
        return None
    return progress


def default_registry() -> str:
    """The first data registry configured here (``lepton.json``, ``LEPTON_DATA_REGISTRIES``
    or ``c.LeptonApp.data_registries``): what a notebook uses when not given a URL."""
    configured = load_settings().data_registries
    if not configured:
        raise Invalid(
            "No data registry is configured here: pass a data registry URL, or add "
            '"data_registries" to a lepton.json in this folder (lepton demo writes one).'
        )
    return configured[0]


def browse(url: str, rev: str | None = None) -> RegistryListing:
    """The datasets of data registry ``url`` at ``rev`` (path, size, files, description)
    and its versions (tags with dates, then branches)."""
    listing = _service().browse(url, rev)
    pins.record(
        "browse",
        browse_key(listing.url, rev),
        url=listing.url,
        rev=rev,
        commit=listing.commit,
        versions=[v.model_dump(mode="json") for v in listing.versions],
    )
    return listing


def _record_attach(result: AttachedDataset) -> AttachedDataset:
    """This process's run ledger notes what the attach resolved (what a rerun pins). Only
    the API records: an attach from the sidebar belongs to no kernel's run."""
    pins.record(
        "dataset",
        pin_key(result.url, result.path, result.rev),
        url=result.url,
        path=result.path,
        rev=result.rev,
        commit=result.commit,
        hash=result.hash,
        to=result.to,
    )
    return result


def attach(
    url: str,
    path: str,
    rev: str | None = None,
    to: str | None = None,
    *,
    progress: ProgressCallback | bool | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> AttachedDataset:
    """Attach dataset ``path`` of registry ``url`` at ``rev`` into ``to`` (default: the
    dataset's folder name) as a DVC import pinned to the resolved commit.

    Files are linked from the shared cache; only objects it lacks are downloaded. In a
    rerun, the same call resolves to the commit the original run recorded.
    """
    bar = _progress(progress, f"attach {path}")
    try:
        result = _service(workspace).attach(url, path, rev=rev, to=to, progress=bar)
    finally:
        if isinstance(bar, TqdmProgress):
            bar.close()
    warn_if_cache_writable(result, Path(workspace or os.getcwd()))
    return _record_attach(result)


class SharedCacheWritable(UserWarning):
    """This user's writes to an attached file would change the shared cache itself."""


# Marks a workspace whose user was told, so the warning comes once per workspace.
_WARNED_MARKER = Path(".dvc") / "tmp" / "lepton-shared-cache-writable"


def warn_if_cache_writable(result: AttachedDataset, workspace: Path) -> None:
    """Warn (once per workspace) when the attached files are hard or symbolic links to cache
    objects this user may write: as root, or as an owner who made them writable, a write to
    an attached file changes what every other user of the shared cache reads."""
    shared = {"hardlink", "symlink"} & set((result.link_type or "").split(","))
    marker = workspace / _WARNED_MARKER
    if not shared or marker.exists():
        return
    local = Path(result.local_path)
    sample = local if local.is_file() else next((p for p in local.rglob("*") if p.is_file()), None)
    if sample is None or not os.access(sample, os.W_OK):
        return
    who = "root" if os.geteuid() == 0 else "you"
    warnings.warn(
        SharedCacheWritable(
            f"{result.to} is linked ({', '.join(sorted(shared))}) to the shared data cache, and "
            f"{who} can write its files: editing them in place would change the cache for "
            "every user. Copy a file before changing it, or set cache_link_types "
            "(LEPTON_CACHE_LINK_TYPES) to reflink,copy. Shown once per workspace."
        ),
        stacklevel=3,
    )
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()


def attached(*, workspace: str | os.PathLike[str] | None = None) -> list[AttachedDataset]:
    """The datasets attached in the workspace; ``newer_tag`` is set when upstream has one."""
    return _service(workspace).attached()


def update(
    to: str,
    rev: str | None = None,
    *,
    progress: ProgressCallback | bool | None = None,
    workspace: str | os.PathLike[str] | None = None,
) -> AttachedDataset:
    """Move the dataset attached at ``to`` to ``rev`` (default: re-resolve its own rev)."""
    bar = _progress(progress, f"update {to}")
    try:
        return _record_attach(_service(workspace).update(to, rev=rev, progress=bar))
    finally:
        if isinstance(bar, TqdmProgress):
            bar.close()


def detach(to: str, *, workspace: str | os.PathLike[str] | None = None) -> AttachedDataset:
    """Remove the dataset attached at ``to`` (folder, .dvc file, .gitignore entry)."""
    return _service(workspace).detach(to)


def verify(*, fix_permissions: bool = False) -> CacheReport:
    """Rehash the shared cache: objects whose content no longer matches, and folders or
    objects whose mode lets a member change what others read (``fix_permissions`` mends
    those this user owns; as root, all of them)."""
    return _service().verify(fix_permissions=fix_permissions)


def prune_mirrors(*, max_age_days: float | None = None) -> list[PrunedMirror]:
    """Remove the shared cache's mirrors of remote registries unused for ``max_age_days``
    (default: the ``data_mirror_max_age_days`` setting); one in use is left."""
    return _service().prune_mirrors(max_age_days)
