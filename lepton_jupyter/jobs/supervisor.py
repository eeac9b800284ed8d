"""The detached supervisor: ``python -m lepton_jupyter.jobs.supervisor <job_dir>``.

Started by ``launch()`` in a session of its own, with no terminal and its output in the
job folder, so neither a kernel restart nor a kernel crash reaches it. It hands the job
to its backend's fixed lifecycle and exits when the job has ended.
"""

from __future__ import annotations

import sys
import traceback

from .backends import backend_class
from .folder import JobFolder
from .spec import JobSpec, JobStatus
from .store import JobStore


def main(job_dir: str) -> int:
    folder = JobFolder(job_dir)
    spec = JobSpec.model_validate(folder.read_spec())
    store = JobStore(spec.store_url)
    try:
        status = backend_class(spec.backend)(store).process(spec, folder)
    except BaseException:
        # The lifecycle records every failure of the ranks; this is the supervisor's own.
        store.finish(
            spec.id, JobStatus.failed, error=f"The job supervisor failed:\n{traceback.format_exc()}"
        )
        raise
    return 0 if status is JobStatus.succeeded else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
