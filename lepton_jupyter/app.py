"""The jupyter-server extension: configuration, services and the REST route table."""

from __future__ import annotations

from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Dict, Int, List, Unicode

from ._version import __version__
from .handlers import api_routes
from .settings import Settings, export_env, load_settings


class LeptonApp(ExtensionApp):
    """Datasets, jobs, the model registry and runs, served to JupyterLab and kernels."""

    name = "lepton_jupyter"
    version = __version__
    load_other_extensions = True

    state_dir = Unicode(
        "",
        config=True,
        help="Folder for lepton's state: job store, local registry database and blobs, runs. "
        "Default: <jupyter data dir>/lepton. Kernels see it as LEPTON_STATE_DIR.",
    )
    data_cache = Unicode(
        "",
        config=True,
        help="Shared DVC cache that attached datasets link from; make it group-writable and "
        "shared by all users of a hub. Default: <state_dir>/data-cache. Kernels: "
        "LEPTON_DATA_CACHE.",
    )
    cache_link_types = List(
        Unicode(),
        default_value=["reflink", "hardlink", "symlink"],
        config=True,
        help="Link types tried, in order, when files are placed from the shared cache "
        "(reflink, hardlink, symlink, copy).",
    )
    data_registries = List(
        Unicode(),
        default_value=[],
        config=True,
        help="Data registry URLs (git repos with DVC-tracked folders) offered in the sidebar.",
    )
    registry_url = Unicode(
        "",
        config=True,
        help="URL of a shared registry service (`lepton registry serve` or a JupyterHub "
        "service). Empty: the registry runs inside this server on registry_db_url. "
        "Kernels: LEPTON_REGISTRY_URL.",
    )
    registry_db_url = Unicode(
        "",
        config=True,
        help="SQLAlchemy URL of the registry store (sqlite:///... or postgresql://...). "
        "Default: SQLite at <state_dir>/registry.db.",
    )
    registry_storage_url = Unicode(
        "",
        config=True,
        help="fsspec URL where model files are stored, content-addressed. "
        "Default: <state_dir>/blobs.",
    )
    protected_aliases = List(
        Unicode(),
        default_value=["prod"],
        config=True,
        help="Aliases that only a namespace maintainer (or admin) may move.",
    )
    max_json_body_bytes = Int(
        None,
        allow_none=True,
        config=True,
        help="Largest request body, in bytes, a lepton JSON route reads (the caller is "
        "authenticated first); only registry blob uploads stream larger bodies. "
        "Default: 4 MiB. Kernels and `lepton registry serve`: LEPTON_MAX_JSON_BODY_BYTES.",
    )
    promotion_gates = Dict(
        default_value={},
        config=True,
        help="Aliases that move only on evidence: alias (or 'ns/model@alias') -> "
        '{"dataset": path, "metric": name, "min_delta": 0.0}. Moving a gated alias needs a '
        "recorded comparison of the new version against the current holder on that dataset "
        "whose interval of new - current lies above min_delta, or a maintainer's override "
        "with a reason. Rollback is never gated. Kernels: LEPTON_PROMOTION_GATES (JSON).",
    )
    jobs_dir = Unicode(
        "",
        config=True,
        help="Folder of job folders (spec, per-rank logs, metrics). For multi-node backends it "
        "must be on a filesystem every node sees. Default: <state_dir>/jobs.",
    )
    slurm_defaults = Dict(
        default_value={},
        config=True,
        help="Default options of jobs launched with backend='slurm', overridden per launch() "
        "call: partition, account, time, gpus_per_node, cpus_per_task, mem, sbatch_extra "
        '(a list of extra #SBATCH arguments). Example: {"partition": "gpu", "time": "2:00:00"}.',
    )

    def lepton_settings(self) -> Settings:
        # A workspace file (lepton.json) in the folder the server serves, or above it,
        # fills what neither this config nor LEPTON_* variables set.
        return load_settings(
            Path(self.serverapp.root_dir),
            state_dir=self.state_dir,
            data_cache=self.data_cache,
            cache_link_types=self.cache_link_types,
            data_registries=self.data_registries,
            registry_url=self.registry_url,
            registry_db_url=self.registry_db_url,
            registry_storage_url=self.registry_storage_url,
            protected_aliases=self.protected_aliases,
            max_json_body_bytes=self.max_json_body_bytes,
            promotion_gates=self.promotion_gates,
            jobs_dir=self.jobs_dir,
            slurm_defaults=self.slurm_defaults,
        )

    def initialize_settings(self) -> None:
        settings = self.lepton_settings()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Kernels started by this server inherit the same locations.
        export_env(settings)
        self.settings["lepton_settings"] = settings
        self._init_jobs(settings)

    def _init_jobs(self, settings: Settings) -> None:
        from .handlers.jobs import JobActivity
        from .jobs.service import JobService

        jobs = JobService(settings)
        self.settings["lepton_jobs"] = jobs
        self._job_activity = JobActivity(jobs, self.serverapp.web_app.settings)
        self._job_activity.start()

    async def stop_extension(self) -> None:
        activity = getattr(self, "_job_activity", None)
        if activity is not None:
            activity.stop()

    def initialize_handlers(self) -> None:
        if self.settings["lepton_settings"].registry_url:
            from .handlers import API_PREFIX
            from .handlers.registry import forward_routes

            # Ahead of the local registry's routes: the sidebar sees the shared registry,
            # as the kernels do.
            self.handlers.extend((API_PREFIX + path, h) for path, h in forward_routes)
        self.handlers.extend(api_routes())
