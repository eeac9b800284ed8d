"""The rendezvous of a local job: one agent, so no membership protocol to run.

torch's ``c10d`` rendezvous spends 0.1-0.2 s agreeing on who is in a one-node job; its
``static`` one needs a port chosen in advance (a race with every other program). This
one is ``static`` with the store listening on a port the OS picks, reported to the ranks
as the agent store. Elastic restarts keep working: the agent restarts the ranks against
the same store, and each attempt's process group lives under its own prefix (worker).

Imports torch: only the supervisor's lifecycle process (the agent) imports this module.
"""

from __future__ import annotations

from torch.distributed import TCPStore
from torch.distributed.elastic.rendezvous import RendezvousInfo, RendezvousParameters
from torch.distributed.elastic.rendezvous.registry import handler_registry
from torch.distributed.elastic.rendezvous.static_tcp_rendezvous import StaticTCPRendezvous

BACKEND = "lepton-local"
#: Seconds ranks wait for the store; as torch's static rendezvous.
TIMEOUT = 600


class LocalRendezvous(StaticTCPRendezvous):
    """A one-agent rendezvous whose TCP store listens on a free port of this machine."""

    def get_backend(self) -> str:
        return BACKEND

    def next_rendezvous(self) -> RendezvousInfo:
        if self._store is None:
            self._store = TCPStore(
                self.master_addr, 0, self.world_size, True, self.timeout, wait_for_workers=False
            )
            self.master_port = self._store.port
        return super().next_rendezvous()


def _create(params: RendezvousParameters) -> LocalRendezvous:
    host = params.endpoint.partition(":")[0] or "localhost"
    return LocalRendezvous(host, 0, 0, 1, params.run_id, TIMEOUT)


handler_registry.register(BACKEND, _create)
