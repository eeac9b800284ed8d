"""schemathesis against both servers: ``lepton registry serve`` (the registry's REST API)
and a Jupyter server with the extension (every route: status, datasets, jobs, runs,
compare and its in-server registry), each a real process with a real token, each fuzzed
with the OpenAPI document it serves at ``GET /lepton/api/openapi.json``.

Every generated request (valid and invalid by the OpenAPI document) must get no 5xx, a
response that conforms to the document where it describes one, and for an error a JSON
body with a ``message``. Bounded: a few examples per operation, a couple of minutes on
two cores.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from lepton_jupyter.handlers import openapi as server_openapi
from lepton_jupyter.registry import openapi as registry_openapi
from lepton_jupyter.registry.blobs import BlobStore, StatCache
from lepton_jupyter.registry.service import Principal, RegistryService
from lepton_jupyter.registry.store import SqlRegistryStore
from tests.fixtures.processes import stop_process, wait_for
from tests.fixtures.registry import free_port, one_file_request

EXAMPLES = int(os.environ.get("LEPTON_FUZZ_EXAMPLES", "15"))


def _seed(db_url: str, storage: Path, state: Path, user: str) -> None:
    """One model with two versions and an alias, so generated refs can hit real rows."""
    store = SqlRegistryStore(db_url)
    service = RegistryService(store, BlobStore(str(storage), StatCache(state / "seed.db")))
    me = Principal(user)
    for i in (1, 2):
        source = state / f"seed-{i}.bin"
        source.write_bytes(f"seed {i}".encode())
        service.publish(me, f"{user}/net", one_file_request(service, me, source, alias="staging"))
    store.dispose()


def _listening(proc: subprocess.Popen, port: int, log: Path) -> bool:
    if proc.poll() is not None:
        raise RuntimeError(f"server exited: {log.read_text()}")
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _start(cmd: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    wait_for(lambda: _listening(proc, port, log), timeout=120, message=f"{cmd[2:4]} to listen")
    return proc


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """``lepton registry serve`` -> (base URL, alice's token)."""
    root = tmp_path_factory.mktemp("fuzz-standalone")
    token = uuid.uuid4().hex
    (root / "tokens.json").write_text(json.dumps({token: {"user": "alice", "groups": []}}))
    db_url, storage = f"sqlite:///{root / 'db.sqlite'}", root / "blobs"
    _seed(db_url, storage, root, "alice")
    port = free_port()
    env = {**os.environ, "LEPTON_STATE_DIR": str(root / "state")}
    cmd = [sys.executable, "-m", "lepton_jupyter.cli", "registry", "serve", "--db", db_url]
    cmd += ["--storage", str(storage), "--port", str(port), "--tokens", str(root / "tokens.json")]
    proc = _start(cmd, env, port, root / "server.log")
    yield f"http://127.0.0.1:{port}", token
    stop_process(proc)


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A Jupyter server with the extension (its in-server registry) -> (base URL, token)."""
    import getpass

    root = tmp_path_factory.mktemp("fuzz-jupyter")
    state = root / "state"
    state.mkdir()
    _seed(f"sqlite:///{state / 'registry.db'}", state / "blobs", state, getpass.getuser())
    token, port = uuid.uuid4().hex, free_port()
    env = {**os.environ, "LEPTON_STATE_DIR": str(state)}
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    cmd += ["--ServerApp.jpserver_extensions={'lepton_jupyter': True}", "--allow-root"]
    proc = _start(cmd, env, port, root / "server.log")
    yield f"http://127.0.0.1:{port}", token
    stop_process(proc)


def _served_document(base_url: str, token: str, module) -> dict:
    """The document the server serves: the committed one of its module."""
    url = f"{base_url}/lepton/api/openapi.json"
    assert requests.get(url, timeout=60).status_code == 403  # authenticated, as every route
    document = requests.get(url, headers={"Authorization": f"token {token}"}, timeout=60).json()
    assert document == json.loads(Path(module.__file__).with_name("openapi.json").read_text())
    return document


def _fuzz(base_url: str, token: str, module) -> dict[str, int]:
    """Every operation of the document, valid then invalid inputs; cases sent per mode."""
    api = schemathesis.openapi.from_dict(_served_document(base_url, token, module))
    sent = {"positive": 0, "negative": 0}
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in schemathesis.GenerationMode:
            _run(operation.as_strategy(generation_mode=mode), base_url, token, sent, mode.value)
    return sent


def _run(strategy, base_url: str, token: str, sent: dict[str, int], mode: str) -> None:
    from hypothesis import given

    @given(case=strategy)
    @FUZZ
    def run(case) -> None:
        sent[mode] += 1
        _check(case, base_url, token)

    run()


def _check(case, base_url: str, token: str) -> None:
    response = case.call(base_url=base_url, headers={"Authorization": f"token {token}"}, timeout=60)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400 and response.content:
        what = f"{response.status_code} {response.text[:300]!r} for {case.as_curl_command()}"
        try:
            payload = json.loads(response.content)
        except ValueError:
            pytest.fail(f"error body is not JSON: {what}")
        assert isinstance(payload, dict) and payload.get("message"), what


FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
)


def test_lepton_registry_serve(standalone):
    sent = _fuzz(*standalone, registry_openapi)
    print(f"lepton registry serve: {sent} cases")
    assert sent["positive"] and sent["negative"]


def test_jupyter_server(jupyter):
    sent = _fuzz(*jupyter, server_openapi)
    print(f"jupyter server: {sent} cases")
    assert sent["positive"] and sent["negative"]
