"""``lepton demo`` builds a fresh workspace and runs the demo notebook to the end."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

LEPTON = str(Path(sys.executable).with_name("lepton"))
JUPYTER = str(Path(sys.executable).with_name("jupyter"))


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path):
    # Given a clone of this repo, whose .gitignore lists the demo folders (the README's
    # first command runs the demo from there)
    clone = tmp_path / "clone"
    clone.mkdir()
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    (clone / ".gitignore").write_text("lepton-demo-*/\n")
    # When the user runs the demo with no options
    done = subprocess.run([LEPTON, "demo"], cwd=clone, capture_output=True, text=True, timeout=900)
    # Then it succeeds in a new folder and says where everything is
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-4000:]
    (demo,) = clone.glob("lepton-demo-*")
    assert "Demo finished" in done.stdout
    assert str(demo / "workspace") in done.stdout
    # And the whole chain ran: after @prod moved and v3 was tagged, the rerun of the first
    # run reproduced its metrics with both pins held
    assert "demo/spirals@prod moved from version 1 to 2" in done.stdout
    assert "tagged v3" in done.stdout
    assert "metrics identical" in done.stdout
    # And the rerun was a dry run that reproduced the published model's bytes, so it is
    # identical in every respect (ids and times aside) and the demo says so last
    assert "model demo/spirals:1 bytes reproduced: yes" in done.stdout
    assert "not applied (dry run): publish demo/spirals:1 (+ @prod)" in done.stdout
    assert re.search(r"^Rerun \S+: identical$", done.stdout, re.MULTILINE), done.stdout
    assert "pin dataset datasets/points@main" in done.stdout
    held = [line for line in done.stdout.splitlines() if line.strip().startswith("pin ")]
    assert len(held) >= 2 and all(line.endswith(": held") for line in held[:2]), held
    # And the workspace holds a data registry with tagged versions and an executed notebook
    tags = subprocess.run(
        ["git", "tag"], cwd=demo / "data-registry", capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"v1", "v2", "v3"} <= set(tags)
    output = nbformat.read(demo / "workspace" / "demo-output.ipynb", as_version=4)
    errors = [o for c in output.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, json.dumps(errors)[:2000]
    # And the training job reads well in the saved output's HTML export (no widgets run
    # there): its status, a table per rank and the loss curve as an image
    page, _ = HTMLExporter().from_notebook_node(output)
    assert "<th>rank</th><th>step</th><th>loss</th>" in page
    assert "loss curve" in page and 'src="data:image/png;base64,iVBORw0KGgo' in page
    assert "succeeded</span>" in page
    # And its last line is the exact command that opens the workspace in JupyterLab, with
    # jupyter's full path when the venv is not activated
    cd, jupyter, lab = _open_command(done.stdout, demo / "workspace")
    assert lab == "lab" and (shutil.which(jupyter) or Path(jupyter).is_absolute()), jupyter
    assert os.access(shutil.which(jupyter) or jupyter, os.X_OK)
    # And in that workspace a shell with no LEPTON_* variable sees the demo's runs
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEPTON_")}
    listed = subprocess.run(
        [LEPTON, "runs", "list"], cwd=cd, env=clean, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(listed) == 2 and "(dry-run rerun of" in listed[0], listed
    # And `lepton runs rerun --check` of the first run passes there too
    first = listed[1].split()[0]
    check = subprocess.run(
        [LEPTON, "runs", "rerun", first, "--check"],
        cwd=cd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert ": identical" in check.stdout
    # And the demo notebook runs again there, top to bottom, as a JupyterLab kernel runs it
    # (no parameters injected, no variable set), and again: re-attaching keeps its lock
    for again in ("again-1.ipynb", "again-2.ipynb"):
        executed = subprocess.run(
            [JUPYTER, "nbconvert", "--execute", "--to=notebook", f"--output={again}", "demo.ipynb"],
            cwd=cd,
            env=clean,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert executed.returncode == 0, executed.stderr[-4000:]
        rerun = nbformat.read(cd / again, as_version=4)
        text = json.dumps([o for c in rerun.cells for o in c.get("outputs", [])])
        assert "test accuracy of demo/spirals@prod" in text, text[-2000:]


def _open_command(stdout: str, workspace: Path) -> tuple[Path, str, str]:
    """(folder, jupyter, 'lab') of the demo's last line, ``cd FOLDER && JUPYTER lab``."""
    words = shlex.split(stdout.strip().splitlines()[-1])
    assert words[0] == "cd" and words[2] == "&&" and len(words) == 5, words
    assert Path(words[1]) == workspace
    return Path(words[1]), words[3], words[4]


def test_demo_refuses_a_folder_that_is_not_empty(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me")
    done = subprocess.run(
        [LEPTON, "demo", "--dir", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "not empty" in done.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
