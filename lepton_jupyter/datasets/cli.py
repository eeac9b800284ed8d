"""``lepton datasets ...`` and ``%lepton attach``: thin layers over the public datasets API."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import Invalid
from . import api


def _print_json(payload: Any) -> None:
    if isinstance(payload, list):
        print(json.dumps([p.model_dump(mode="json") for p in payload], indent=2))
    else:
        print(payload.model_dump_json(indent=2))


def _browse(args: argparse.Namespace) -> int:
    listing = api.browse(args.url, args.rev)
    if args.json:
        _print_json(listing)
        return 0
    print(f"{listing.url} @ {listing.rev or 'default branch'} ({listing.commit[:10]})")
    for d in listing.datasets:
        size = api.human_bytes(d.size or 0)
        print(f"  {d.path:<32} {d.files or 0:>8} files {size:>10}  {d.description or ''}")
    print("versions:")
    for v in listing.versions:
        print(f"  {v.kind:<6} {v.name:<20} {v.commit[:10]}  {v.date:%Y-%m-%d %H:%M}")
    return 0


def _show(dataset: Any, verb: str) -> None:
    print(
        f"{verb} {dataset.path} @ {dataset.rev or 'default branch'} ({dataset.commit[:10]}) "
        f"-> {dataset.to}: {dataset.files} files, {api.human_bytes(dataset.bytes)}"
        + (f", {dataset.link_type}" if dataset.link_type else "")
    )


def _attach(args: argparse.Namespace) -> int:
    result = api.attach(args.url, args.path, rev=args.rev, to=args.to, progress=not args.json)
    _print_json(result) if args.json else _show(result, "attached")
    return 0


def _list(args: argparse.Namespace) -> int:
    items = api.attached()
    if args.json:
        _print_json(items)
        return 0
    for d in items:
        newer = f"  (newer tag upstream: {d.newer_tag})" if d.newer_tag else ""
        print(f"{d.to:<24} {d.path} @ {d.rev or '-'} ({d.commit[:10]}) from {d.url}{newer}")
    return 0


def _update(args: argparse.Namespace) -> int:
    result = api.update(args.to, rev=args.rev, progress=not args.json)
    _print_json(result) if args.json else _show(result, "updated")
    return 0


def _detach(args: argparse.Namespace) -> int:
    result = api.detach(args.to)
    _print_json(result) if args.json else print(f"detached {result.to}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    report = api.verify(fix_permissions=args.fix_permissions)
    if args.json:
        _print_json(report)
    else:
        print(f"{report.checked} objects checked in {report.cache_dir}")
        if args.fix_permissions:
            print(f"{report.fixed} folders and objects given the shared cache's modes")
        for bad in report.corrupted:
            print(
                f"CORRUPT {bad.path} (owner {bad.owner}): content hashes to {bad.actual}",
                file=sys.stderr,
            )
        for wrong in report.permissions:
            print(
                f"PERMISSIONS {wrong.path} (owner {wrong.owner}): {wrong.problem}", file=sys.stderr
            )
        if report.permissions and not args.fix_permissions:
            print(
                "Fix with `lepton datasets verify --fix-permissions` (as root, or as the owner).",
                file=sys.stderr,
            )
    return 1 if report.corrupted or report.permissions else 0


def _prune_mirrors(args: argparse.Namespace) -> int:
    pruned = api.prune_mirrors(max_age_days=args.older_than)
    if args.json:
        _print_json(pruned)
        return 0
    for mirror in pruned:
        size = api.human_bytes(mirror.bytes)
        print(f"removed {mirror.path} ({size}, last used {mirror.last_used:%Y-%m-%d %H:%M} UTC)")
    print(f"{len(pruned)} mirror(s) removed")
    return 0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "datasets", help="Browse a DVC data registry; attach pinned datasets into this folder."
    )
    add_actions(parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True))


def add_actions(sub: Any) -> None:
    """browse, attach, list, update, detach, verify, prune-mirrors under ``sub``."""

    def action(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--json", action="store_true", help="Print JSON instead of text.")
        p.set_defaults(func=func)
        return p

    p = action("browse", _browse, "List a registry's datasets and versions.")
    p.add_argument("url", help="Data registry: git URL or local path.")
    p.add_argument("--rev", help="Tag, branch or commit (default: the default branch).")

    p = action("attach", _attach, "Attach a dataset as a pinned DVC import.")
    p.add_argument("url", help="Data registry: git URL or local path.")
    p.add_argument("path", help="Dataset path inside the registry.")
    p.add_argument("--rev", help="Tag, branch or commit (default: the default branch).")
    p.add_argument("--to", help="Destination folder in this workspace (default: basename).")

    action("list", _list, "List attached datasets; flag newer upstream tags.")

    p = action("update", _update, "Move an attached dataset to another revision.")
    p.add_argument("to", help="Attached folder.")
    p.add_argument("--rev", help="New revision (default: re-resolve the current one).")

    p = action("detach", _detach, "Remove an attached dataset and its .dvc file.")
    p.add_argument("to", help="Attached folder.")

    p = action(
        "verify",
        _verify,
        "Rehash the shared cache and check its permissions; exit 1 if an object is corrupted "
        "or a member could change what others read.",
    )
    p.add_argument(
        "--fix-permissions",
        action="store_true",
        help="Make folders 3775 (setgid, sticky) and objects 0444 in the cache's group, where "
        "you own them (as root: everywhere, folders owned by root). Run it as root once on a "
        "new shared cache, and on one made by plain DVC.",
    )

    p = action(
        "prune-mirrors",
        _prune_mirrors,
        "Remove the shared cache's git mirrors of remote registries that no attach used "
        "for a while (one in use is left; the next attach from it mirrors it again).",
    )
    p.add_argument(
        "--older-than",
        type=float,
        metavar="DAYS",
        help="Unused for more than DAYS (default: the data_mirror_max_age_days setting).",
    )


def _magic_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%lepton attach", add_help=False, exit_on_error=False)
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("--rev")
    parser.add_argument("--to")
    return parser


def magic_attach(args: list[str], cell: str | None, shell: Any) -> Any:
    """``%lepton attach URL PATH [--rev R] [--to DEST]`` (URL may be ``$variable``)."""
    try:
        ns, extra = _magic_parser().parse_known_args(args)
    except (argparse.ArgumentError, SystemExit) as e:
        raise Invalid(f"Usage: %lepton attach URL PATH [--rev R] [--to DEST] ({e})") from None
    if extra:
        raise Invalid(
            f"Unexpected arguments {extra}; usage: %lepton attach URL PATH [--rev R] [--to DEST]."
        )
    return api.attach(ns.url, ns.path, rev=ns.rev, to=ns.to)


def main(argv: list[str] | None = None) -> int:
    """``python -m lepton_jupyter.datasets ACTION``: the same actions as ``lepton datasets``,
    without importing the other subsystems' commands (a faster start for batch scripts)."""
    parser = argparse.ArgumentParser(
        prog="python -m lepton_jupyter.datasets",
        description="Browse a DVC data registry; attach pinned datasets into this folder.",
    )
    add_actions(parser.add_subparsers(dest="datasets_command", metavar="ACTION", required=True))
    from ..cli import run_command

    return run_command(parser.parse_args(argv))
