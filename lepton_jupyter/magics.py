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
            raise Invalid("Usage: %lepton SUBCOMMAND [ARGS]; try %lepton status.")
        return _resolve(words[0])(words[1:], cell, self.shell)


def register(ipython: Any) -> None:
    ipython.register_magics(LeptonMagics)
