"""How a papermill run ended, decided the way papermill decides it: plain functions.

The engine returns the executed notebook to ``papermill.execute_notebook``, which only then
judges it (``raise_for_execution_errors``: error outputs, the papermill exception flag of a
cell, ``sys.exit()``/``sys.exit(0)`` as success, a ``raises-exception`` error still counted)
and writes it (parameters JSON cannot hold are refused there). :func:`notebook_outcome` asks
papermill's own judge on a copy, so the manifest says what papermill says; the engine only
sequences these functions.

One cell numbering everywhere: a cell is shown as papermill shows it, ``In [N]`` with N its
execution count in the executed notebook (the injected parameters cell counts, as it ran).
"""

from __future__ import annotations

import copy
import json
import traceback
from typing import Any, Literal

from pydantic import BaseModel, Field

# The exit status of the `papermill` command for each outcome.
EXIT_OK = 0
EXIT_FAILED = 1


class RunFailure(BaseModel):
    """Why papermill failed a run: the exception it raised, and the cell when there is one."""

    ename: str = Field(description="Exception type, as papermill reports it.")
    evalue: str = Field(default="", description="Exception message.")
    cell_index: int | None = Field(
        default=None,
        description="Position of the failed cell in the executed notebook (papermill's "
        "cell_index: the injected parameters cell counts); None outside a cell.",
    )
    exec_count: int | None = Field(
        default=None, description="Execution count of the failed cell ('In [N]')."
    )

    def text(self) -> str:
        """'In [4]: ValueError: boom': the one-line form the CLI, panel and REST show."""
        error = f"{self.ename}: {self.evalue}" if self.evalue else self.ename
        return f"{cell_label(self.exec_count)}: {error}" if self.cell_index is not None else error


class Outcome(BaseModel):
    """Status, failure and the papermill command's exit status for one run."""

    status: Literal["completed", "failed"]
    failure: RunFailure | None = None
    exit_code: int


def cell_label(exec_count: int | None) -> str:
    """A cell as papermill and Jupyter show it: 'In [4]', or 'In [ ]' if it never ran."""
    return f"In [{exec_count if exec_count is not None else ' '}]"


def failed(failure: RunFailure) -> Outcome:
    return Outcome(status="failed", failure=failure, exit_code=EXIT_FAILED)


COMPLETED = Outcome(status="completed", exit_code=EXIT_OK)


def exception_outcome(error: BaseException) -> Outcome:
    """The outcome of a run papermill aborted with ``error`` (raised through the engine)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return failed(
            RunFailure(
                ename=error.ename,
                evalue=str(error.evalue),
                cell_index=error.cell_index,
                exec_count=error.exec_count,
            )
        )
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    ename, _, evalue = text.partition(": ")
    return failed(RunFailure(ename=ename.rsplit(".", 1)[-1], evalue=evalue))


def notebook_outcome(nb: Any) -> Outcome:
    """What ``papermill.execute_notebook`` will make of the notebook its engine returned.

    Papermill's own ``raise_for_execution_errors`` judges a shallow copy (it inserts marker
    cells when it fails one), then the check papermill's final write makes: the notebook's
    metadata (where papermill keeps the parameters) must be JSON.
    """
    from papermill.exceptions import PapermillExecutionError
    from papermill.execute import raise_for_execution_errors

    judged = copy.copy(nb)
    judged.cells = list(nb.cells)
    try:
        raise_for_execution_errors(judged, None)
        json.dumps(nb.get("metadata", {}), sort_keys=True)
    except PapermillExecutionError as e:
        return exception_outcome(e)
    except (TypeError, ValueError) as e:
        return exception_outcome(e)
    return COMPLETED
