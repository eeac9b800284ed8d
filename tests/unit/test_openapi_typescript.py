"""The labextension's types are checked against the Jupyter server's OpenAPI document.

``labextension/src/openapi.d.ts`` is generated from ``lepton_jupyter/handlers/openapi.json``
by openapi-typescript (a dev dependency); ``src/apiCheck.ts`` asserts at compile time that
every route the sidebar calls answers what its interface in ``api.ts`` expects.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

# Node.js tools over the TypeScript sources.
pytestmark = pytest.mark.slow

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"
DOCUMENT = LABEXTENSION.parent / "lepton_jupyter" / "handlers" / "openapi.json"
BIN = LABEXTENSION / "node_modules" / ".bin"
#: Regenerate: (cd labextension && jlpm openapi)
GENERATE = ["openapi-typescript", str(DOCUMENT), "--default-non-nullable", "false"]


def _run(args: list[str]) -> subprocess.CompletedProcess:
    if not BIN.is_dir():
        pytest.fail("labextension/node_modules is missing: run `.ci/setup test` first")
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=LABEXTENSION,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generated_types_match_the_document(tmp_path):
    out = tmp_path / "openapi.d.ts"
    done = _run([*GENERATE, "-o", str(out)])
    assert done.returncode == 0, done.stderr[-2000:]
    committed = (LABEXTENSION / "src" / "openapi.d.ts").read_text()
    assert committed == out.read_text(), "labextension/src/openapi.d.ts is stale: `jlpm openapi`"


def test_client_interfaces_fit_the_document():
    done = _run(["tsc", "--noEmit", "-p", "tsconfig.json"])
    assert done.returncode == 0, done.stdout[-4000:]
