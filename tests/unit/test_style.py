"""The Python sources stay ruff-clean (lint and format), as the contributing guide asks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.parts import require, venv_tool

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command: list[str]):
    require("lint")
    done = subprocess.run(
        [str(venv_tool("ruff")), *command, "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
