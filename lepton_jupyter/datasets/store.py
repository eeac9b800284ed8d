"""What attaching keeps on disk besides the files: the workspace's ``.dvc`` import files
(read and written with DVC's own stage serialiser), DVC's project lock, and a rerun's
journal of what it attached in its own working folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .. import pins
from ..errors import Conflict
from ..workdir import read_attached, write_attached
from .schema import AttachedDataset

if TYPE_CHECKING:
    from dvc.repo import Repo
    from dvc.stage import Stage


def rerun_attached() -> dict[str, AttachedDataset]:
    """What this rerun attached so far, by destination (kept beside its working folder)."""
    folder = pins.rerun_workdir()
    assert folder is not None
    return {to: AttachedDataset.model_validate(a) for to, a in read_attached(folder).items()}


def save_rerun_attached(held: dict[str, AttachedDataset]) -> None:
    folder = pins.rerun_workdir()
    assert folder is not None
    write_attached(folder, {to: a.model_dump(mode="json") for to, a in held.items()})


def load_import(ws: Repo, dvc_file: Path) -> Stage | None:
    from dvc.exceptions import DvcException

    try:
        stage = ws.stage.load_one(str(dvc_file))
    except DvcException:
        return None
    return stage if stage.is_repo_import else None


def stage_text(stage: Stage) -> str:
    """The stage in DVC's own single-stage file format."""
    from dvc.stage.serialize import to_single_stage_file
    from dvc.utils.serialize import dumps_yaml

    return dumps_yaml(to_single_stage_file(stage))


@contextmanager
def quiet_dvc() -> Iterator[None]:
    """Hide DVC's hints for humans at a prompt ("Initialized DVC repository...")."""
    logger = logging.getLogger("dvc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def dvc_project_lock(ws: Repo) -> Iterator[None]:
    """DVC's project lock: no ``dvc`` command or other attach changes the project meanwhile."""
    from dvc.lock import LockError

    try:
        ws.lock.lock()
    except LockError as e:
        raise Conflict(f"The workspace's DVC project is busy ({e}); try again.") from e
    try:
        yield
    finally:
        ws.lock.unlock()
