"""The papermill engine ``lepton``: ``papermill -e lepton in.ipynb out.ipynb -p lr 0.1``.

It executes like papermill's default nbclient engine and records a run manifest around the
execution. The kernel gets a run-specific environment:

- ``LEPTON_LEDGER``: a JSON-lines file in the run folder that ``pins.ledger()`` mirrors to,
  so what the kernel resolved reaches the manifest written by this process;
- ``LEPTON_PINS``: the pins of a rerun (passed by ``rerun()`` or inherited from the caller);
- ``LEPTON_RUN_ID`` and ``LEPTON_NOTEBOOK_PATH``: for lineage recorded by the registry.

The environment is passed to the kernel at start-up, never set in this process, so several
runs may execute concurrently in one process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Callable
from typing import Any

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine
from papermill.log import logger

from .. import pins
from .._process import process_started
from .manifest import (
    current_user,
    git_info,
    kernel_python,
    notebook_info,
    notebook_location,
    now,
    output_digest,
    package_versions,
    without_outputs,
)
from .outcome import Outcome, exception_outcome, notebook_outcome
from .parameters import run_parameters
from .schema import Manifest, ScheduledJob
from .store import INPUT, LEDGER, OUTPUT, RunStore


class RunRecorder:
    """Writes the manifest of one run: at start (status running), then at the end."""

    def __init__(
        self,
        store: RunStore,
        manifest: Manifest,
        pins_path: str | None,
        on_end: Callable[[Manifest], object] | None = None,
    ) -> None:
        self.store = store
        self.manifest = manifest
        self.folder = store.root / manifest.id
        self.pins_path = pins_path
        self.on_end = on_end or store.save
        self._environment: dict[str, Any] = {}
        # Package versions and git state are read while the kernel starts, off the
        # critical path (importing pygit2 and scanning dist-info take a few hundred ms).
        self._capture = threading.Thread(
            target=self._capture_environment, args=(manifest.cwd,), daemon=True
        )
        self._capture.start()

    def _capture_environment(self, cwd: str) -> None:
        self._environment = {"packages": package_versions(), "git": git_info(cwd)}

    @classmethod
    def begin(
        cls,
        nb: Any,
        kernel_name: str,
        *,
        run_id: str | None = None,
        rerun_of: str | None = None,
        pins_path: str | None = None,
        scheduled: ScheduledJob | None = None,
        on_end: Callable[[Manifest], object] | None = None,
    ) -> RunRecorder:
        """Create the run folder, keep a copy of the notebook as it runs, write 'running'.

        Input and output are read from ``metadata.papermill``, where papermill put them (the
        engine is not told an output of '-'), and resolved as papermill's local I/O handler
        resolved them: against the directory papermill was started in, not ``--cwd``.
        ``on_end`` is given the finished manifest instead of the store (see ``finish``).
        """
        store = RunStore.from_settings()
        run_id = run_id or store.create()
        folder = store.root / run_id
        recorded = nb.get("metadata", {}).get("papermill", {})
        base = papermill_base_dir()
        source, path = notebook_location(recorded.get("input_path"), base)
        _, output = notebook_location(recorded.get("output_path"), base)
        nbformat.write(without_outputs(nb), str(folder / INPUT))
        try:
            parameters, injected = run_parameters(nb, kernel_name)
        except Exception as e:  # a cell papermill's inspection cannot read: still a run
            logger.warning(f"Could not read the notebook's parameters cells: {e}")
            given = dict(recorded.get("parameters") or {})
            parameters, injected = given, given or None
        pid = os.getpid()
        manifest = Manifest(
            id=run_id,
            notebook=notebook_info(nb, path).model_copy(update={"source": source}),
            kernel_name=kernel_name or "",
            cwd=os.getcwd(),
            parameters=parameters,
            injected=injected,
            started_at=now(),
            output_path=output or None,
            rerun_of=rerun_of,
            user=current_user(),
            pid=pid,
            pid_started=process_started(pid),
            host=socket.gethostname(),
            scheduled=scheduled,
        )
        recorder = cls(store, manifest, pins_path or os.environ.get(pins.PINS_ENV), on_end)
        store.save(manifest)
        return recorder

    def kernel_env(self) -> dict[str, str]:
        """The kernel's environment: this process's plus the run's ledger, pins and ids."""
        env = dict(os.environ)
        env[pins.LEDGER_ENV] = str(self.folder / LEDGER)
        env[pins.RUN_ID_ENV] = self.manifest.id
        env[pins.NOTEBOOK_ENV] = self.manifest.notebook.path
        if self.pins_path:
            env[pins.PINS_ENV] = str(self.pins_path)
        else:
            env.pop(pins.PINS_ENV, None)
        return env

    def finish(self, nb: Any, outcome: Outcome) -> Manifest:
        """Record the ledger, metrics, outputs and outcome; keep a copy of the output.

        The finished manifest goes to ``on_end``: the store, unless the caller still has
        work to do before the run may show as ended (a rerun: papermill's last write of the
        output, the workspace it reran in), so no reader sees it ended and half-recorded.
        """
        ledger = pins.read_ledger_file(self.folder / LEDGER)
        self._capture.join()
        failure = outcome.failure
        self.manifest = self.manifest.model_copy(
            update={
                **self._environment,
                "status": outcome.status,
                "error": failure.text() if failure else None,
                "failure": failure,
                "exit_code": outcome.exit_code,
                "ledger": ledger,
                "metrics": pins.metrics_of(ledger),
                "python": kernel_python(nb),
                "ended_at": now(),
                "output_digest": output_digest(nb),
            }
        )
        # Parameters JSON cannot hold make it unwritable: papermill refused the run, said why.
        with contextlib.suppress(TypeError, ValueError):
            nbformat.write(nb, str(self.folder / OUTPUT))
        self.on_end(self.manifest)
        return self.manifest


