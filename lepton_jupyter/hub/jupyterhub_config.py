"""A JupyterHub where every user reaches one shared lepton registry and data cache.

Run it as is (``jupyterhub -f $(python -c "import lepton_jupyter.hub as h; print(h.CONFIG)")``)
or copy it next to your own settings. Locations and ports come from the environment of the
``jupyterhub`` process (defaults in brackets):

  LEPTON_HUB_STATE           folder of the hub's own state [/srv/lepton]
  LEPTON_REGISTRY_DB         registry store [postgresql+psycopg://lepton@127.0.0.1/lepton]
  LEPTON_REGISTRY_STORAGE    fsspec URL of model files [$LEPTON_HUB_STATE/registry-blobs]
  LEPTON_DATA_CACHE          shared DVC cache, group-writable [$LEPTON_HUB_STATE/data-cache]
  LEPTON_REGISTRY_ADMIN_GROUP  hub group administering every namespace [lepton-admins]
  LEPTON_HUB_PORT            public port (the proxy) [8000]
  LEPTON_HUB_API_PORT        the hub's internal API [8081]
  LEPTON_HUB_PROXY_API_PORT  the proxy's REST API [8001]
  LEPTON_REGISTRY_PORT       the registry service [8765]
  LEPTON_HUB_CULL_TIMEOUT    seconds idle before a server is stopped [3600]
  LEPTON_HUB_CULL_EVERY      seconds between culler passes [300]
  LEPTON_HUB_ACTIVITY_INTERVAL  seconds between a server's activity reports [300]

Authenticator and spawner are JupyterHub's defaults (PAM, local processes as each user's own
OS account); set yours after loading this file. Teams are hub groups (your authenticator's,
or ``c.JupyterHub.load_groups``).
"""

import os
import sys

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

REGISTRY = "lepton-registry"
state = os.environ.get("LEPTON_HUB_STATE", "/srv/lepton")
registry_db = os.environ.get("LEPTON_REGISTRY_DB", "postgresql+psycopg://lepton@127.0.0.1/lepton")
registry_storage = os.environ.get("LEPTON_REGISTRY_STORAGE", f"{state}/registry-blobs")
data_cache = os.environ.get("LEPTON_DATA_CACHE", f"{state}/data-cache")
admin_group = os.environ.get("LEPTON_REGISTRY_ADMIN_GROUP", "lepton-admins")
hub_port = int(os.environ.get("LEPTON_HUB_PORT", "8000"))
hub_api_port = int(os.environ.get("LEPTON_HUB_API_PORT", "8081"))
proxy_api_port = int(os.environ.get("LEPTON_HUB_PROXY_API_PORT", "8001"))
registry_port = int(os.environ.get("LEPTON_REGISTRY_PORT", "8765"))
cull_timeout = int(os.environ.get("LEPTON_HUB_CULL_TIMEOUT", "3600"))
cull_every = int(os.environ.get("LEPTON_HUB_CULL_EVERY", "300"))
activity_interval = os.environ.get("LEPTON_HUB_ACTIVITY_INTERVAL", "300")

# The hub and its proxy (configurable-http-proxy from npm, on PATH).
c.JupyterHub.bind_url = f"http://:{hub_port}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub_api_port}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.pid_file = f"{state}/proxy.pid"
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"

# The registry: one service for the hub, on PostgreSQL. Identity is the hub user (API
# token or OAuth); a hub group's members create and maintain the namespace named after it;
# members of the admin group administer (and grant on) every namespace.
registry_url = f"http://127.0.0.1:{registry_port}"
c.JupyterHub.services = [
    {
        "name": REGISTRY,
        "url": registry_url,
        "command": [
            sys.executable,
            "-m",
            "lepton_jupyter.cli",
            "registry",
            "serve",
            "--db",
            registry_db,
            "--storage",
            registry_storage,
            "--admin-group",
            admin_group,
        ],
        "environment": {"LEPTON_STATE_DIR": f"{state}/registry-service"},
        "oauth_no_confirm": True,
    },
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={cull_timeout}",
            f"--cull-every={cull_every}",
        ],
    },
]
c.JupyterHub.load_roles = [
    # Every user may use the registry, in a browser (OAuth) or with a token.
    {"name": "user", "scopes": ["self", f"access:services!service={REGISTRY}"]},
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]
# A server's JUPYTERHUB_API_TOKEN (which its kernels inherit) may call the registry too.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={REGISTRY}",
]
# What every single-user server and its kernels find the registry and the data cache by;
# a running lepton job reports its server active, so the culler leaves it alone.
c.Spawner.environment = {
    "LEPTON_REGISTRY_URL": f"{registry_url}/services/{REGISTRY}",
    "LEPTON_DATA_CACHE": data_cache,
    "JUPYTERHUB_ACTIVITY_INTERVAL": activity_interval,
}

# The shared data cache: a hub started as root makes its missing folders (root's, setgid and
# sticky, in the group of the cache folder the operator made), so no member owns a folder
# in which they could rename other members' objects.
if os.geteuid() == 0 and os.path.isdir(data_cache):
    from pathlib import Path

    from lepton_jupyter.datasets.cache import prepare

    prepare(Path(data_cache))
