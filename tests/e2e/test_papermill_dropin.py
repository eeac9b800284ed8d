"""``papermill --engine lepton`` as a drop-in: a corpus of notebooks run through plain papermill
and through the lepton engine, with real kernels.

For each case: the same exit status, the same error text, the same output notebook (timings
aside, and ``metadata.lepton`` that only the engine adds), a manifest saying what papermill
said, and, for every run papermill completed, a rerun that reproduces it.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import functools
import http.server
import json
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lepton_jupyter.runs import rerun
from lepton_jupyter.runs.manifest import WIDGET_VIEW, normalized_outputs
from lepton_jupyter.runs.schema import Manifest
from lepton_jupyter.runs.store import INPUT, RunStore
from tests.fixtures.processes import http_server, pid_alive, wait_for
from tests.fixtures.runs import PAPERMILL, write_notebook

pytestmark = pytest.mark.slow

PARAMETERS = "lr = 0.1\nsteps = 3\nname = 'run'\nflags = {'a': [1, 2]}"
SHOW = "print(lr, steps, name, flags, type(lr).__name__, type(steps).__name__)"


@dataclass
class Ran:
    """One papermill command: how it ended and the notebook it wrote."""

    returncode: int
    stdout: str
    stderr: str
    output: Any | None

    @property
    def error_text(self) -> str:
        """What papermill printed about the failure: from the exception line to the end."""
        lines = self.stderr.splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
        if not starts:
            return ""
        tail = lines[starts[-1] :]
        first = next(i for i, line in enumerate(tail) if re.match(r"^[A-Za-z_][\w.]*(: |$)", line))
        return "\n".join(tail[first:]).strip()


def _start(args: list[str], cwd: Path, *, lepton: bool) -> subprocess.Popen:
    command = [PAPERMILL, *(["--engine", "lepton"] if lepton else []), "--no-progress-bar", *args]
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _papermill(args: list[str], cwd: Path, *, lepton: bool) -> subprocess.CompletedProcess:
    process = _start(args, cwd, lepton=lepton)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def both(tmp: Path, args: list[str], *, stdin: str | None = None) -> tuple[Ran, Ran, Manifest]:
    """``papermill ARGS`` and ``papermill --engine lepton ARGS``, side by side ('{out}' becomes
    each one's output path); (plain, lepton, the run lepton recorded)."""
    started = {}
    for lepton in (False, True):
        out = f"out-{'lepton' if lepton else 'plain'}.ipynb"
        filled = [a.replace("{out}", out) for a in args]
        started[lepton] = (out, filled, _start(filled, tmp, lepton=lepton))
    results = []
    for out, filled, process in started.values():
        try:
            stdout, stderr = process.communicate(stdin, timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        written = tmp / out
        if filled[1] == "-" and stdout.strip():
            output = nbformat.reads(stdout, as_version=4)
        elif written.is_file():
            output = nbformat.read(written, as_version=4)
        else:
            output = None
        results.append(Ran(process.returncode, stdout, stderr, output))
    return results[0], results[1], only_run()


def only_run() -> Manifest:
    store = RunStore(Path(os.environ["LEPTON_STATE_DIR"]) / "runs")
    originals = [m for m in store.list(limit=None) if m.rerun_of is None]
    assert originals, "the lepton engine recorded no run"
    return originals[0]


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
VOLATILE = ("start_time", "end_time", "duration", "input_path", "output_path")


def comparable(nb: Any) -> Any:
    """A notebook without what differs between two identical executions."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("lepton", None)
    for key in VOLATILE:
        nb.metadata.get("papermill", {}).pop(key, None)
    # Widget model ids are random: keep which models there were
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    if state:
        nb.metadata.widgets[WIDGET_STATE]["state"] = sorted(m["model_name"] for m in state.values())
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in VOLATILE:
            cell.metadata.get("papermill", {}).pop(key, None)
        cell.pop("id", None)
        for out in cell.get("outputs", []):
            if WIDGET_VIEW in out.get("data", {}):
                out.data[WIDGET_VIEW]["model_id"] = "<model>"
    return nb


def assert_same(plain: Ran, lepton: Ran) -> None:
    """The lepton engine behaved as papermill: exit, error, notebook (+ metadata.lepton only)."""
    assert lepton.returncode == plain.returncode, lepton.stderr[-3000:]
    assert lepton.error_text == plain.error_text
    assert (plain.output is None) == (lepton.output is None)
    if plain.output is not None:
        assert [normalized_outputs(c) for c in lepton.output.cells] == [
            normalized_outputs(c) for c in plain.output.cells
        ]
        assert comparable(lepton.output) == comparable(plain.output)
        assert set(lepton.output.metadata) - set(plain.output.metadata) == {"lepton"}


def assert_recorded(manifest: Manifest, plain: Ran) -> None:
    """The manifest says what papermill said."""
    assert manifest.exit_code == plain.returncode
    if plain.returncode == 0:
        assert (manifest.status, manifest.failure, manifest.error) == ("completed", None, None)
        return
    assert manifest.status == "failed"
    last = plain.error_text.splitlines()[-1]
    if "PapermillExecutionError" in plain.error_text:
        shown = re.search(r'Exception encountered at "In \[(\d+)\]"', plain.stderr)
        assert manifest.failure.exec_count == int(shown.group(1))
        assert manifest.error.startswith(f"In [{shown.group(1)}]: ")
        if manifest.failure.ename != "CellExecutionError":  # no error output, no last line
            assert last == f"{manifest.failure.ename}: {manifest.failure.evalue}".rstrip(": ")
    else:
        assert last == manifest.error


def assert_reruns(manifest: Manifest, **kwargs: Any) -> None:
    """A completed run reruns to the same outputs."""
    again = rerun(manifest.id, **kwargs)
    assert again.status == "completed"
    result = again.diff()
    assert result.identical, result.summary()


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


CLI_CASES = {
    # name: (cells, parameters cell, papermill args after the notebook and output)
    "an error in a cell": (["x = 1", "raise ValueError(f'bad {x}')", SHOW], PARAMETERS, []),
    "an error from a line magic": (["%nosuchmagic", SHOW], PARAMETERS, ["-p", "lr", "0.2"]),
    "sys.exit()": (["import sys", "sys.exit()", SHOW], PARAMETERS, []),
    "sys.exit(0)": (["import sys", "sys.exit(0)", SHOW], PARAMETERS, ["-p", "steps", "4"]),
    "raise SystemExit": (["raise SystemExit", SHOW], PARAMETERS, []),
    "sys.exit(3)": (["import sys", "sys.exit(3)"], PARAMETERS, []),
    "raises-exception before the real failure": (
        [("1 / 0", "raises-exception"), SHOW, "raise KeyError('real')"],
        PARAMETERS,
        ["-p", "lr", "0.3"],
    ),
    "raises-exception alone (papermill fails it)": (
        [("1 / 0", "raises-exception"), SHOW],
        PARAMETERS,
        [],
    ),
    "no parameters cell, -p given": (["print(lr)"], None, ["-p", "lr", "1e-3"]),
    "a widget": (["import ipywidgets\nipywidgets.IntSlider(3)", SHOW], PARAMETERS, []),
    "yaml date papermill cannot store": ([SHOW], PARAMETERS, ["-y", "name: 2026-01-02"]),
}


def _write(path: Path, cells: list, parameters: str | None) -> Path:
    write_notebook(path, [c if isinstance(c, str) else c[0] for c in cells], parameters)
    nb = nbformat.read(path, as_version=4)
    offset = 1 if parameters is not None else 0
    for i, cell in enumerate(cells):
        if not isinstance(cell, str):
            nb.cells[i + offset].metadata["tags"] = [cell[1]]
    nbformat.write(nb, path)
    return path


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_the_engine_agrees_with_papermill(case: str, tmp_path: Path):
    cells, parameters, args = CLI_CASES[case]
    _write(tmp_path / "nb.ipynb", cells, parameters)
    plain, lepton, manifest = both(tmp_path, ["nb.ipynb", "{out}", *args])
    assert_same(plain, lepton)
    assert_recorded(manifest, plain)
    if plain.returncode == 0:
        assert_reruns(manifest)


def test_every_kind_of_parameter_is_recorded_as_the_notebook_ran_with_it(tmp_path: Path):
    _write(tmp_path / "nb.ipynb", [SHOW], PARAMETERS)
    (tmp_path / "params.yaml").write_text("steps: 7\n")
    args = ["-p", "lr", "0.5", "-r", "name", "1e3", "-y", "flags: {a: [3]}", "-f", "params.yaml"]
    args += ["-p", "scale", "nan"]  # not declared: papermill warns and injects it
    plain, lepton, manifest = both(tmp_path, ["nb.ipynb", "{out}", *args])
    assert_same(plain, lepton)
    assert_recorded(manifest, plain)
    assert "0.5 7 1e3 {'a': [3]} float int" in "".join(
        o.get("text", "") for c in lepton.output.cells for o in c.outputs
    )
    ran_with = {"lr": 0.5, "steps": 7, "name": "1e3", "flags": {"a": [3]}}
    scale = manifest.parameters.pop("scale")
    assert str(scale) == "nan" and str(manifest.injected.pop("scale")) == "nan"
    assert manifest.parameters == ran_with and manifest.injected == ran_with
    # stored as strict JSON (a browser parses it)
    stored = RunStore.from_settings().root / manifest.id / "manifest.json"
    json.loads(stored.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    again = rerun(manifest.id, {"lr": 0.25})
    assert {k: v for k, v in again.parameters.items() if k != "scale"} == {**ran_with, "lr": 0.25}
    assert [(p.name, p.before, p.after) for p in again.diff().parameters] == [("lr", 0.5, 0.25)]
    # Declared defaults are recorded even when nothing is injected
    plain, lepton, manifest = both(tmp_path, ["nb.ipynb", "{out}"])
    assert manifest.parameters == {"lr": 0.1, "steps": 3, "name": "run", "flags": {"a": [1, 2]}}
    assert manifest.injected is None


def test_stdin_to_stdout_is_recorded_and_reruns_from_the_kept_copy(tmp_path: Path):
    source = _write(tmp_path / "nb.ipynb", [SHOW], PARAMETERS).read_text()
    plain, lepton, manifest = both(tmp_path, ["-", "-", "-p", "lr", "0.7"], stdin=source)
    assert_same(plain, lepton)
    assert (manifest.notebook.source, manifest.notebook.path) == ("stdin", "-")
    assert manifest.output_path == "-"
    assert_reruns(manifest)


def test_cwd_does_not_move_the_recorded_input_and_output(tmp_path: Path):
    # (the kernel reads a file only the --cwd folder holds)
    _write(tmp_path / "sub" / "nb.ipynb", ["print(open('only-here.txt').read())"], PARAMETERS)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "only-here.txt").write_text("in other/")
    (tmp_path / "results").mkdir()
    args = ["sub/nb.ipynb", "results/{out}", "--cwd", "other"]
    plain, lepton, manifest = both(tmp_path, args)
    assert plain.returncode == lepton.returncode == 0, lepton.stderr[-2000:]
    written = {
        k: nbformat.read(tmp_path / "results" / f"out-{k}.ipynb", as_version=4)
        for k in ("plain", "lepton")
    }
    assert comparable(written["lepton"]) == comparable(written["plain"])
    assert manifest.notebook.path == str((tmp_path / "sub" / "nb.ipynb").resolve())
    assert manifest.output_path == str((tmp_path / "results" / "out-lepton.ipynb").resolve())
    assert manifest.cwd == str((tmp_path / "other").resolve())
    assert_reruns(manifest)


def test_a_saved_injected_parameters_cell_is_what_the_run_recorded_and_reruns(tmp_path: Path):
    # Given the output of an earlier papermill run used as the input, run without -p
    _write(tmp_path / "first.ipynb", [SHOW], PARAMETERS)
    done = _papermill(["first.ipynb", "saved.ipynb", "-p", "lr", "0.9"], tmp_path, lepton=False)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = nbformat.read(tmp_path / "saved.ipynb", as_version=4)
    del saved.metadata["papermill"]  # as Jupyter saves it after clearing metadata
    nbformat.write(saved, tmp_path / "saved.ipynb")
    plain, lepton, manifest = both(tmp_path, ["saved.ipynb", "{out}"])
    assert_same(plain, lepton)
    # Then what papermill ran is recorded: the saved values
    assert manifest.injected == {"lr": 0.9}
    assert manifest.parameters["lr"] == 0.9
    kept = nbformat.read(RunStore.from_settings().root / manifest.id / INPUT, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in kept.cells)
    # And a rerun from the kept copy computes the same
    assert_reruns(manifest, from_copy=True)
    assert_reruns(manifest)


def test_a_notebook_node_from_the_python_api_runs_and_reruns(tmp_path: Path, in_tmp: Path):
    import papermill

    nb = nbformat.read(_write(tmp_path / "nb.ipynb", [SHOW], PARAMETERS), as_version=4)
    outputs = {}
    for engine in (None, "lepton"):
        out = tmp_path / f"out-{engine}.ipynb"
        papermill.execute_notebook(
            copy.deepcopy(nb), str(out), {"lr": 0.4}, engine_name=engine, progress_bar=False
        )
        outputs[engine] = nbformat.read(out, as_version=4)
    assert comparable(outputs["lepton"]) == comparable(outputs[None])
    manifest = only_run()
    assert (manifest.status, manifest.notebook.source, manifest.notebook.path) == (
        "completed",
        "object",
        "",
    )
    assert manifest.parameters["lr"] == 0.4
    assert_reruns(manifest)


@pytest.mark.parametrize(
    "value",
    [Path("data/x"), decimal.Decimal("1.10"), datetime.date(2026, 1, 2), "numpy"],
    ids=["Path", "Decimal", "date", "numpy int"],
)
def test_a_parameter_papermill_refuses_is_refused_with_its_message_and_recorded_failed(
    value: Any, tmp_path: Path, in_tmp: Path
):
    import numpy as np
    import papermill

    if value == "numpy":
        value = np.int64(3)
    notebook = _write(tmp_path / "nb.ipynb", [SHOW], PARAMETERS)
    raised = {}
    for engine in (None, "lepton"):
        with pytest.raises(Exception) as caught:
            papermill.execute_notebook(
                str(notebook), str(tmp_path / "out.ipynb"), {"lr": value}, engine_name=engine
            )
        raised[engine] = caught.value
    assert type(raised["lepton"]) is type(raised[None])
    assert str(raised["lepton"]) == str(raised[None])
    manifest = only_run()
    assert (manifest.status, manifest.exit_code) == ("failed", 1)
    assert manifest.error == f"{type(raised[None]).__name__}: {raised[None]}"


@pytest.fixture
def http_notebooks(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server over a folder (papermill reads http:// through its HttpHandler)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http_server(handler) as url:
        yield url, folder


def test_a_notebook_read_over_http_records_the_url_and_reruns_when_it_is_gone(
    http_notebooks: tuple[str, Path], tmp_path: Path
):
    url, folder = http_notebooks
    _write(folder / "nb.ipynb", [SHOW], PARAMETERS)
    plain, lepton, manifest = both(tmp_path, [f"{url}/nb.ipynb", "{out}", "-p", "steps", "9"])
    assert_same(plain, lepton)
    assert (manifest.notebook.source, manifest.notebook.path) == ("url", f"{url}/nb.ipynb")
    (folder / "nb.ipynb").unlink()
    assert_reruns(manifest)


def test_a_killed_papermill_process_leaves_a_crashed_run(tmp_path: Path):
    marker = tmp_path / "kernel.pid"
    _write(
        tmp_path / "nb.ipynb",
        [f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(300)"],
        PARAMETERS,
    )
    process = subprocess.Popen(
        [PAPERMILL, "--engine", "lepton", "nb.ipynb", "out.ipynb"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kernel = None
    try:
        kernel = int(
            wait_for(lambda: marker.is_file() and marker.read_text(), 120, message="kernel")
        )
        assert only_run().status == "running"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        manifest = only_run()
        assert manifest.status == "crashed"
        assert f"pid {process.pid}" in manifest.error
        listed = subprocess.run(
            [str(Path(PAPERMILL).with_name("lepton")), "runs", "list"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"{manifest.id}  crashed" in listed.stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        # ipykernel exits when its parent dies; make sure of it
        if kernel is not None and pid_alive(kernel):
            os.kill(kernel, signal.SIGKILL)
