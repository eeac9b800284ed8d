"""``lepton jobs list|show|logs|cancel`` and the ``%%lepton launch`` cell magic."""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
from pathlib import Path
from typing import Any

from ..errors import Invalid
from ..settings import load_settings
from .schema import JobInfo, JobStatus
from .service import JobService


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="List, inspect and cancel distributed jobs.")
    verbs = jobs.add_subparsers(dest="jobs_command", metavar="VERB", required=True)

    listing = verbs.add_parser("list", help="Jobs, newest first.")
    listing.add_argument("--status", choices=[s.value for s in JobStatus])
    listing.set_defaults(func=_list)

    show = verbs.add_parser("show", help="One job's status, exit codes and error.")
    show.add_argument("job_id")
    show.set_defaults(func=_show)

    logs = verbs.add_parser("logs", help="A job's per-rank output.")
    logs.add_argument("job_id")
    logs.add_argument("--rank", type=int, help="Only this global rank (default: all).")
    logs.add_argument("--tail", type=int, help="Only the last N lines of each log.")
    logs.set_defaults(func=_logs)

    cancel = verbs.add_parser("cancel", help="Stop every rank of a job.")
    cancel.add_argument("job_id")
    cancel.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="Seconds to let ranks stop before they are killed.",
    )
    cancel.set_defaults(func=_cancel)
    for parser in (listing, show, logs, cancel):
        parser.add_argument("--json", action="store_true", help="Print JSON.")


def _manager() -> JobService:
    return JobService(load_settings())


def _list(args: argparse.Namespace) -> int:
    status = JobStatus(args.status) if args.status else None
    jobs = _manager().list(status)
    if args.json:
        return _print_json([j.model_dump(mode="json") for j in jobs])
    rows = [
        (
            j.id,
            j.name,
            j.status.value,
            str(j.nprocs * j.nnodes),
            f"{j.created_at:%Y-%m-%d %H:%M:%S}",
        )
        for j in jobs
    ]
    header = ("ID", "NAME", "STATUS", "RANKS", "CREATED (UTC)")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _describe(job: JobInfo) -> str:
    lines = [
        f"id:          {job.id}",
        f"name:        {job.name}",
        f"status:      {job.status.value}",
        f"detail:      {job.detail or '-'}",
        f"target:      {job.kind} {job.target}",
        f"ranks:       {job.nprocs} x {job.nnodes} node(s), backend {job.backend}",
        f"created:     {job.created_at}",
        f"started:     {job.started_at or '-'}",
        f"ended:       {job.ended_at or '-'}",
        f"exit codes:  {job.exit_codes or '-'}",
        f"folder:      {job.job_dir}",
    ]
    if job.error:
        lines.append(f"error:\n{job.error}")
    return "\n".join(lines)


def _print_json(payload: Any) -> int:
    print(json.dumps(payload, indent=1, default=str))
    return 0


def _show(args: argparse.Namespace) -> int:
    job = _manager().get(args.job_id)
    if args.json:
        return _print_json(job.model_dump(mode="json"))
    print(_describe(job))
    return 0


def _logs(args: argparse.Namespace) -> int:
    text = _manager().logs(args.job_id, args.rank, args.tail)
    if args.json:
        return _print_json({"job": args.job_id, "rank": args.rank, "logs": text})
    print(text, end="")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    job = _manager().cancel(args.job_id, args.grace)
    if args.json:
        return _print_json(job.model_dump(mode="json"))
    print(f"{job.id}: {job.status.value}")
    return 0


def magic_launch(line_args: list[str], cell: str | None, shell: Any) -> Any:
    """``%%lepton launch --nprocs 2``: run the cell body as the script of every rank.

    The body runs in fresh interpreters with the process group ready (``dist.get_rank()``
    works; a call to ``init_process_group`` is skipped): it imports what it uses, and
    notebook variables are not visible there.
    """
    from .api import launch

    parser = argparse.ArgumentParser(prog="%%lepton launch", add_help=False)
    parser.add_argument("--nprocs", type=int, default=1)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--name", default="cell")
    parser.add_argument("--max-restarts", type=int, default=0)
    parser.add_argument("--gpus", type=int, default=None)
    try:
        options, script_args = parser.parse_known_args(line_args)
    except SystemExit as e:  # argparse exits on bad input; a magic must raise instead
        raise Invalid(
            f"Usage: %%lepton launch [--nprocs N] [--nnodes N] [--backend NAME] "
            f"[--name NAME] [--max-restarts N] [--gpus N] [ARGS...]; got "
            f"{shlex.join(line_args)!r}."
        ) from e
    if not cell or not cell.strip():
        raise Invalid("%%lepton launch needs a cell body: the code every rank runs.")
    with tempfile.TemporaryDirectory(prefix="lepton-cell-") as tmp:
        script = Path(tmp) / f"{options.name}.py"
        script.write_text(cell)
        # launch() copies the script into the job folder before this folder goes.
        return launch(
            str(script),
            *script_args,
            nprocs=options.nprocs,
            nnodes=options.nnodes,
            backend=options.backend,
            name=options.name,
            max_restarts=options.max_restarts,
            gpus=options.gpus,
            init_process_group=True,
        )
