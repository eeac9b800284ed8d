"""Bad input to launch() and friends fails at once, clearly, and starts or writes nothing."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import cloudpickle
import pytest

from lepton_jupyter import Job, jobs, launch, report
from lepton_jupyter.errors import Invalid, NotFound
from lepton_jupyter.jobs.folder import job_processes
from lepton_jupyter.jobs.schema import JobStatus

LOCK = threading.Lock()


def uses_a_lock() -> None:
    with LOCK:
        pass


def calls_a_helper() -> None:
    uses_a_lock()


def assert_nothing_started(jobs_path: Path) -> None:
    folders = [p for p in jobs_path.iterdir() if p.is_dir()] if jobs_path.exists() else []
    assert folders == []
    assert job_processes(str(jobs_path)) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nprocs": 0}, "nprocs must be an integer of at least 1, got 0"),
        ({"nprocs": 1.5}, "nprocs must be an integer of at least 1, got 1.5"),
        ({"nnodes": 0}, "nnodes must be an integer of at least 1"),
        ({"max_restarts": -1}, "max_restarts must be an integer of at least 0"),
        ({"nnodes": 2}, "The 'local' backend runs on at most 1 node(s); nnodes=2"),
        ({"env": {"SEED": 1}}, "env must map names to strings; not so for ['SEED']"),
    ],
)
def test_bad_launch_options_fail_before_anything_starts(jobs_path, options, message):
    # Given a valid target, When launched with a bad option
    with pytest.raises(Invalid) as info:
        launch("tests.fixtures.jobs:train", **options)
    # Then the message names the option, and nothing was written or started
    assert message in str(info.value)
    assert_nothing_started(jobs_path)


@pytest.fixture
def by_value():
    """Pickle this module's functions by value, as cloudpickle does for a notebook's."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_unpicklable_global_is_named(jobs_path, by_value):
    # Given a notebook-style function that uses a module-level lock through a helper
    # When it is launched
    with pytest.raises(Invalid) as info:
        launch(calls_a_helper, nprocs=2)
    # Then the error names the lock and where it is used
    assert "global 'LOCK' (lock) used by uses_a_lock" in str(info.value)
    assert "cannot be pickled" in str(info.value)
    assert_nothing_started(jobs_path)


def test_unknown_backend_names_the_known_ones(jobs_path):
    with pytest.raises(Invalid) as info:
        launch("tests.fixtures.jobs:train", backend="locall")
    assert str(info.value).startswith("Unknown job backend 'locall'; known: local")
    assert str(info.value).endswith("Did you mean 'local'?")
    assert_nothing_started(jobs_path)


def test_a_backend_installed_by_a_package_is_found_and_cannot_replace_a_built_in(
    tmp_path, monkeypatch
):
    # Given an installed package (a real dist-info on sys.path) whose entry points name a
    # backend of its own and one called "local"
    from lepton_jupyter.jobs.backends import (
        ENTRY_POINT_GROUP,
        backend_class,
        backend_names,
        check_backend,
    )
    from lepton_jupyter.jobs.backends.local import LocalBackend
    from lepton_jupyter.jobs.backends.slurm import SlurmBackend

    dist_info = tmp_path / "site" / "lepton_cluster_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: lepton-cluster-plugin\n")
    (dist_info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "cluster = lepton_jupyter.jobs.backends.slurm:SlurmBackend\n"
        "local = lepton_jupyter.jobs.backends.slurm:SlurmBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    # Then its backend is known and loads; the built-in "local" stays lepton's own
    assert "cluster" in backend_names()
    check_backend("cluster")
    assert backend_class("cluster") is SlurmBackend
    assert backend_class("local") is LocalBackend
    with pytest.raises(Invalid, match="known: cluster, local, slurm"):
        check_backend("nope")


def test_unpicklable_argument_is_named(jobs_path):
    with pytest.raises(Invalid) as info:
        launch("tests.fixtures.jobs:train", 3, pause=threading.Lock())
    assert "keyword argument 'pause' (lock)" in str(info.value)
    assert_nothing_started(jobs_path)


def test_missing_script_is_named(jobs_path, tmp_path):
    with pytest.raises(Invalid) as info:
        launch(str(tmp_path / "train.py"), nprocs=2)
    assert f"Script not found: {tmp_path / 'train.py'}" in str(info.value)
    assert_nothing_started(jobs_path)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module:train", "Module 'no_such_module' of target 'no_such_module:train'"),
        ("train", "'train' is neither a script path nor 'module:function'"),
        (42, "launch() takes a function, 'module:function' or a script path, not int"),
    ],
)
def test_unknown_targets_are_refused(jobs_path, target, message):
    with pytest.raises(Invalid) as info:
        launch(target)
    assert message in str(info.value)
    assert_nothing_started(jobs_path)


def test_unknown_job_id_suggests_close_ids(store_job):
    # Given a job in the store
    store_job(id="train-3fa9c1")
    # When another id is looked up, Then NotFound suggests the close one
    with pytest.raises(NotFound) as info:
        Job.attach("train-3fa9c2")
    assert str(info.value) == "No job 'train-3fa9c2'. Did you mean 'train-3fa9c1'?"


def test_logs_of_a_rank_the_job_does_not_have(job_manager, store_job):
    store_job(id="train-000001")
    with pytest.raises(Invalid, match=r"has ranks 0\.\.0; there is no rank 3"):
        Job("train-000001", job_manager).logs(rank=3)


def test_jobs_filter_by_unknown_status(job_manager):
    with pytest.raises(Invalid, match="Unknown job status 'done'; one of queued, running"):
        jobs(status="done")


def test_report_outside_a_job_records_nothing(monkeypatch):
    # A training function tried directly in the notebook runs report() harmlessly
    monkeypatch.delenv("LEPTON_JOB_DIR", raising=False)
    assert report(step=1, loss=0.5) is False


def test_a_job_ends_once_and_a_cancel_is_not_overwritten(job_manager, store_job):
    # Given a queued job that a cancel ended
    store_job(id="train-000002")
    assert job_manager.store.finish("train-000002", JobStatus.cancelled)
    # When a late "failed" arrives, Then it does not replace the cancel
    assert not job_manager.store.finish("train-000002", JobStatus.failed, error="late")
    assert job_manager.store.get("train-000002").status is JobStatus.cancelled
