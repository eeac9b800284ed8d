"""Concurrent publishers and killed publishers, as real processes on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lepton_jupyter.registry.blobs import BlobStore, StatCache
from lepton_jupyter.registry.service import Principal, RegistryService
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.fixtures.processes import stop_process, wait_for
from tests.fixtures.registry import one_file_request

# Concurrent publishers and publishers killed midway: real processes, tens of seconds.
pytestmark = pytest.mark.slow

PUBLISHERS = 8
PUBLISHES = 25

PUBLISHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from lepton_jupyter.registry import publish
    worker, count, go = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.01)
    for i in range(count):
        source = Path(f"w{worker}-{i}.bin")
        source.write_bytes(f"worker {worker} publish {i}".encode())
        publish("team/model", source, metrics={"worker": worker, "i": i})
""")


def _env(tmp_path: Path, db_url: str, storage: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LEPTON_STATE_DIR": str(tmp_path / "state"),
        "LEPTON_REGISTRY_DB_URL": db_url,
        "LEPTON_REGISTRY_STORAGE_URL": str(storage),
    }


@pytest.fixture
def open_service(
    registry_db_url, registry_storage, tmp_path
) -> Iterator[Callable[[], RegistryService]]:
    """Opens a service on the test's store; its connections are closed at teardown (a pooled
    PostgreSQL connection left to the GC is a ResourceWarning)."""
    stores: list[SqlRegistryStore] = []

    def open_() -> RegistryService:
        stores.append(SqlRegistryStore(registry_db_url))
        blobs = BlobStore(str(registry_storage), StatCache(tmp_path / "s.db"))
        return RegistryService(stores[-1], blobs)

    yield open_
    for store in stores:
        store.dispose()


def test_concurrent_publishers_get_every_number_exactly_once(
    registry_db_url, registry_storage, tmp_path, started_processes, open_service
):
    # Given 8 processes that publish the same model 25 times each, all starting at once
    go = tmp_path / "go"
    workdir = tmp_path / "work"
    workdir.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, str(w), str(PUBLISHES), str(go)],
            cwd=workdir,
            env=_env(tmp_path, registry_db_url, registry_storage),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(PUBLISHERS)
    ]
    started_processes.extend(procs)
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    # Then the versions are exactly 1..200, each one a distinct publish
    service = open_service()
    me = Principal(os.environ.get("USER") or __import__("getpass").getuser())
    versions = service.versions(me, "team/model")
    assert [v.version for v in versions] == list(range(1, PUBLISHERS * PUBLISHES + 1))
    published = {(v.metrics["worker"], v.metrics["i"]) for v in versions}
    assert len(published) == PUBLISHERS * PUBLISHES
    assert len({v.digest for v in versions}) == PUBLISHERS * PUBLISHES
    assert service.fsck(verify=False).clean


KILLED_PUBLISHER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from lepton_jupyter.registry import publish
    from lepton_jupyter.registry import blobs, service, store
    point, marker, source = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    def stop_here():
        marker.touch()
        threading.Event().wait()  # until SIGKILL

    def after(cls, name):
        original = getattr(cls, name)
        def wrapped(*args, **kwargs):
            result = original(*args, **kwargs)
            stop_here()
            return result
        setattr(cls, name, wrapped)

    def before(cls, name):
        original = getattr(cls, name)
        def wrapped(*args, **kwargs):
            stop_here()
            return original(*args, **kwargs)
        setattr(cls, name, wrapped)

    if point == "mid-file":          # some bytes of the blob written, not all
        after(blobs.BlobWriter, "write")
    elif point == "before-metadata": # the blob stored, no metadata yet
        before(service.RegistryService, "publish")
    elif point == "mid-transaction": # version and file rows inserted, not committed
        after(store.SqlTransaction, "move_alias")
    publish("team/model", source, alias="staging")
""")


@pytest.mark.parametrize("point", ["mid-file", "before-metadata", "mid-transaction"])
def test_a_killed_publish_leaves_no_partial_version(
    registry_db_url, registry_storage, tmp_path, started_processes, point, open_service
):
    service = open_service()
    me = Principal(__import__("getpass").getuser())
    # Given a model with one version
    first = tmp_path / "first.bin"
    first.write_bytes(b"first")
    service.publish(me, "team/model", one_file_request(service, me, first))
    # When a publisher of a 24 MiB file is killed -9 at `point`
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(24 << 20))
    marker = tmp_path / "reached"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUBLISHER, point, str(marker), str(source)],
        cwd=tmp_path,
        env=_env(tmp_path, registry_db_url, registry_storage),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    started_processes.append(proc)
    wait_for(
        lambda: marker.exists() or proc.poll() is not None,
        timeout=120,
        message=f"the publisher to reach {point}",
    )
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    stop_process(proc)
    # Then no partial version exists: the model still has only version 1, alias unset
    assert [v.version for v in service.versions(me, "team/model")] == [1]
    assert service.aliases(me, "team/model") == []
    # And fsck finds nothing missing or corrupt, only the dead publish's garbage
    report = service.fsck()
    assert not report.missing and not report.mismatches
    garbage = report.stale_uploads if point == "mid-file" else report.orphans
    assert len(garbage) == 1
    # Which gc removes, leaving fsck clean
    service.fsck(gc=True, grace_seconds=0)
    assert service.fsck().clean
    # And the next publish takes the next number, with no gap
    again = service.publish(me, "team/model", one_file_request(service, me, source))
    assert again.version == 2
