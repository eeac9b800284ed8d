"""``lepton compare run|runs|show|list|rerun``: comparisons for terminals and batch."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..runs.rerunner import parse_parameters


def _print(results: Any, as_json: bool) -> None:
    from .render import comparison_text

    items = results if isinstance(results, list) else [results]
    if as_json:
        payload = [r.record.model_dump(mode="json") for r in items]
        print(json.dumps(payload if isinstance(results, list) else payload[0], indent=1))
        return
    if not items:
        print("No comparisons recorded; `lepton compare run A B --evaluation NB --metric M`.")
    print("\n\n".join(comparison_text(r.record) for r in items))


def _run(args: argparse.Namespace) -> Any:
    from .api import compare

    return compare(
        args.candidates,
        args.evaluation,
        metric=args.metric,
        parameter=args.parameter,
        parameters=parse_parameters(args.parameters),
        higher_is_better=not args.lower_is_better,
        confidence=args.confidence,
        cwd=args.cwd,
    )


def _runs(args: argparse.Namespace) -> Any:
    from .api import compare_runs

    return compare_runs(
        args.runs,
        metric=args.metric,
        parameter=args.parameter,
        higher_is_better=not args.lower_is_better,
        confidence=args.confidence,
    )


def _show(args: argparse.Namespace) -> Any:
    from .api import get_comparison

    return get_comparison(args.id)


def _list(args: argparse.Namespace) -> Any:
    from .api import comparisons

    return comparisons(args.ref, name=args.name, limit=args.limit)


def _rerun(args: argparse.Namespace) -> Any:
    from .api import rerun_comparison

    result = rerun_comparison(args.id)
    original = _show(args)
    same = "reproduced" if result.same_result(original) else "DID NOT reproduce"
    print(f"Comparison {result.id} reruns comparison {args.id}: {same}.")
    return result


def _statistics_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", required=True, help="the per-example metric the runs logged")
    p.add_argument(
        "--parameter", default="candidate", help="the notebook parameter naming the candidate"
    )
    p.add_argument("--lower-is-better", action="store_true", help="for losses and error rates")
    p.add_argument("--confidence", type=float, default=0.95, help="of the intervals (0.95)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="A/B compare model versions on one pinned evaluation set",
        description="Compare model versions: each evaluation a recorded run on the same data "
        "commit; paired bootstrap intervals decide a winner. Comparisons are recorded in the "
        "registry, where promotion gates look for them.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p = verbs.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(func=lambda a: _print(func(a), a.json))
        return p

    p = verb("run", "evaluate candidates with a notebook and compare them", _run)
    p.add_argument("candidates", nargs="+", help="ns/model@alias or ns/model:N (two or more)")
    p.add_argument("--evaluation", required=True, help="the evaluation notebook")
    p.add_argument(
        "-p", dest="parameters", action="append", metavar="NAME=VALUE", help="other parameters"
    )
    p.add_argument("--cwd", help="folder the evaluations run in (default: the current one)")
    _statistics_options(p)
    p = verb("runs", "compare evaluation runs that already exist", _runs)
    p.add_argument("runs", nargs="+", help="run ids (lepton runs list)")
    _statistics_options(p)
    p = verb("show", "one comparison", _show)
    p.add_argument("id", type=int)
    p = verb("list", "comparisons of a version or a model", _list)
    p.add_argument("ref", nargs="?", help="a version: ns/model:N")
    p.add_argument("--name", help="every comparison of this model")
    p.add_argument("--limit", type=int, default=20)
    p = verb("rerun", "rerun a comparison's evaluations exactly and compare again", _rerun)
    p.add_argument("id", type=int)
