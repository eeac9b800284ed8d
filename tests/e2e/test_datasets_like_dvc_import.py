"""attach covers what ``dvc import`` covers, compared with the real ``dvc import`` output.

For each source the real CLI imports into one workspace and attach into another: a folder
inside a DVC-tracked folder, one file inside it, a git-tracked folder and a git-tracked
file. The trees, the bytes and the .dvc files must match, and ``dvc status`` must accept
attach's imports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lepton_jupyter.datasets import DatasetService
from tests.fixtures.datasets import dvc
from tests.fixtures.runs import git

pytestmark = pytest.mark.slow

SOURCES = {
    "datasets/images/part000": "sub",
    "datasets/images/part000/000001.bin": "one.bin",
    "configs": "configs",
    "NOTES.md": "NOTES.md",
}


def _tree(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {
        p.relative_to(path).as_posix(): p.read_bytes()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_attach_writes_what_dvc_import_writes(fresh_registry, tmp_path):
    # Given a data registry that also has git-tracked configuration next to its datasets
    registry = Path(fresh_registry.url)
    (registry / "configs").mkdir()
    (registry / "configs" / "train.yaml").write_text("lr: 0.1\nepochs: 3\n")
    (registry / "NOTES.md").write_text("How the data was collected.\n")
    git("add", "configs", "NOTES.md", cwd=registry)
    git("commit", "-q", "-m", "configs and notes", cwd=registry)
    # And two empty git + DVC workspaces
    theirs, ours = tmp_path / "dvc-import", tmp_path / "attach"
    for ws in (theirs, ours):
        ws.mkdir()
        git("init", "-q", cwd=ws)
        assert dvc("init", "-q", cwd=ws).returncode == 0
    service = DatasetService(ours)
    for path, to in SOURCES.items():
        # When the real CLI imports the source and attach attaches it
        done = dvc("import", str(registry), path, "-o", to, "--rev", "main", cwd=theirs)
        assert done.returncode == 0, done.stderr
        result = service.attach(str(registry), path, rev="main", to=to)
        # Then the files and bytes are the same
        assert _tree(ours / to) == _tree(theirs / to), path
        # And so is the .dvc file, field for field
        assert yaml.safe_load((ours / f"{to}.dvc").read_text()) == yaml.safe_load(
            (theirs / f"{to}.dvc").read_text()
        ), path
        assert result.commit == fresh_registry.commit_of("main")
    # And the real dvc CLI finds attach's imports up to date
    status = dvc("status", cwd=ours)
    assert status.returncode == 0 and "changed" not in status.stdout, status.stdout
