"""After installation Jupyter sees both halves of the extension, enabled and valid."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# The installed extension as jupyter's own CLI lists it: one process per check.
pytestmark = pytest.mark.slow

JUPYTER = str(Path(sys.executable).with_name("jupyter"))


def _listing(*args: str) -> str:
    done = subprocess.run([JUPYTER, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Both commands print to stderr; drop colour codes.
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def test_server_extension_is_enabled_and_ok():
    text = _listing("server", "extension", "list")
    assert re.search(r"lepton_jupyter\s+enabled", text), text
    assert re.search(r"lepton_jupyter \S+ OK", text), text


def test_labextension_is_enabled_and_ok():
    text = _listing("labextension", "list")
    assert re.search(r"lepton-jupyter v\S+ enabled\s+OK", text), text
