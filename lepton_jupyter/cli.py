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

# Top-level command -> module that defines ``add_parser(subparsers)`` (each sets ``func``).
SUBCOMMAND_MODULES = {
    "demo": "lepton_jupyter.demo.world",
    "datasets": "lepton_jupyter.datasets.cli",
    "jobs": "lepton_jupyter.jobs.cli",
    "runs": "lepton_jupyter.runs.cli",
    "scheduler": "lepton_jupyter.scheduler.cli",
    "registry": "lepton_jupyter.registry.cli",
    "compare": "lepton_jupyter.compare.cli",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; given the command being run, only that subsystem's CLI is imported.

    Each subsystem pulls in heavy libraries (DVC, SQLAlchemy, nbformat); a command should
    pay only for its own.
    """
    parser = argparse.ArgumentParser(
        prog="lepton",
        description="Pinned datasets, distributed jobs, a model registry and exact reruns.",
    )
    parser.add_argument("--version", action="version", version=f"lepton {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    names = [command] if command in SUBCOMMAND_MODULES else list(SUBCOMMAND_MODULES)
    for name in names:
        importlib.import_module(SUBCOMMAND_MODULES[name]).add_parser(subparsers)
    return uppercase_metavars(parser)


def uppercase_metavars(
    parser: argparse.ArgumentParser, top: bool = True
) -> argparse.ArgumentParser:
    """Every argument's placeholder in capitals (``RUN_ID``, ``--output OUTPUT``) and every
    subcommand's verbs called ACTION, so help reads the same in every subsystem."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if not top:
                action.metavar = "ACTION"
            for sub in {id(p): p for p in action.choices.values()}.values():
                uppercase_metavars(sub, top=False)
        elif not action.option_strings and action.metavar is None and action.dest:
            action.metavar = action.dest.upper()
    return parser


def _skip_slow_optional_imports() -> None:
    """Keep jsonschema from importing the optional ``rfc3987_syntax`` in this process.

    When that package is installed, jsonschema compiles some forty IRI grammars with lark
    as nbformat imports it: about 2 s of every ``lepton`` command that reads a notebook.
    Notebook schemas never check the IRI format, so the CLI runs without it (a module set
    to None in ``sys.modules`` makes its import fail, and jsonschema skips those checks).
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    _skip_slow_optional_imports()
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    return run_command(build_parser(command).parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed command: a domain error is one line on stderr and exit code 2."""
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
