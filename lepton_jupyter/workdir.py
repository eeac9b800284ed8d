"""A rerun's working folder: the workspace mirrored by links, so the workspace stays as it is.

A rerun must read the data its original run pinned, whatever the workspace holds now, and
must not change the workspace. Its kernel therefore runs in a folder of its own whose
entries are symbolic links to the workspace's entries: relative paths (``points/``,
``config.yaml``, local modules) resolve as they would in the workspace. When the rerun
attaches a dataset, the mirror link at the destination (and any linked folder on the way)
is replaced by real folders in the working folder, and the pinned data is linked there from
the shared cache. Nothing is ever written through a mirror link.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import Conflict


def mirror(workspace: Path, folder: Path) -> Path:
    """Make ``folder`` (new) hold one link per entry of ``workspace``."""
    folder.mkdir(parents=True)
    for entry in os.scandir(workspace):
        os.symlink(entry.path, folder / entry.name)
    return folder


def unmirror(folder: Path, dest: Path) -> None:
    """Make ``dest``'s parents real folders inside ``folder`` and remove a link at ``dest``.

    A linked folder on the way is replaced by a real one holding links to its entries, so
    a dataset placed at ``dest`` is written in ``folder`` and never in the workspace.
    """
    rel = dest.relative_to(folder)
    current = folder
    for i, part in enumerate(rel.parts):
        current = current / part
        last = i == len(rel.parts) - 1
        if current.is_symlink():
            target = os.readlink(current)
            current.unlink()  # removes the link itself, never what it points at
            if not last:
                current.mkdir()
                if os.path.isdir(target):
                    for entry in os.scandir(target):
                        os.symlink(entry.path, current / entry.name)
        elif not last and not current.exists():
            current.mkdir()
        elif not last and not current.is_dir():
            raise Conflict(f"{'/'.join(rel.parts[: i + 1])!r} is a file; cannot attach into it.")


def remove_tree(path: Path) -> None:
    """Delete a file, link or folder tree, read-only files (cache links) included."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def attached_file(folder: Path) -> Path:
    """Where a rerun notes the datasets it placed in its working folder ``folder``."""
    return folder.parent / "attached.json"


def read_attached(folder: Path) -> dict[str, dict[str, Any]]:
    """What the rerun placed, by destination (an AttachedDataset's fields each)."""
    path = attached_file(folder)
    return json.loads(path.read_text()) if path.is_file() else {}


def write_attached(folder: Path, held: dict[str, dict[str, Any]]) -> None:
    path = attached_file(folder)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(held, indent=1))
    os.replace(tmp, path)


def release(folder: Path) -> None:
    """Remove the datasets a finished rerun placed in ``folder`` (links to the cache)."""
    for held in read_attached(folder).values():
        place = Path(held["local_path"])
        if place.is_relative_to(folder) and not place.is_symlink():
            remove_tree(place)
