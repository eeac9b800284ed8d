"""The papermill engine ``lepton`` (``papermill -e lepton``)."""

from __future__ import annotations

from papermill.engines import NBClientEngine


class LeptonEngine(NBClientEngine):
    """Executes like papermill's default engine; run recording is added by the runs subsystem."""
