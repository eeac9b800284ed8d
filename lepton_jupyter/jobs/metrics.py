"""``report()``: metrics from inside a training function, as JSON lines in the job folder.

Imported in every rank, so it stays light: no torch, pydantic or SQLAlchemy.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .folder import JOB_DIR_ENV, JobFolder, append_line


def report(step: int | None = None, *, all_ranks: bool = False, **metrics: Any) -> bool:
    """Record ``step`` and ``metrics`` (``loss=...``) for the job monitor and ``Job.metrics()``.

    Only rank 0 records unless ``all_ranks=True`` (ranks usually hold the same reduced
    value; per-rank values are for debugging imbalance). Each line carries rank, step and a
    wall-clock time. Outside a job (calling the function directly in the notebook to try
    it) nothing is recorded and False is returned, so the same code runs in both places.
    """
    job_dir = os.environ.get(JOB_DIR_ENV)
    if not job_dir:
        return False
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0 and not all_ranks:
        return False
    record = {"rank": rank, "step": step, "time": time.time(), **metrics}
    for key, value in metrics.items():
        # A 0-d tensor or numpy scalar becomes a plain number.
        if hasattr(value, "item"):
            record[key] = value.item()
    append_line(JobFolder(job_dir).metrics, record)
    return True
