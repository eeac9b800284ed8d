"""lepton on a shared JupyterHub: :data:`CONFIG` is a ``jupyterhub_config.py`` that runs the
registry as a hub service, points every user's server at it and at the shared data cache,
and culls idle servers (but not those running a job)."""

from pathlib import Path

CONFIG = Path(__file__).with_name("jupyterhub_config.py")
