"""The warm pool's rules, without starting one: what it refuses to serve, where its socket
may live, that it is on by default, how long a reader leaves an ended supervisor to the
process collecting it; and what a kernel imports for jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from lepton_jupyter._process import pid_ending
from lepton_jupyter.jobs import pool, supervision
from lepton_jupyter.jobs.schema import JobStatus
from lepton_jupyter.jobs.store import JobStore, sqlite_url
from lepton_jupyter.settings import load_settings
from tests.fixtures.jobs import job_spec
from tests.fixtures.processes import wait_for


@pytest.fixture
def warm_pool(tmp_path, monkeypatch) -> pool.Pool:
    """A pool object as a serving pool holds it (nothing listens)."""
    folder = tmp_path / "p"
    monkeypatch.setenv(pool.DIR_ENV, str(folder))
    serving = pool.Pool(os.getpid(), [])
    serving.files = pool._modules_files()
    return serving


def request(**changes: object) -> dict:
    values = {
        "protocol": pool.PROTOCOL,
        "python": os.path.abspath(sys.executable),
        "package": pool._package_dir(),
        "job_dir": "/nowhere",
        "cwd": "/",
        "env": dict(os.environ),
    }
    return {**values, **changes}


def test_the_pool_serves_a_job_as_a_fresh_supervisor_would_run_it(warm_pool):
    assert warm_pool.refusal(request()) is None
    # each rank applies its own thread count, so that may differ
    assert warm_pool.refusal(request(env={**os.environ, "OMP_NUM_THREADS": "3"})) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"protocol": 99}, "protocol 99"),
        ({"python": "/usr/bin/python3.99"}, "interpreter /usr/bin/python3.99"),
        ({"package": "/elsewhere/lepton_jupyter"}, "lepton at /elsewhere"),
        ({"env": {**os.environ, "TORCH_LOGS": "+dynamo"}}, "TORCH_LOGS differ"),
        # read when torch._dynamo (preloaded for DDP) is imported
        ({"env": {**os.environ, "TORCHINDUCTOR_CACHE_DIR": "/c"}}, "TORCHINDUCTOR_CACHE_DIR"),
        ({"env": {**os.environ, "SYMPY_USE_CACHE": "no"}}, "SYMPY_USE_CACHE differ"),
        ({"env": {**os.environ, "PYTHONPATH": "/other"}}, "PYTHONPATH differ"),
        ({"env": "secret"}, "no environment"),
    ],
)
def test_the_pool_refuses_what_it_would_run_differently(warm_pool, changes, reason):
    assert reason in warm_pool.refusal(request(**changes))


def test_a_pool_whose_lepton_files_changed_refuses_and_stops(warm_pool):
    warm_pool.files = {**warm_pool.files, "/gone/module.py": 1}
    assert "files changed" in warm_pool.refusal(request())


def test_no_pool_socket_in_a_folder_others_can_write(tmp_path, monkeypatch):
    # Given the pool folder open to other users (or theirs), When a kernel hands a job over
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    monkeypatch.setenv(pool.DIR_ENV, str(folder))
    # Then it sends nothing there (its environment holds secrets), and starts no pool there
    with pytest.raises(pool.PoolUnavailable, match="not private"):
        pool.hand_over(sys.executable, tmp_path / "job", {}, "/", [])
    assert pool.start(sys.executable, os.getpid()) is None
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "private", target_is_directory=True)
    monkeypatch.setenv(pool.DIR_ENV, str(link))
    with pytest.raises(pool.PoolUnavailable, match="not a folder"):
        pool.hand_over(sys.executable, tmp_path / "job", {}, "/", [])


def test_no_pool_running_means_a_fresh_start(tmp_path, monkeypatch):
    monkeypatch.setenv(pool.DIR_ENV, str(tmp_path / "p"))
    with pytest.raises(pool.PoolUnavailable, match="no pool at"):
        pool.hand_over(sys.executable, tmp_path / "job", {}, "/", [])
    assert not pool.running(sys.executable)
    assert (tmp_path / "p").stat().st_mode & 0o777 == 0o700


def test_the_pool_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("LEPTON_JOB_POOL")
    settings = load_settings()
    assert settings.job_pool is True
    assert load_settings(job_pool=False).job_pool is False
    for off in ("0", "false", "False"):
        monkeypatch.setenv("LEPTON_JOB_POOL", off)
        assert load_settings().job_pool is False
    monkeypatch.setenv("LEPTON_JOB_POOL", settings.to_env()["LEPTON_JOB_POOL"])
    assert load_settings().job_pool is True


def test_importing_jobs_in_a_kernel_loads_neither_torch_nor_sqlalchemy():
    # What a kernel does at the top of a notebook; the store and torch wait for a launch
    code = (
        "import sys\n"
        "import lepton_jupyter.jobs\n"
        "from lepton_jupyter import Job, jobs, launch, report\n"
        "print(sorted(m for m in ('torch', 'sqlalchemy', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_waiter_is_woken_by_a_change_of_the_store(tmp_path):
    store = JobStore(sqlite_url(tmp_path / "jobs.db"))
    spec = job_spec(store.url)
    store.create(spec, tmp_path / spec.id)
    with store.changes() as changes:
        # When another process (here a thread) moves the job while this one waits
        writer = threading.Thread(target=store.mark_running, args=(spec.id,))
        writer.start()
        # Then the waiter wakes on the write, long before its timeout
        assert changes.wait(120) is True
        writer.join()


def test_a_reader_leaves_an_ended_supervisor_to_its_parent_for_a_while(
    job_manager, store_job, monkeypatch
):
    # Given a running job whose supervisor ended and is not collected yet (a real zombie:
    # a child of this test that it does not wait for, as the pool holds one while it
    # records how it died)
    ended = subprocess.Popen(["true"])
    try:
        wait_for(lambda: pid_ending(ended.pid), 60, message="an uncollected child")
        spec = store_job(id="train-00000z")
        job_manager.store.mark_running(spec.id)
        job_manager.store.set_supervisor(spec.id, ended.pid)
        monkeypatch.setattr(supervision, "RECORDING_GRACE", 2.0)
        # When the job is read, Then it still runs: the parent records how it ended
        assert job_manager.get(spec.id).status is JobStatus.running
        # and a parent that never does is not waited for past the grace: the reader
        # records the end itself
        wait_for(lambda: job_manager.get(spec.id).status.ended, 60, message="the reader's record")
        info = job_manager.get(spec.id)
        assert info.status is JobStatus.failed and "killed or crashed" in info.error
    finally:
        ended.wait()
