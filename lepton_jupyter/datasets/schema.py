"""What the datasets API returns: plain pydantic models shared by Python, REST and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DatasetVersion(BaseModel):
    """A tag or branch of a data registry; tags are the registry's versions."""

    name: str
    kind: Literal["tag", "branch"]
    commit: str
    date: datetime


class RegistryDataset(BaseModel):
    """One DVC-tracked folder or file of a data registry, at the browsed revision."""

    path: str = Field(description="Path inside the registry, as passed to attach().")
    hash: str = Field(description="DVC content hash (md5; '.dir' suffix for folders).")
    size: int | None = Field(default=None, description="Bytes, when DVC recorded them.")
    files: int | None = Field(default=None, description="Number of files (1 for a file).")
    description: str | None = Field(default=None, description="The .dvc file's desc.")


class RegistryListing(BaseModel):
    """What ``browse`` shows: the datasets at one revision and every version to choose from."""

    url: str
    rev: str | None
    commit: str
    datasets: list[RegistryDataset]
    versions: list[DatasetVersion]


class AttachedDataset(BaseModel):
    """A dataset placed in the workspace as a DVC import, pinned to one registry commit."""

    to: str = Field(description="Folder relative to the workspace (the import's output).")
    local_path: str = Field(description="Absolute path of the attached folder or file.")
    dvc_file: str = Field(description="The .dvc file of the import, relative to the workspace.")
    url: str = Field(description="Data registry URL.")
    path: str = Field(description="Dataset path inside the registry.")
    rev: str | None = Field(description="Revision asked for (tag, branch, commit or None).")
    commit: str = Field(description="Registry commit the revision resolved to (rev_lock).")
    hash: str = Field(description="DVC content hash of the dataset.")
    files: int
    bytes: int
    link_type: str | None = Field(
        default=None, description="How files were placed from the shared cache by this attach."
    )
    newer_tag: str | None = Field(
        default=None, description="A registry tag newer than the attached commit, if any."
    )
    upstream_commit: str | None = Field(
        default=None,
        description="The commit ``rev`` resolves to upstream now, when it has moved past the "
        "locked commit this attach kept (``update()`` takes it).",
    )
    hashed_objects: int = Field(
        default=0,
        description="Cache objects of other users this attach hashed before linking them "
        "(their first use by this user; later attaches link them unhashed).",
    )


class CorruptObject(BaseModel):
    """A cache object whose content does not hash to its name."""

    path: str
    expected: str
    actual: str
    owner: str | None = Field(default=None, description="The account owning the object.")


class PermissionProblem(BaseModel):
    """A folder or object of the shared cache whose mode, group or owner lets members
    change what other members read."""

    path: str
    owner: str
    problem: str


class CacheReport(BaseModel):
    """Result of rehashing the shared cache (``lepton datasets verify``)."""

    cache_dir: str
    checked: int
    corrupted: list[CorruptObject]
    permissions: list[PermissionProblem] = Field(
        default_factory=list, description="Modes, groups or owners still wrong."
    )
    fixed: int = Field(default=0, description="Folders and objects --fix-permissions mended.")


class PrunedMirror(BaseModel):
    """A remote registry's mirror ``lepton datasets prune-mirrors`` removed."""

    path: str
    last_used: datetime
    bytes: int


@dataclass
class AttachProgress:
    """A progress event: phase ``resolve``, ``fetch``, ``link`` or ``done``, with counts."""

    phase: str
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    bytes_total: int = 0


ProgressCallback = Callable[[AttachProgress], None]


def no_progress(_: AttachProgress) -> None:
    pass


class AttachPlan(BaseModel):
    """One attach, checked, as each way of attaching takes it (warm, through DVC, in a
    rerun): what to attach, where it lands, what the run ledger pins and whether the import
    already at the destination is replaced (``update``) or kept as the lock."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(description="Data registry URL, local paths made absolute.")
    path: str = Field(description="Dataset path inside the registry.")
    rev: str | None = Field(description="Revision asked for; None: the default branch.")
    to: str = Field(description="Destination relative to the workspace, POSIX separators.")
    dest: Path = Field(description="The destination's absolute path.")
    dvc_file: Path = Field(description="The import's .dvc file beside the destination.")
    pin: dict[str, Any] | None = Field(
        default=None, description="What the run ledger recorded for this attach (a rerun)."
    )
    replace: bool = Field(
        default=False, description="Replace the import at the destination, not keep its lock."
    )


class AttachProgressInfo(BaseModel):
    """The latest event of one running attach, under its destination (what the sidebar polls)."""

    to: str
    phase: Literal["resolve", "fetch", "link", "done"]
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


# -- REST requests -------------------------------------------------------------------


class BrowseQuery(BaseModel):
    url: str = Field(min_length=1)
    rev: str | None = None


class AttachRequest(BaseModel):
    url: str = Field(min_length=1)
    path: str = Field(min_length=1)
    rev: str | None = None
    to: str | None = None


class UpdateRequest(BaseModel):
    to: str = Field(min_length=1)
    rev: str | None = None
