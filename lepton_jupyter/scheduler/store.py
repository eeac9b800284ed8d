"""Checks per job definition: one JSON file each under ``<state_dir>/scheduler/checks``.

jupyter-scheduler's definitions have no field for them, and its database is its own, so
they sit beside the runs they judge. Files are replaced atomically; the definition id is
checked before it names a file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import Invalid
from ..settings import Settings, load_settings
from .schema import DefinitionChecks

DEFINITION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


def check_definition_id(definition_id: str) -> str:
    if not isinstance(definition_id, str) or not DEFINITION_ID.match(definition_id):
        raise Invalid(
            f"{definition_id!r:.80} is not a job definition id (letters, digits, '-' and '_', "
            "as jupyter-scheduler makes them)."
        )
    return definition_id


class CheckStore:
    """The checks of each job definition, as JSON files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> CheckStore:
        return cls((settings or load_settings()).state_dir / "scheduler" / "checks")

    def _path(self, definition_id: str) -> Path:
        return self.root / f"{check_definition_id(definition_id)}.json"

    def get(self, definition_id: str) -> DefinitionChecks:
        """The definition's checks; none when nothing was set."""
        path = self._path(definition_id)
        if not path.is_file():
            return DefinitionChecks(job_definition_id=definition_id)
        return DefinitionChecks.model_validate_json(path.read_text(encoding="utf-8"))

    def put(self, checks: DefinitionChecks) -> DefinitionChecks:
        path = self._path(checks.job_definition_id)
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".checks-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(checks.model_dump_json(indent=1))
        os.replace(tmp, path)
        return checks
