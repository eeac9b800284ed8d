"""The ``lepton`` command: the public API's verbs for terminals and batch jobs.

Each subsystem contributes its subcommands through ``add_parser(subparsers)`` in its own
``cli`` module; this module only assembles them and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import LeptonError

# Modules that define ``add_parser(subparsers)``; each sets ``func`` on its parsers.
SUBCOMMAND_MODULES = [
    "lepton_jupyter.demo",
    "lepton_jupyter.datasets.cli",
    "lepton_jupyter.jobs.cli",
    "lepton_jupyter.runs.cli",
    "lepton_jupyter.registry.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lepton",
        description="Pinned datasets, distributed jobs, a model registry and exact reruns.",
    )
    parser.add_argument("--version", action="version", version=f"lepton {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LeptonError as e:
        print(f"lepton: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lepton: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
