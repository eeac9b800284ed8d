"""The warm attach from a registry given as a remote git URL (``datasets/mirror.py``): a shared
bare mirror kept with libgit2 answers it without DVC. Real git + DVC registries reached over
``file://`` (libgit2 and DVC treat it as a remote: clone and fetch, never opened in place), a
real shared cache, real processes racing, the real ``dvc`` CLI as the witness. Real local
servers stand for remotes that stall (a socket that accepts and never answers) or ask for
credentials (HTTP 401); pruning runs the real ``prune-mirrors`` command beside a real process
using a mirror.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.server
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from lepton_jupyter.datasets import DatasetService, prune_mirrors
from lepton_jupyter.datasets.attaching import RevisionMoved
from lepton_jupyter.datasets.mirror import MirroredRegistry, mirror_path
from lepton_jupyter.errors import NotFound
from lepton_jupyter.settings import load_settings
from tests.fixtures.datasets import IMAGES_PATH, dvc, force_cold_attach, warm_up
from tests.fixtures.processes import http_server
from tests.fixtures.runs import git

POINTS = "datasets/points"
HEAVY = {"dvc", "dvc_data", "dvc_objects", "scmrepo", "dulwich"}

ATTACH_IN_A_NEW_PROCESS = (
    "import json, sys\n"
    "from lepton_jupyter import attach\n"
    "r = attach(sys.argv[1], sys.argv[2], rev=sys.argv[3], progress=False)\n"
    "print(json.dumps({'files': r.files, 'commit': r.commit, 'loaded': sorted({m.split('.')[0] "
    "for m in sys.modules})}))\n"
)


def _bare_copy(registry_url: str, where: Path) -> str:
    """A bare clone of the registry (what a git server holds), as a ``file://`` URL."""
    git("clone", "-q", "--bare", registry_url, str(where), cwd=where.parent)
    return f"file://{where}"


def _warm_workspace(path: Path, filled_cache: Path) -> Path:
    path.mkdir()
    warm_up(load_settings().data_cache, filled_cache, path)
    return path


