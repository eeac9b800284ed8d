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

from pydantic import BaseModel, Field, ValidationError

from .errors import Invalid

ENV_PREFIX = "LEPTON_"
WORKSPACE_FILE = "lepton.json"
# Settings naming a folder: relative values in a workspace file are relative to that file.
_PATH_SETTINGS = ("state_dir", "data_cache", "jobs_dir")


def _shown(text: str) -> dict[str, Any]:
    """A default that is worked out at run time, as ``--help-all`` and the README show it."""
    return {"shown_default": text}


class Settings(BaseModel):
    """Resolved locations, endpoints and limits. Each field's default and description are the
    one source of the server option's default, its ``--help-all`` text and the README's
    configuration table (``option_table``)."""

    state_dir: Path = Field(
        description="Folder for lepton's state: job store, local registry database and blobs, "
        "runs.",
        json_schema_extra=_shown("<jupyter data dir>/lepton"),
    )
    data_cache: Path = Field(
        description="Shared DVC cache that attached datasets link from; group-writable and "
        "shared by all users of a hub.",
        json_schema_extra=_shown("<state_dir>/data-cache"),
    )
    cache_link_types: list[str] = Field(
        default_factory=lambda: ["reflink", "hardlink", "symlink"],
        description="Link types tried, in order, when files are placed from the shared cache "
        "(reflink, hardlink, symlink, copy); an empty list is refused.",
    )
    data_registries: list[str] = Field(
        default_factory=list,
        description="Data registry URLs (git repos with DVC-tracked folders) offered in the "
        "sidebar.",
    )
    registry_url: str = Field(
        default="",
        description="URL of a shared registry service (`lepton registry serve` or a JupyterHub "
        "service); empty: the registry runs in this process on `registry_db_url`.",
    )
    registry_token: str = Field(default="", description="Token for a remote registry service.")
    registry_db_url: str = Field(
        default="",
        description="SQLAlchemy URL of the registry store (`sqlite:///...` or `postgresql://...`).",
        json_schema_extra=_shown("SQLite at <state_dir>/registry.db"),
    )
    registry_storage_url: str = Field(
        default="",
        description="fsspec URL where model files are stored, content-addressed.",
        json_schema_extra=_shown("<state_dir>/blobs"),
    )
    protected_aliases: list[str] = Field(
        default_factory=lambda: ["prod"],
        description="Aliases only a namespace maintainer (or admin) may move; an empty list "
        "protects none.",
    )
    max_json_body_bytes: int = Field(
        default=4 << 20,
        gt=0,
        description="Largest request body, in bytes, a lepton JSON route reads, after "
        "authenticating the caller (also `lepton registry serve`); only blob uploads stream "
        "more.",
    )
    registry_max_upload_bytes: int = Field(
        default=1 << 40,
        gt=0,
        description="Largest blob (one model file), in bytes, an upload to the registry may "
        "send (also `lepton registry serve`); a larger one is refused with 413 before it is "
        "read.",
    )
    registry_upload_grace_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds a blob a user uploaded counts as theirs to publish (a publish in "
        "progress); also how old an orphan must be before `lepton registry fsck --gc` removes "
        "it, unless `--grace` says otherwise.",
    )
    promotion_gates: dict[str, Any] = Field(
        default_factory=dict,
        description="Aliases that move only on evidence, as JSON: alias (or `ns/model@alias`) "
        '-> `{"dataset": path, "metric": name, "min_delta": 0.0}`; see Comparing versions.',
    )
    data_registry_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a remote data registry may go without answering while the warm "
        "attach lists or fetches it; then the attach fails naming the URL.",
    )
    data_mirror_max_age_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a remote registry's git mirror in the shared cache may go unused "
        "before `lepton datasets prune-mirrors` removes it (the next attach rebuilds it).",
    )
    jobs_dir: Path | None = Field(
        default=None,
        description="Folder of job folders (spec, per-rank logs, metrics); on a filesystem "
        "every node sees for multi-node backends.",
        json_schema_extra=_shown("<state_dir>/jobs"),
    )
    slurm_defaults: dict[str, Any] = Field(
        default_factory=dict,
        description='Default options of `backend="slurm"` jobs, as JSON (partition, account, '
        "time, gpus_per_node, cpus_per_task, mem, sbatch_extra); `launch()` keywords override "
        "them.",
    )
    job_activity_interval: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between two checks for running jobs, which keep the server "
        "active for an idle culler.",
    )
    slurm_command_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a Slurm command (sbatch, squeue, sacct, scancel) may take before "
        "the controller is reported unreachable.",
    )
    job_pool: bool = Field(
        default=True,
        description="Start local jobs from a warm pool: a process with torch and the job "
        "machinery imported forks each job's supervisor, whose agent forks the ranks; false "
        "starts every job afresh. See Jobs, Warm start.",
    )
    job_pool_preload: list[str] = Field(
        default_factory=list,
        description="More modules the warm pool imports, so ranks find them imported "
        "(`torchvision`, `transformers`); one that fails to import is skipped.",
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


def _is_collection(field: Any) -> bool:
    return any(kind in str(field.annotation) for kind in ("list", "dict"))


def is_set(name: str, value: object) -> bool:
    """Whether ``value`` sets setting ``name``: None never does, an empty string does not
    for a scalar (a folder or URL), and an empty list or dict does (it means empty)."""
    if value is None:
        return False
    return value != "" or _is_collection(Settings.model_fields[name])


def default_value(name: str) -> Any:
    """Setting ``name``'s built-in default, for code that runs without a ``Settings``."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


def shown_default(name: str) -> str:
    """Setting ``name``'s default as ``--help-all`` and the README show it."""
    field = Settings.model_fields[name]
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.get_default(call_default_factory=True)
    if isinstance(value, list):
        return ", ".join(value) if value else "none (empty list)"
    if isinstance(value, dict):
        return "none" if not value else json.dumps(value)
    if value == "":
        return "empty"
    return repr(value)


#: Settings that are not server options: a token is a secret, never a line of config.
NOT_OPTIONS = ("registry_token",)


def option_names() -> list[str]:
    return [name for name in Settings.model_fields if name not in NOT_OPTIONS]


def option_table() -> str:
    """The README's configuration table, generated from the fields (a test keeps it current)."""
    rows = [
        "| option (`c.LeptonApp.`) | default | kernel / CLI variable | meaning |",
        "|---|---|---|---|",
    ]
    for name in option_names():
        field = Settings.model_fields[name]
        variable = f"`{ENV_PREFIX}{name.upper()}`"
        if _is_collection(field) and "dict" in str(field.annotation):
            variable += " (JSON)"
        elif _is_collection(field):
            variable += " (comma-separated)"
        description = str(field.description).replace("|", "\\|")
        rows.append(f"| `{name}` | `{shown_default(name)}` | {variable} | {description} |")
    return "\n".join(rows) + "\n"


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
        if is_set(name, overrides.get(name)):
            values[name] = overrides[name]
            continue
        raw = _from_env(name)
        if raw is not None and (raw or _is_collection(field)):
            annotation = str(field.annotation)
            if "dict" in annotation:
                values[name] = json.loads(raw) if raw else {}
            else:
                values[name] = [v for v in raw.split(",") if v] if "list" in annotation else raw
        elif is_set(name, from_file.get(name)):
            values[name] = from_file[name]
    state_dir = values.pop("state_dir", None)
    if not state_dir:
        # Imported only here: a kernel told LEPTON_STATE_DIR by its server never needs it.
        from jupyter_core.paths import jupyter_data_dir

        state_dir = Path(jupyter_data_dir()) / "lepton"
    state_dir = Path(state_dir)
    data_cache = values.pop("data_cache", None) or state_dir / "data-cache"
    try:
        return Settings(state_dir=state_dir, data_cache=data_cache, **values)
    except ValidationError as e:
        where = f" (workspace settings {workspace_file})" if workspace_file else ""
        raise Invalid(f"Invalid lepton settings{where}: {e}") from None


def export_env(settings: Settings) -> None:
    """Put the settings in this process's environment so kernels and jobs inherit them."""
    os.environ.update(settings.to_env())
