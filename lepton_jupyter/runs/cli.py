"""``lepton runs list|show|rerun|diff``: the runs service for terminals and batch."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..errors import Invalid
from .rerunner import parse_parameters
from .schema import Manifest
from .service import RunService


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=1, default=str))


def _line(m: Manifest) -> str:
    took = f"{m.duration:.1f}s" if m.duration is not None else "-"
    metrics = " ".join(
        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.metrics.items()
    )
    rerun = f" ({m.rerun_mode or 'apply'} rerun of {m.rerun_of})" if m.rerun_of else ""
    if m.scheduled:
        rerun += f" (scheduled job {m.scheduled.job_name or m.scheduled.job_id})"
    return f"{m.id}  {m.status:9}  {took:>7}  {_where(m)}{rerun}  {metrics}".rstrip()


def _where(m: Manifest) -> str:
    """The input as papermill named it; stdin and objects ran from the copy kept."""
    shown = {"stdin": "- (stdin)", "object": "(a NotebookNode)"}
    return shown.get(m.notebook.source, m.notebook.path)


def _list(args: argparse.Namespace) -> int:
    manifests = RunService.from_settings().list(notebook=args.notebook, limit=args.limit)
    if args.json:
        _print_json([m.model_dump(mode="json") for m in manifests])
    elif args.quiet:
        # Ids only, for shells: RUN=$(lepton runs list --quiet --limit 1)
        print("\n".join(m.id for m in manifests))
        return 0
    elif not manifests:
        print("No runs recorded yet; run a notebook with `papermill --engine lepton ...`.")
    for m in [] if args.json else manifests:
        print(_line(m))
    return 0


def _show(args: argparse.Namespace) -> int:
    m = RunService.from_settings().get(args.run_id)
    if args.json:
        _print_json(m.model_dump(mode="json"))
        return 0
    print(_line(m))
    git = f"{m.git.commit or '(no commit)'}{' dirty' if m.git.dirty else ''}" if m.git else "-"
    rows = [
        ("notebook", f"{_where(m)} ({m.notebook.digest[:19]})"),
        ("parameters", json.dumps(m.parameters, default=str)),
        ("git", git),
        ("python", m.python),
        ("packages", ", ".join(f"{k} {v}" for k, v in m.packages.items() if v)),
        ("started", m.started_at.isoformat()),
        ("exit", "" if m.exit_code is None else f"{m.exit_code} (papermill's exit status)"),
        ("error", m.error or ""),
    ]
    if m.scheduled:
        s = m.scheduled
        rows += [
            ("job", f"{s.job_id} {s.job_name}".rstrip()),
            ("definition", s.job_definition_id or ""),
            ("previous", s.previous_run or ""),
        ]
        rows += [
            ("check", f"{'passed' if c.passed else 'FAILED'} {c.check}: {c.message}")
            for c in s.checks
        ]
    rows += [
        (
            f"pin {e['kind']}",
            e["key"]
            + "  "
            + json.dumps(
                {k: v for k, v in e.items() if k not in ("kind", "key", "at")}, default=str
            ),
        )
        for e in m.pin_entries()
    ]
    for name, value in rows:
        if value:
            print(f"  {name:12} {value}")
    return 0


def _rerun(args: argparse.Namespace) -> int:
    service = RunService.from_settings()
    parameters = parse_parameters(args.parameter, args.parameters_json)
    manifest = service.rerun(
        args.run_id,
        parameters,
        from_copy=args.from_copy,
        apply=args.apply,
        output_path=args.output,
        into=args.into,
        log_output=args.log_output,
    )
    result = service.saved_diff(manifest.id)
    if args.json:
        _print_json(
            {"run": manifest.model_dump(mode="json"), "diff": result.model_dump(mode="json")}
        )
    else:
        print(f"rerun {manifest.id} of {args.run_id} ({manifest.rerun_mode}): {manifest.status}")
        print(result.summary())
    return 1 if args.check and not result.identical else 0


def _diff(args: argparse.Namespace) -> int:
    result = RunService.from_settings().diff(
        args.run_id, args.against, abs_tol=args.abs_tol, rel_tol=args.rel_tol
    )
    if args.json:
        _print_json(result.model_dump(mode="json"))
    else:
        print(result.summary())
    return 1 if args.check and not result.identical else 0


def add_parser(subparsers: Any) -> None:
    runs = subparsers.add_parser("runs", help="Recorded notebook runs: list, show, rerun, diff.")
    sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="Recorded runs, newest first.")
    p.add_argument("--notebook", help="Only runs of this notebook.")
    p.add_argument("--limit", type=int, default=50, help="At most this many runs (default 50).")
    p.add_argument("--json", action="store_true", help="Print manifests as JSON.")
    p.add_argument("-q", "--quiet", action="store_true", help="Print only the run ids.")
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="One run's manifest.")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true", help="Print the manifest as JSON.")
    p.set_defaults(func=_show)

    p = sub.add_parser("rerun", help="Execute a run again under its recorded pins.")
    p.add_argument("run_id")
    p.add_argument(
        "-p",
        "--parameter",
        action="append",
        metavar="NAME=VALUE",
        help="Override a recorded parameter (value read as JSON if it parses).",
    )
    p.add_argument("--parameters-json", metavar="JSON", help="Overrides as a JSON object.")
    p.add_argument(
        "--from-copy",
        action="store_true",
        help="Run the copy of the notebook recorded with the run.",
    )
    p.add_argument(
        "--apply",
        action="store_true",
        help="Publish, move aliases and grant for real (default: a dry run that records "
        "what it would have done and changes nothing shared).",
    )
    p.add_argument("--output", help="Also write the executed notebook here.")
    p.add_argument("--into", help=argparse.SUPPRESS)  # a run folder made by start_rerun
    p.add_argument("-v", "--log-output", action="store_true", help="Stream notebook output.")
    p.add_argument("--check", action="store_true", help="Exit 1 unless the rerun is identical.")
    p.add_argument("--json", action="store_true", help="Print the new manifest and diff as JSON.")
    p.set_defaults(func=_rerun)

    p = sub.add_parser("diff", help="What changed between two runs.")
    p.add_argument("run_id")
    p.add_argument("against", nargs="?", help="The run to compare with (default: the original).")
    p.add_argument("--abs-tol", type=float, default=0.0, help="Absolute tolerance for metrics.")
    p.add_argument("--rel-tol", type=float, default=0.0, help="Relative tolerance for metrics.")
    p.add_argument("--check", action="store_true", help="Exit 1 unless the runs are identical.")
    p.add_argument("--json", action="store_true", help="Print the diff as JSON.")
    p.set_defaults(func=_diff)


def magic_runs(args: list[str], cell: str | None, shell: Any) -> Any:
    """``%lepton runs list|show|rerun|diff ...`` (as the CLI) and ``%lepton runs record``.

    Returns objects rather than printing: runs, a Run, or a RunDiff (shown as a table).
    """
    from . import api
    from .interactive import record_run

    if args[:1] == ["record"]:
        return record_run(notebook=args[1] if len(args) > 1 else None)
    parser = argparse.ArgumentParser(prog="%lepton", add_help=False)
    add_parser(parser.add_subparsers(dest="command", required=True))
    try:
        ns = parser.parse_args(["runs", *args])
    except SystemExit:
        raise Invalid(
            "Usage: %lepton runs list [--notebook NB] | show RUN | rerun RUN [-p NAME=VALUE] "
            "[--from-copy] [--apply] | diff RUN [AGAINST] [--abs-tol X] [--rel-tol X] | record [NB]"
        ) from None
    if ns.runs_command == "list":
        return api.list_runs(notebook=ns.notebook, limit=ns.limit)
    if ns.runs_command == "show":
        return api.get_run(ns.run_id)
    if ns.runs_command == "rerun":
        parameters = parse_parameters(ns.parameter, ns.parameters_json)
        return api.rerun(
            ns.run_id, parameters, from_copy=ns.from_copy, apply=ns.apply, output_path=ns.output
        )
    return api.diff_runs(ns.run_id, ns.against, abs_tol=ns.abs_tol, rel_tol=ns.rel_tol)
