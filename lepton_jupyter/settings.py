"""Where lepton keeps its state, shared by the server extension, kernels, jobs and the CLI.

The server extension is configured with traitlets (``c.LeptonApp...``); kernels, job ranks
and batch runs read the same settings from ``LEPTON_*`` environment variables, which the
server extension exports before it starts any kernel. With nothing set, everything lives
under the Jupyter data dir, so a laptop needs no configuration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from pydantic import BaseModel, Field

ENV_PREFIX = "LEPTON_"


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
    jobs_dir: Path | None = None
    slurm_defaults: dict[str, Any] = Field(
        default_factory=dict, description="Default sbatch options of Slurm jobs (partition...)."
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


def load_settings(**overrides: object) -> Settings:
    """Settings from explicit overrides, then ``LEPTON_*`` variables, then defaults."""
    values: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        if overrides.get(name) not in (None, "", [], {}):
            values[name] = overrides[name]
            continue
        raw = _from_env(name)
        if raw is None or raw == "":
            continue
        annotation = str(field.annotation)
        if "dict" in annotation:
            values[name] = json.loads(raw)
        else:
            values[name] = [v for v in raw.split(",") if v] if "list" in annotation else raw
    state_dir = Path(values.pop("state_dir", None) or Path(jupyter_data_dir()) / "lepton")
    data_cache = values.pop("data_cache", None) or state_dir / "data-cache"
    return Settings(state_dir=state_dir, data_cache=data_cache, **values)


def export_env(settings: Settings) -> None:
    """Put the settings in this process's environment so kernels and jobs inherit them."""
    os.environ.update(settings.to_env())
