"""The shipped IPython startup file in real kernels: it loads lepton where it is needed and
never stops a kernel from starting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

import lepton_jupyter

SHIPPED = Path(lepton_jupyter.__file__).parent / "etc/ipython/startup/50-lepton_jupyter.py"
INSTALLED = Path(sys.prefix) / "etc/ipython/startup/50-lepton_jupyter.py"


@pytest.fixture(autouse=True)
def installed_startup_file() -> None:
    # Kernels run the copy the install put under <sys.prefix>; it must be this checkout's.
    assert INSTALLED.is_file(), f"{INSTALLED} is missing: install the package (.ci/setup test)"
    assert INSTALLED.read_text() == SHIPPED.read_text(), (
        f"{INSTALLED} differs from {SHIPPED}: reinstall the package (.ci/setup test)"
    )


def run_in_kernel(code: str, env: dict[str, str], log: Path) -> tuple[str, str]:
    """(status, stdout) of ``code`` in a fresh python3 kernel whose stderr goes to ``log``."""
    with log.open("wb") as stderr:
        manager, client = start_new_kernel(kernel_name="python3", env=env, stderr=stderr)
        out: list[str] = []
        try:
            reply = client.execute_interactive(
                code,
                timeout=120,
                output_hook=lambda msg: out.append(msg["content"].get("text", "")),
            )
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    return reply["content"]["status"], "".join(out)


def test_a_kernel_loads_the_ledger_and_the_magics(tmp_path: Path):
    # Given a kernel of this environment
    # When it starts, Then lepton's extension is loaded: the magics answer
    status, out = run_in_kernel(
        "print('lepton_jupyter' in get_ipython().extension_manager.loaded)\n"
        "print('state_dir' in get_ipython().run_line_magic('lepton', 'status'))",
        dict(os.environ),
        tmp_path / "kernel.log",
    )
    assert (status, out.split()) == ("ok", ["True", "True"])


def test_a_bad_pins_file_is_one_line_and_the_kernel_carries_on(tmp_path: Path):
    # Given a kernel started with LEPTON_PINS naming a file that is not JSON
    pins_file = tmp_path / "pins.json"
    pins_file.write_text("{not json")
    log = tmp_path / "kernel.log"
    env = {**os.environ, "LEPTON_PINS": str(pins_file)}
    # When it runs a cell, and then a cell that asks for a pin
    status, out = run_in_kernel(
        "print(6 * 7)\n"
        "from lepton_jupyter import pins\n"
        "try:\n"
        "    pins.pinned('dataset', 'u|p|main')\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)",
        env,
        log,
    )
    # Then the kernel works: the first cell's answer is there
    assert status == "ok"
    assert out.startswith("42\n")
    # And where pins are used the error names the file and the variable (no silent unpinned run)
    assert f"Invalid Cannot read the pins file {pins_file} named by LEPTON_PINS" in out
    # And the kernel's log has one line from lepton saying so, no traceback
    lines = [line for line in log.read_text().splitlines() if "lepton_jupyter" in line]
    assert len(lines) == 1, log.read_text()
    assert "not loaded in this kernel" in lines[0] and str(pins_file) in lines[0]
    assert "Traceback" not in log.read_text()


def test_a_terminal_ipython_is_left_alone(tmp_path: Path):
    # Given IPython started in a terminal of this environment (not a kernel)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--no-banner",
            "-c",
            "print('lepton_jupyter' in get_ipython().extension_manager.loaded)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")},
    )
    # Then lepton did not load itself into it
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"
