"""The TypeScript side's own checks (jest unit tests, eslint + prettier) run with the suite.

``.ci/setup test`` builds the extension, which installs its node_modules; these tests run
jlpm from the same environment, so the README's test command covers both languages.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# jest, eslint and prettier over the TypeScript sources (Node.js).
pytestmark = pytest.mark.slow

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("script", ["test", "lint:check"], ids=["jest", "eslint+prettier"])
def test_labextension_script_passes(script: str):
    if not (LABEXTENSION / "node_modules").is_dir():
        pytest.fail("labextension/node_modules is missing: run `.ci/setup test` first")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "CI": "true"}
    done = subprocess.run(
        [str(BIN / "jlpm"), "run", script],
        cwd=LABEXTENSION,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
