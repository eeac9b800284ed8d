"""Where lepton keeps its state, shared by the server extension, kernels, jobs and the CLI.

The server extension is configured with traitlets (``c.LeptonApp...``); kernels, job ranks
and batch runs read the same settings from ``LEPTON_*`` environment variables, which the
server extension exports before it starts any kernel. A folder can carry its own settings
in a ``lepton.json`` (``lepton demo`` writes one): the server, kernels and the CLI started
in that folder or below find it, so ``jupyter lab`` there needs no variable. With nothing
set, everything lives under the Jupyter data dir, so a laptop needs no configuration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from pydantic import BaseModel, Field, ValidationError

from .errors import Invalid

ENV_PREFIX = "LEPTON_"
WORKSPACE_FILE = "lepton.json"
# Settings naming a folder: relative values in a workspace file are relative to that file.
_PATH_SETTINGS = ("state_dir", "data_cache", "jobs_dir")


class Settings(BaseModel):
    """Resolved locations and endpoints; see the README's configuration table."""

    state_dir: Path = Field(description="Folder holding the job store, local registry and runs.")
    data_cache: Path = Field(description="Shared DVC cache that attached datasets link from.")
    cache_link_types: list[str] = Field(default_factory=lambda: ["reflink", "hardlink", "symlink"])
    data_registries: list[str] = Field(default_factory=list)
    registry_url: str = Field(default="", description="Registry service URL; '' = direct store.")
    registry_token: str = Field(default="", description="Token for a remote registry service.")
    registry_db_url: str = Field(default="", description="SQLAlchemy URL of the registry store.")
    registry_storage_url: str = Field(default="", description="fsspec URL of registry blobs.")
    protected_aliases: list[str] = Field(default_factory=lambda: ["prod"])
    max_json_body_bytes: int = Field(
        default=4 << 20, gt=0, description="Largest JSON request body a REST route reads."
    )
    promotion_gates: dict[str, Any] = Field(
        default_factory=dict, description="Alias -> what moving it needs (a comparison)."
    )
    jobs_dir: Path | None = None
    slurm_defaults: dict[str, Any] = Field(
        default_factory=dict, description="Default sbatch options of Slurm jobs (partition...)."
    )
    job_pool: bool = Field(
        default=True, description="Start local jobs from a warm pool (torch imported)."
    )
    job_pool_preload: list[str] = Field(
        default_factory=list, description="Modules the warm pool imports besides torch."
    )

    @property
    def jobs_path(self) -> Path:
        return self.jobs_dir or self.state_dir / "jobs"

    @property
    def registry_db(self) -> str:
        return self.registry_db_url or f"sqlite:///{self.state_dir / 'registry.db'}"

    @property
    def registry_storage(self) -> str:
        return self.registry_storage_url or str(self.state_dir / "blobs")

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process (kernel, rank) resolve these settings."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, list):
                value = ",".join(value)
            elif isinstance(value, dict):
                value = json.dumps(value)
            env[ENV_PREFIX + name.upper()] = str(value)
        return env


def _from_env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper())


def find_workspace_file(start: Path | None = None) -> Path | None:
    """The nearest ``lepton.json`` in ``start`` (default: the working folder) or above it."""
    folder = Path(start or os.getcwd()).absolute()
    for candidate in (folder, *folder.parents):
        path = candidate / WORKSPACE_FILE
        if path.is_file():
            return path
    return None


def read_workspace_file(path: Path) -> dict[str, Any]:
    """The settings a workspace file holds; a clear error names the file and what is wrong."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Invalid(f"Workspace settings {path} cannot be read as JSON: {e}") from None
    if not isinstance(values, dict):
        raise Invalid(f"Workspace settings {path} must hold a JSON object of settings.")
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        known = ", ".join(Settings.model_fields)
        raise Invalid(f"Workspace settings {path}: unknown {', '.join(unknown)}; known: {known}.")
    for name in _PATH_SETTINGS:
        if isinstance(values.get(name), str) and values[name]:
            values[name] = os.path.normpath(path.parent / values[name])
    return values


def write_workspace_file(folder: Path, **values: object) -> Path:
    """Write ``folder/lepton.json`` so everything started in ``folder`` finds these settings."""
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise Invalid(f"Unknown settings {', '.join(unknown)}.")
    path = folder / WORKSPACE_FILE
    path.write_text(json.dumps(values, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def load_settings(start: Path | None = None, **overrides: object) -> Settings:
    """Settings from explicit overrides, then ``LEPTON_*`` variables, then the nearest
    workspace file (``lepton.json`` in ``start`` or above), then defaults."""
    workspace_file = find_workspace_file(start)
    from_file = read_workspace_file(workspace_file) if workspace_file else {}
    values: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        if overrides.get(name) not in (None, "", [], {}):
            values[name] = overrides[name]
            continue
        raw = _from_env(name)
        if raw is None or raw == "":
            if from_file.get(name) not in (None, "", [], {}):
                values[name] = from_file[name]
            continue
        annotation = str(field.annotation)
        if "dict" in annotation:
            values[name] = json.loads(raw)
        else:
            values[name] = [v for v in raw.split(",") if v] if "list" in annotation else raw
    state_dir = Path(values.pop("state_dir", None) or Path(jupyter_data_dir()) / "lepton")
    data_cache = values.pop("data_cache", None) or state_dir / "data-cache"
    try:
        return Settings(state_dir=state_dir, data_cache=data_cache, **values)
    except ValidationError as e:
        where = f" (workspace settings {workspace_file})" if workspace_file else ""
        raise Invalid(f"Invalid lepton settings{where}: {e}") from None


def export_env(settings: Settings) -> None:
    """Put the settings in this process's environment so kernels and jobs inherit them."""
    os.environ.update(settings.to_env())
