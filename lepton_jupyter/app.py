"""The jupyter-server extension: configuration, services and the REST route table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, TraitType, Unicode

from ._version import __version__
from .handlers import api_routes
from .settings import ENV_PREFIX, Settings, export_env, load_settings, option_names, shown_default

_SCALAR_TRAITS: dict[Any, type[TraitType]] = {bool: Bool, int: Int, float: Float}


def option(name: str) -> TraitType:
    """The server option for setting ``name``: its help and default come from ``Settings``.

    The trait holds None until configured, so an empty list is a value ("protect no alias").
    traitlets prints a trait's static default in ``--help-all``; here that would be None, so
    the line shows the default the setting falls back to instead.
    """
    field = Settings.model_fields[name]
    annotation = str(field.annotation)
    if "list" in annotation:
        trait: TraitType = List(Unicode(), default_value=None, allow_none=True)
    else:
        kind = _SCALAR_TRAITS.get(field.annotation, Dict if "dict" in annotation else Unicode)
        trait = kind(default_value=None, allow_none=True)
    trait.help = f"{field.description} Kernels and the CLI: {ENV_PREFIX}{name.upper()}."
    trait.default_value_repr = lambda: shown_default(name)  # type: ignore[method-assign]
    return trait.tag(config=True)


class LeptonApp(ExtensionApp):
    """Datasets, jobs, the model registry and runs, served to JupyterLab and kernels."""

    name = "lepton_jupyter"
    version = __version__
    load_other_extensions = True

    # Each option is None until configured; unset options fall back to LEPTON_* variables,
    # then a workspace file, then the default Settings declares (shown in --help-all).
    state_dir = option("state_dir")
    data_cache = option("data_cache")
    cache_link_types = option("cache_link_types")
    data_registries = option("data_registries")
    registry_url = option("registry_url")
    registry_db_url = option("registry_db_url")
    registry_storage_url = option("registry_storage_url")
    protected_aliases = option("protected_aliases")
    max_json_body_bytes = option("max_json_body_bytes")
    registry_max_upload_bytes = option("registry_max_upload_bytes")
    registry_upload_grace_seconds = option("registry_upload_grace_seconds")
    promotion_gates = option("promotion_gates")
    data_registry_timeout = option("data_registry_timeout")
    data_mirror_max_age_days = option("data_mirror_max_age_days")
    jobs_dir = option("jobs_dir")
    slurm_defaults = option("slurm_defaults")
    job_activity_interval = option("job_activity_interval")
    slurm_command_timeout = option("slurm_command_timeout")
    job_pool = option("job_pool")
    job_pool_preload = option("job_pool_preload")

    def lepton_settings(self) -> Settings:
        # A workspace file (lepton.json) in the folder the server serves, or above it,
        # fills what neither this config nor LEPTON_* variables set.
        configured = {name: getattr(self, name) for name in option_names()}
        return load_settings(Path(self.serverapp.root_dir), **configured)

    def initialize_settings(self) -> None:
        settings = self.lepton_settings()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        # Kernels started by this server inherit the same locations.
        export_env(settings)
        self.settings["lepton_settings"] = settings
        self._init_jobs(settings)
        self._check_scheduler()

    def _check_scheduler(self) -> None:
        """Say what is missing when the config asks for scheduled runs it cannot have."""
        configured = self.serverapp.config.get("Scheduler", {}).get("execution_manager_class")
        if "lepton_jupyter" in str(configured or ""):
            from .scheduler.service import scheduler_status

            status = scheduler_status(None)
            if not status.installed:
                self.log.warning(status.message)

    def _init_jobs(self, settings: Settings) -> None:
        from .handlers.jobs import JobActivity
        from .jobs.service import JobService

        jobs = JobService(settings)
        self.settings["lepton_jobs"] = jobs
        self._job_activity = JobActivity(jobs, self.serverapp.web_app.settings)
        self._job_activity.start()
        self._job_pool = None
        if settings.job_pool:
            import os
            import sys

            from .jobs import pool

            # Warm by the time a kernel launches; kernels find it by their interpreter.
            self._job_pool = pool.start(sys.executable, os.getpid(), settings.job_pool_preload)

    async def stop_extension(self) -> None:
        activity = getattr(self, "_job_activity", None)
        if activity is not None:
            activity.stop()
        job_pool = getattr(self, "_job_pool", None)
        if job_pool is not None:
            from .jobs import pool

            pool.stop(job_pool)

    def initialize_handlers(self) -> None:
        if self.settings["lepton_settings"].registry_url:
            from .handlers import API_PREFIX
            from .handlers.registry import forward_routes

            # Ahead of the local registry's routes: the sidebar sees the shared registry,
            # as the kernels do.
            self.handlers.extend((API_PREFIX + path, h) for path, h in forward_routes)
        self.handlers.extend(api_routes())
