"""Reading jobs back cheaply and safely: the store on this machine's disk (an old one in the
shared jobs folder adopted), metrics with a torn line, and logs read incrementally without
reading a 100 MB file whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lepton_jupyter.errors import Invalid
from lepton_jupyter.jobs import store as job_store
from lepton_jupyter.jobs.folder import JobFolder, append_line
from lepton_jupyter.jobs.service import JobService
from lepton_jupyter.jobs.store import JobStore, sqlite_url, store_path
from lepton_jupyter.settings import load_settings
from tests.fixtures.jobs import job_spec


def stored_job(manager: JobService, job_id: str = "train-00aa11", nprocs: int = 2) -> JobFolder:
    spec = job_spec(manager.store.url, id=job_id, nprocs=nprocs)
    folder = JobFolder(manager.jobs_path / job_id)
    folder.create()
    manager.store.create(spec, folder.path)
    return folder


def bytes_read() -> int:
    """Bytes this process has read through read() calls so far (Linux /proc/self/io)."""
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def test_the_store_is_on_local_disk_not_in_the_shared_jobs_folder(job_manager, lepton_state):
    # The jobs folder is what multi-node jobs share; SQLite's WAL is unsafe there
    assert job_manager.store.url == sqlite_url(lepton_state / "jobs.db")
    assert not (job_manager.jobs_path / "jobs.db").exists()


def test_a_state_folder_on_nfs_keeps_the_store_on_local_disk(monkeypatch, tmp_path):
    # (No NFS server here: the filesystem type is what /proc/self/mounts would say.)
    monkeypatch.setattr(job_store, "filesystem_type", lambda path: "nfs4")
    assert store_path(tmp_path) == Path("/var/tmp") / f"lepton-{os.getuid()}" / "jobs.db"
    monkeypatch.setattr(job_store, "filesystem_type", lambda path: "ext4")
    assert store_path(tmp_path) == tmp_path / "jobs.db"


def test_filesystem_type_reads_the_mount_table():
    assert job_store.filesystem_type(Path("/proc/self")) == "proc"


def test_jobs_of_a_store_in_the_jobs_folder_are_adopted(lepton_state):
    # Given a store where earlier versions kept it, in the jobs folder, holding one job
    jobs_path = load_settings().jobs_path
    old = JobStore(sqlite_url(jobs_path / "jobs.db"))
    spec = job_spec(old.url, id="old-000002")
    old.create(spec, jobs_path / spec.id)
    # When a manager opens the store on local disk
    manager = JobService(load_settings())
    # Then the old job is there, and the old file is not read again
    assert [j.id for j in manager.list()] == ["old-000002"]
    assert not (jobs_path / "jobs.db").exists()
    assert (jobs_path / "jobs.db.moved").exists()
    assert [j.id for j in JobService(load_settings()).list()] == ["old-000002"]


def test_a_torn_metrics_line_is_skipped_and_a_partial_one_waits(job_manager):
    # Given metrics appended by ranks on two nodes, one of which died mid-line, and a
    # line still being written
    folder = stored_job(job_manager)
    append_line(folder.metrics, {"rank": 0, "step": 0, "time": 0.0, "loss": 1.0})
    with folder.metrics.open("a") as f:
        f.write('{"rank": 1, "step": 0, "ti')  # node 2 died here
    append_line(folder.metrics, {"rank": 0, "step": 1, "time": 1.0, "loss": 0.5})
    append_line(folder.metrics, {"rank": 0, "step": 2, "time": 2.0, "loss": 0.25})
    with folder.metrics.open("a") as f:
        f.write('{"rank": 0, "step": 3')
    # When they are read, Then the torn line is skipped, not fatal, and the partial one waits
    records, offset = job_manager.metrics_since(folder.path.name)
    assert [r["step"] for r in records] == [0, 2]
    # When the partial line is completed, Then a read from the offset returns just it
    with folder.metrics.open("a") as f:
        f.write(', "time": 3.0, "loss": 0.125}\n')
    more, end = job_manager.metrics_since(folder.path.name, offset)
    assert more == [{"rank": 0, "step": 3, "time": 3.0, "loss": 0.125}]
    assert end == folder.metrics.stat().st_size
    assert [r["step"] for r in job_manager.metrics(folder.path.name)] == [0, 2, 3]


def test_logs_of_a_100_mb_rank_log_are_read_from_the_end_and_the_offset(job_manager):
    # Given a rank whose log is 100 MB
    folder = stored_job(job_manager, nprocs=1)
    line = b"x" * 99 + b"\n"
    with folder.rank_log(0).open("wb") as f:
        for _ in range(100):
            f.write(line * 10_000)
        f.write(b"step 1000000 loss 0.01\n")
    size = folder.rank_log(0).stat().st_size
    assert size > 100_000_000
    job_id = folder.path.name
    # When its last lines are read, Then only a block or two of it is read
    before = bytes_read()
    (chunk,) = job_manager.log_chunks(job_id, tail=3)
    assert chunk.text.endswith("x\nstep 1000000 loss 0.01\n") and chunk.text.count("\n") == 3
    assert chunk.offset == size
    assert bytes_read() - before < 1_000_000
    # When the rank writes more and a client asks since the offset it was given
    with folder.rank_log(0).open("ab") as f:
        f.write(b"step 1000001 loss 0.009\npartial")
    before = bytes_read()
    (new,) = job_manager.log_chunks(job_id, since=[chunk.offset])
    # Then it gets the new whole line only, having read only what was new
    assert new.text == "step 1000001 loss 0.009\n"
    assert new.offset == size + len("step 1000001 loss 0.009\n")
    assert bytes_read() - before < 1_000_000
    (nothing,) = job_manager.log_chunks(job_id, since=[new.offset])
    assert (nothing.text, nothing.offset) == ("", new.offset)


def test_since_takes_one_offset_per_rank(job_manager):
    folder = stored_job(job_manager)
    with pytest.raises(Invalid, match=r"since takes one byte offset .* per rank asked for \(2\)"):
        job_manager.log_chunks(folder.path.name, since=[0])
    with pytest.raises(Invalid, match="since must be a byte offset of 0 or more"):
        job_manager.metrics_since(folder.path.name, -1)


def test_metrics_lines_that_are_not_records_are_skipped(job_manager):
    folder = stored_job(job_manager)
    folder.metrics.write_text('[1, 2]\n{"rank": 0, "step": 0, "time": 0}\n\n')
    assert job_manager.metrics(folder.path.name) == [{"rank": 0, "step": 0, "time": 0}]
    assert json.loads(json.dumps(job_manager.metrics(folder.path.name)))
