"""``%lepton`` / ``%%lepton``: thin IPython magics over the public API.

``%lepton SUBCOMMAND ...``; each subsystem registers its subcommands in ``SUBCOMMANDS``
as a function ``(line_args: list[str], cell: str | None, shell) -> object``.
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from .errors import Invalid

# subcommand -> "module:function"
SUBCOMMANDS: dict[str, str] = {
    "status": "lepton_jupyter.magics:status",
    "launch": "lepton_jupyter.jobs.cli:magic_launch",
    "attach": "lepton_jupyter.datasets.cli:magic_attach",
    "registry": "lepton_jupyter.registry.cli:magic_registry",
    "runs": "lepton_jupyter.runs.cli:magic_runs",
}


def status(args: list[str], cell: str | None, shell: Any) -> dict[str, Any]:
    """``%lepton status``: where this kernel keeps state and which services it reaches."""
    from .settings import load_settings

    return load_settings().model_dump(mode="json")


HELP_FLAGS = ("-h", "--help", "help")
# Subcommands whose arguments are the ``lepton`` CLI's: their help is that parser's.
CLI_EQUIVALENT = {"runs": "runs", "registry": "registry"}


def usage() -> str:
    """``%lepton --help``: each subcommand with the first line of what it does."""
    lines = ["Usage: %lepton SUBCOMMAND [ARGS]  (%lepton SUBCOMMAND --help for its arguments)"]
    for name in sorted(SUBCOMMANDS):
        doc = _doc(name).splitlines()
        lines.append(f"  {name:10} {doc[0] if doc else ''}")
    return "\n".join(lines)


def _doc(name: str) -> str:
    return (_resolve(name).__doc__ or "").strip().replace("``", "")


def subcommand_help(name: str, actions: list[str] | None = None) -> str:
    """``%lepton NAME [ACTION] --help``: what it does, and its arguments where it shares the
    CLI's (``%lepton runs rerun --help`` is ``lepton runs rerun --help``)."""
    import argparse

    text = _doc(name)
    if name in CLI_EQUIVALENT:
        from .cli import SUBCOMMAND_MODULES, uppercase_metavars

        parser = argparse.ArgumentParser(prog="%lepton", add_help=False)
        module = SUBCOMMAND_MODULES[CLI_EQUIVALENT[name]]
        importlib.import_module(module).add_parser(parser.add_subparsers())
        uppercase_metavars(parser)
        for word in [CLI_EQUIVALENT[name], *(actions or [])]:
            choices = next(
                (a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                {},
            )
            if word not in choices:
                raise Invalid(f"%lepton {name} has no {word!r}; known: {', '.join(choices)}.")
            parser = choices[word]
        text += "\n\n" + parser.format_help()
    return text


def _resolve(name: str) -> Callable[..., Any]:
    target = SUBCOMMANDS.get(name)
    if target is None:
        known = ", ".join(sorted(SUBCOMMANDS))
        raise Invalid(f"Unknown %lepton subcommand {name!r}; known: {known}.")
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


@magics_class
class LeptonMagics(Magics):
    @line_cell_magic
    def lepton(self, line: str, cell: str | None = None) -> Any:
        words = shlex.split(line)
        if not words:
            raise Invalid("Usage: %lepton SUBCOMMAND [ARGS]; try %lepton --help.")
        if words[0] in HELP_FLAGS:
            print(usage())
            return None
        if words[-1] in HELP_FLAGS[:2]:
            print(subcommand_help(words[0], words[1:-1]))
            return None
        return _resolve(words[0])(words[1:], cell, self.shell)


def register(ipython: Any) -> None:
    ipython.register_magics(LeptonMagics)