# Unix socket paths are limited to 107 bytes (with the "-<port>" the kernel appends).
_MAX_SOCKET_PREFIX = 96


def _socket_prefix() -> str | None:
    """Where a run's kernel sockets go: Jupyter's runtime folder, else the temp folder when
    that path is too long for a socket; None when neither fits (or not on POSIX)."""
    if os.name != "posix":
        return None
    name = f"lepton-kernel-{uuid.uuid4().hex[:12]}-ipc"
    for folder in (jupyter_runtime_dir(), tempfile.gettempdir()):
        prefix = os.path.join(folder, name)
        if len(prefix) <= _MAX_SOCKET_PREFIX:
            os.makedirs(folder, exist_ok=True)
            return prefix
    return None


class LocalKernelManager(AsyncKernelManager):
    """A run's kernel on Unix sockets: no TCP port anyone on the machine could reach, so
    ipykernel has no plain-text warning to print into the run. TCP where sockets can't be."""

    def __init__(self, **kwargs: Any) -> None:
        prefix = _socket_prefix()
        if prefix is not None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", prefix)
        super().__init__(**kwargs)


class LeptonEngine(NBClientEngine):
    """papermill's nbclient engine plus a run manifest (see the module docstring).

    Extra keyword arguments understood (``papermill.execute_notebook(..., **kwargs)``):
    ``lepton_run_id`` (a folder already created by ``RunStore.create``), ``lepton_rerun_of``
    and ``lepton_pins`` (path of the pins file), all set by ``rerun()``, with ``lepton_on_end``
    (given the finished manifest to record); ``lepton_scheduled`` (a :class:`ScheduledJob`),
    set by the scheduler's execution manager.
    """

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        recorder = RunRecorder.begin(
            nb,
            kernel_name,
            run_id=kwargs.pop("lepton_run_id", None),
            rerun_of=kwargs.pop("lepton_rerun_of", None),
            pins_path=kwargs.pop("lepton_pins", None),
            scheduled=kwargs.pop("lepton_scheduled", None),
            on_end=kwargs.pop("lepton_on_end", None),
        )
        logger.info(f"Recording run {recorder.manifest.id} in {recorder.folder}")
        try:
            result = super().execute_notebook(
                nb,
                kernel_name,
                output_path=output_path,
                progress_bar=progress_bar,
                log_output=log_output,
                autosave_cell_every=autosave_cell_every,
                kernel_env=recorder.kernel_env(),
                **kwargs,
            )
        except BaseException as e:
            recorder.finish(nb, exception_outcome(e))
            raise
        # The output notebook names its run, so `lepton runs show` can start from either.
        result.metadata.setdefault("lepton", {})["run_id"] = recorder.manifest.id
        recorder.finish(result, notebook_outcome(result))
        return result

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        kernel_env: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run the cells like papermill's engine does, starting the kernel with ``kernel_env``."""
        kwargs.pop("input_path", None)
        kwargs.pop("startup_timeout", None)
        timeout = execution_timeout or kwargs.pop("timeout", None)
        client = PapermillNotebookClient(
            nb_man,
            kernel_name=kernel_name,
            timeout=timeout,
            startup_timeout=start_timeout,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **{"kernel_manager_class": LocalKernelManager, **kwargs},
        )
        # nbclient hands these keyword arguments to KernelManager.start_kernel.
        return client.execute(env=kernel_env) if kernel_env else client.execute()


def papermill_base_dir() -> str:
    """The directory papermill resolves local input and output paths against.

    ``papermill.execute_notebook`` sets it on its local I/O handler before it changes into
    ``cwd``; outside an execution (the engine called directly) it is this process's.
    """
    from papermill.iorw import papermill_io

    try:
        handler = papermill_io.get_handler("local")
    except Exception:  # papermill raises its own exception classes
        return os.getcwd()
    return str(getattr(handler, "_cwd", None) or os.getcwd())
