"""Progress of the attaches running in this process, for clients that poll (the sidebar).

``POST /lepton/api/datasets`` answers when the attach is done; meanwhile
``GET /lepton/api/datasets/progress`` reads the latest event of each running attach here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

from .schema import AttachProgress, AttachProgressInfo
from .service import ProgressCallback


class AttachBoard:
    """The latest progress event per destination, while its attach runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, AttachProgress] = {}

    @contextmanager
    def tracking(self, to: str) -> Iterator[ProgressCallback]:
        """A progress callback that posts events under ``to`` until the block ends."""

        def post(event: AttachProgress) -> None:
            with self._lock:
                self._events[to] = event

        post(AttachProgress("resolve"))
        try:
            yield post
        finally:
            with self._lock:
                self._events.pop(to, None)

    def snapshot(self) -> list[AttachProgressInfo]:
        with self._lock:
            events = sorted(self._events.items())
        return [AttachProgressInfo(to=to, **asdict(event)) for to, event in events]


ATTACHES = AttachBoard()