@pytest.fixture
def fetches(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The commits the mirror went to the network for."""
    seen: list[str | None] = []
    fetch = MirroredRegistry._fetch

    def counted(self, wanted):
        seen.append(wanted)
        return fetch(self, wanted)

    monkeypatch.setattr(MirroredRegistry, "_fetch", counted)
    return seen


def _attach_in_a_new_process(ws: Path, url: str, path: str, rev: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", ATTACH_IN_A_NEW_PROCESS, url, path, rev],
        cwd=ws,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out.splitlines()[-1])


def test_a_remote_registry_attaches_in_a_new_process_without_dvc_as_dvc_would(
    data_registry, filled_cache, tmp_path, monkeypatch
):
    # Given a registry on a git server (file://) and workspaces on a cache holding its data
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    warm_ws = _warm_workspace(tmp_path / "warm", filled_cache)
    cold_ws = _warm_workspace(tmp_path / "cold", filled_cache)
    # When a new Python process attaches from the URL
    report = _report(_attach_in_a_new_process(warm_ws, url, IMAGES_PATH, "v3"))
    # Then no DVC package was imported, the files are there, at the tag's commit
    assert HEAVY.isdisjoint(report["loaded"]), HEAVY.intersection(report["loaded"])
    assert report["commit"] == data_registry.tags["v3"]
    assert report["files"] == len(list((warm_ws / "images").rglob("*.bin"))) > 0
    # And the .dvc file is the one `dvc import` (DVC's path) writes for the same call
    force_cold_attach(monkeypatch)
    DatasetService(cold_ws).attach(url, IMAGES_PATH, rev="v3")
    assert (warm_ws / "images.dvc").read_text() == (cold_ws / "images.dvc").read_text()
    # And DVC sees a standard, up-to-date import
    assert json.loads(dvc("status", "--json", cwd=warm_ws).stdout or "{}") == {}
    # And the mirror is shared with the cache's group (folders setgid, group-writable)
    mirror = mirror_path(load_settings().data_cache, url)
    assert (mirror.stat().st_mode & 0o7777) == 0o2775
    assert (mirror.parent.stat().st_mode & 0o7777) == 0o2775
    lock = mirror.with_suffix(".lock")
    assert (lock.stat().st_mode & 0o777) == 0o664


def test_a_floating_rev_that_moved_upstream_is_fetched(
    fresh_registry, tmp_path, monkeypatch, warm_calls, fetches
):
    # Given a remote registry attached once at main (the mirror made then)
    url = _bare_copy(fresh_registry.url, tmp_path / "server.git")
    first = tmp_path / "first"
    first.mkdir()
    old = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="images")
    fetched_before = len(fetches)
    # And main moved on the server, the new version's objects already in the shared cache
    # (another user attached it straight from the registry's folder, not through the mirror)
    new_commit = fresh_registry.add_dataset(IMAGES_PATH, 12, seed=7)
    git("push", "-q", str(tmp_path / "server.git"), "HEAD:main", cwd=Path(fresh_registry.url))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    DatasetService(elsewhere).attach(fresh_registry.url, IMAGES_PATH, rev="main")
    # When main is attached from the URL into a new destination
    warm_calls.clear()
    new = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="latest")
    # Then the warm path fetched the moved branch and attached its new commit
    assert warm_calls == ["latest"]
    assert fetches[fetched_before:] == [new_commit]
    assert new.commit == new_commit != old.commit
    assert len(list((first / "latest").rglob("*.bin"))) == 12
    # And the destination locked at the old commit keeps it, told that main moved
    with pytest.warns(RevisionMoved, match=new_commit[:12]):
        again = DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="images")
    assert again.commit == old.commit
    assert warm_calls == ["latest", "images"]
    # And an unmoved branch costs no fetch
    DatasetService(first).attach(url, IMAGES_PATH, rev="main", to="latest-again")
    assert fetches[fetched_before:] == [new_commit]


def test_a_pinned_commit_attaches_with_the_server_gone(
    data_registry, filled_cache, tmp_path, monkeypatch, warm_calls
):
    # Given a remote registry whose mirror holds v2, and a workspace holding points@v1
    server = tmp_path / "server.git"
    url = _bare_copy(data_registry.url, server)
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    service = DatasetService(ws)
    service.attach(url, POINTS, rev="v1")
    shutil.rmtree(ws / "points")
    # When the server is unreachable
    shutil.rmtree(server)
    # Then a commit pinned by its id attaches from the mirror, warm
    pinned = service.attach(url, POINTS, rev=data_registry.tags["v2"], to="pinned")
    assert pinned.commit == data_registry.tags["v2"]
    # And the locked import at the destination is made whole (upstream unknown, no warning)
    kept = service.attach(url, POINTS, rev="v1")
    assert kept.commit == data_registry.tags["v1"] and kept.upstream_commit is None
    assert len(list((ws / "points").iterdir())) == 2
    assert warm_calls == ["points", "pinned", "points"]
    # But a floating rev needs the server: DVC's path says it cannot reach it, as before
    with pytest.raises(NotFound, match="not found or unreachable"):
        service.attach(url, POINTS, rev="v2", to="floating")
    assert not (ws / "floating").exists()


def test_two_processes_attaching_first_share_one_mirror(data_registry, filled_cache, tmp_path):
    # Given a remote registry no one has mirrored yet and two warm workspaces
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    workspaces = [_warm_workspace(tmp_path / f"ws{i}", filled_cache) for i in range(2)]
    # When two new processes attach from it at the same time
    procs = [_attach_in_a_new_process(ws, url, IMAGES_PATH, "main") for ws in workspaces]
    reports = [_report(p) for p in procs]
    # Then both attached the same commit without DVC, each whole
    for ws, report in zip(workspaces, reports, strict=True):
        assert HEAVY.isdisjoint(report["loaded"]), HEAVY.intersection(report["loaded"])
        assert report["commit"] == data_registry.commit_of("main")
        assert len(list((ws / "images").rglob("*.bin"))) == report["files"]
    # And one mirror was built, nothing half-built left beside it
    mirrors = mirror_path(load_settings().data_cache, url).parent
    assert sorted(p.name for p in mirrors.iterdir() if p.suffix == ".git") == [
        mirror_path(load_settings().data_cache, url).name
    ]
    assert not [p for p in mirrors.iterdir() if p.name.startswith((".building-", ".broken-"))]


def test_a_colleagues_clone_attaches_warm_from_the_mirror(
    data_registry, filled_cache, tmp_path, warm_calls
):
    # Given a project (git) that attached from a remote registry and committed the import
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    mine = tmp_path / "mine"
    mine.mkdir()
    git("init", "-q", cwd=mine)
    warm_up(load_settings().data_cache, filled_cache, mine)
    DatasetService(mine).attach(url, POINTS, rev="v2")
    git("add", "-A", cwd=mine)
    git("commit", "-qm", "points v2", cwd=mine)
    # When a colleague clones it (no data, no .dvc/config.local) and runs the same cell
    theirs = tmp_path / "theirs"
    git("clone", "-q", str(mine), str(theirs), cwd=tmp_path)
    result = DatasetService(theirs).attach(url, POINTS, rev="v2")
    # Then the warm path made the folder whole at the locked commit
    assert warm_calls == ["points", "points"]
    assert result.commit == data_registry.tags["v2"]
    assert sorted(p.name for p in (theirs / "points").iterdir()) == sorted(
        p.name for p in (mine / "points").iterdir()
    )
    assert json.loads(dvc("status", "--json", cwd=theirs).stdout or "{}") == {}


def _drop_packs(mirror: Path) -> None:
    for pack in (mirror / "objects" / "pack").iterdir():
        pack.unlink()


def _redirect(mirror: Path) -> None:
    with open(mirror / "config", "a") as f:
        f.write('[url "file:///nowhere/"]\n\tinsteadOf = file:///\n')


def _half_built(mirror: Path) -> None:
    shutil.rmtree(mirror)
    (mirror / "objects").mkdir(parents=True)
    (mirror / "HEAD").write_text("garbage")


def _truncate_packs(mirror: Path) -> None:
    for pack in (mirror / "objects" / "pack").glob("*.pack"):
        os.chmod(pack, 0o644)
        pack.write_bytes(pack.read_bytes()[:40])


@pytest.mark.parametrize("damage", [_drop_packs, _redirect, _half_built, _truncate_packs])
def test_a_damaged_mirror_is_rebuilt(data_registry, filled_cache, tmp_path, warm_calls, damage):
    # Given a remote registry's mirror, then damaged
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    DatasetService(ws).attach(url, POINTS, rev="v1", to="before")
    damage(mirror_path(load_settings().data_cache, url))
    # When the next attach reads it
    result = DatasetService(ws).attach(url, POINTS, rev="v2", to="after")
    # Then the mirror was rebuilt and the attach stayed warm and right
    mirror = pygit2.Repository(str(mirror_path(load_settings().data_cache, url)))
    assert mirror[data_registry.tags["v2"]].type_str == "commit"
    assert not [entry.name for entry in mirror.config if entry.name.startswith("url.")]
    assert warm_calls == ["before", "after"]
    assert result.commit == data_registry.tags["v2"]
    assert len(list((ws / "after").iterdir())) == 2


@pytest.mark.parametrize(
    ("path", "rev"), [(POINTS, "no-such-tag"), ("datasets/nothing", "v1"), (POINTS, "abcdef12")]
)
def test_a_bad_rev_or_dataset_gets_dvcs_error(
    data_registry, filled_cache, tmp_path, monkeypatch, path, rev
):
    # Given a remote registry and a warm workspace
    url = _bare_copy(data_registry.url, tmp_path / "server.git")
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    # When a bad rev or an unknown dataset is attached, with and without the warm path
    with pytest.raises(NotFound) as warm_error:
        DatasetService(ws).attach(url, path, rev=rev)
    force_cold_attach(monkeypatch)
    with pytest.raises(NotFound) as cold_error:
        DatasetService(ws).attach(url, path, rev=rev)
    # Then the error is DVC's path's, naming what was wrong; nothing was attached
    assert str(warm_error.value) == str(cold_error.value)
    assert (rev if "no-such" in rev or "abc" in rev else path) in str(warm_error.value)
    assert not [p for p in ws.glob("*.dvc") if p.is_file()]


@contextlib.contextmanager
def _stalling_server() -> Iterator[str]:
    """A git server's address that accepts connections and never answers; closed after."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/registry.git"
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(30)
        for conn in accepted:
            conn.close()


@contextlib.contextmanager
def _http_server(status: int) -> Iterator[tuple[str, list[str]]]:
    """A git server over HTTP answering every request with ``status`` (401 asks for
    credentials); its URL and the User-Agent of each request (libgit2's or DVC's dulwich)."""
    agents: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            agents.append(self.headers.get("User-Agent", ""))
            self.send_response(status)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    with http_server(Handler) as url:
        yield f"{url}/registry.git", agents


def test_a_registry_that_stops_answering_fails_the_attach_naming_it(filled_cache, tmp_path):
    # Given a git server that accepts connections and never answers, and a 2 s timeout
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    env = {**os.environ, "LEPTON_DATA_REGISTRY_TIMEOUT": "2"}
    with _stalling_server() as url:
        # When a new process (a notebook's kernel) attaches from it
        proc = subprocess.Popen(
            [sys.executable, "-c", ATTACH_IN_A_NEW_PROCESS, url, POINTS, "v1"],
            cwd=ws,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail("the attach hung on a registry that never answers")
    # Then it failed once the remote had been silent for the timeout, naming the URL (DVC's
    # path, which would wait as long as the connection lasts, was not taken)
    assert proc.returncode != 0
    assert "RegistryTimeout" in err and f"{url} did not answer within 2 s" in err, err
    assert "data_registry_timeout" in err
    assert not [p for p in ws.glob("*.dvc") if p.is_file()] and not (ws / "points").exists()
    assert not mirror_path(load_settings().data_cache, url).exists()


def _lepton_records(
    caplog: pytest.LogCaptureFixture, text: str, level: int = logging.DEBUG
) -> list[logging.LogRecord]:
    """What lepton logged (at ``level`` or above) that holds ``text``."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("lepton_jupyter") and r.levelno >= level and text in r.getMessage()
    ]


def test_a_registry_asking_for_credentials_takes_dvcs_path_said_once(
    filled_cache, tmp_path, caplog, warm_calls
):
    # Given a registry server that asks for credentials, and a warm workspace
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    with _http_server(401) as (url, agents), caplog.at_level(logging.DEBUG):
        # When two attaches from it run in this process
        for to in ("first", "second"):
            with pytest.raises(NotFound, match="not found or unreachable"):
                DatasetService(ws).attach(url, POINTS, rev="v1", to=to)
    # Then libgit2 asked once; both attaches took DVC's path (which has the user's git
    # credentials; here it has none, and says the registry is unreachable)
    assert sum("libgit2" in agent for agent in agents) == 1, agents
    assert sum("dulwich" in agent for agent in agents) >= 2, agents
    assert warm_calls == []
    # And the fall-back was said once, as a warning naming the registry
    said = _lepton_records(caplog, "asks for credentials", logging.WARNING)
    assert len(said) == 1
    assert url in said[0].getMessage() and "DVC's path" in said[0].getMessage()
    assert not mirror_path(load_settings().data_cache, url).exists()


def test_credentials_in_a_registry_url_reach_no_log_and_no_mirror(
    filled_cache, tmp_path, caplog, warm_calls
):
    # Given a registry URL that carries credentials (a token as password)
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    with _http_server(404) as (plain, agents), caplog.at_level(logging.DEBUG):
        url = plain.replace("http://", "http://alice:s3cret-token@")
        # When two attaches from it run
        for to in ("first", "second"):
            with pytest.raises(NotFound):
                DatasetService(ws).attach(url, POINTS, rev="v1", to=to)
    # Then the mirror never contacted it (its credentials would land in the mirror's
    # FETCH_HEAD); DVC's path did
    assert not [agent for agent in agents if "libgit2" in agent]
    assert [agent for agent in agents if "dulwich" in agent]
    assert warm_calls == []
    # And the fall-back was said once, the credentials masked, in no lepton log at all
    said = _lepton_records(caplog, "carries credentials", logging.WARNING)
    assert len(said) == 1
    assert "http://***@127.0.0.1:" in said[0].getMessage()
    assert not _lepton_records(caplog, "s3cret")
    # And nothing under the shared cache's mirrors holds them
    mirrors = mirror_path(load_settings().data_cache, url).parent
    files = [p for p in mirrors.rglob("*") if p.is_file()] if mirrors.exists() else []
    assert not [p for p in files if b"s3cret" in p.read_bytes()]


HOLD_MIRROR = (
    "import sys\n"
    "from pathlib import Path\n"
    "from lepton_jupyter.datasets.mirror import MirroredRegistry\n"
    "registry = MirroredRegistry(Path(sys.argv[1]), sys.argv[2], 30.0)\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
)


def test_unused_mirrors_are_pruned_but_never_one_in_use(
    data_registry, filled_cache, tmp_path, warm_calls
):
    # Given three remote registries, each attached (and so mirrored) once
    cache = load_settings().data_cache
    ws = _warm_workspace(tmp_path / "ws", filled_cache)
    urls = [_bare_copy(data_registry.url, tmp_path / f"server{i}.git") for i in range(3)]
    for i, url in enumerate(urls):
        DatasetService(ws).attach(url, POINTS, rev="v1", to=f"points{i}")
    mirrors = [mirror_path(cache, url) for url in urls]
    # And another process using the second mirror right now, a fetch holding the third's
    # lock, and all three last used 40 days ago
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_MIRROR, str(cache), urls[1]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    fetching = os.open(mirrors[2].with_suffix(".lock"), os.O_RDONLY)
    try:
        assert holder.stdout.readline().strip() == "holding"
        fcntl.flock(fetching, fcntl.LOCK_EX)
        long_ago = time.time() - 40 * 86400
        for mirror in mirrors:
            os.utime(mirror.with_suffix(".used"), (long_ago, long_ago))
        # When the cache's mirrors are pruned from the CLI (default: unused for 30 days)
        out = subprocess.run(
            [sys.executable, "-m", "lepton_jupyter.datasets", "prune-mirrors", "--json"],
            cwd=ws,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        # Then only the mirror no one uses went
        assert [p["path"] for p in json.loads(out.stdout)] == [str(mirrors[0])]
        assert not mirrors[0].exists() and mirrors[1].is_dir() and mirrors[2].is_dir()
    finally:
        os.close(fetching)
        holder.communicate(input="", timeout=60)  # its stdin closed: it lets go and ends
    # And once their users are done, the others go too; nothing is left half-removed
    assert [p.path for p in prune_mirrors()] == sorted(str(m) for m in mirrors[1:])
    assert not [p for p in mirrors[0].parent.iterdir() if p.suffix == ".git" or p.is_dir()]
    # And a mirror used recently stays, whatever pruning asks
    DatasetService(ws).attach(urls[0], POINTS, rev="v2", to="again")
    assert prune_mirrors() == [] and mirrors[0].is_dir()
    assert warm_calls[-1] == "again"  # the next attach mirrored its registry again, warm
