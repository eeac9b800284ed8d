"""``lepton registry serve`` takes its token from the Authorization header only, and its
access log never prints a query string (a token there would be in every log line)."""

from __future__ import annotations

import json
import os
import sys
import uuid

import requests

from tests.e2e.test_fuzz import _start
from tests.fixtures.processes import stop_process, wait_for
from tests.fixtures.registry import free_port


def test_a_token_in_the_url_is_refused_and_never_logged(tmp_path):
    token = uuid.uuid4().hex
    (tmp_path / "tokens.json").write_text(json.dumps({token: {"user": "alice"}}))
    port = free_port()
    log = tmp_path / "server.log"
    cmd = [sys.executable, "-m", "lepton_jupyter.cli", "registry", "serve", "--access-log"]
    cmd += ["--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "--storage", str(tmp_path / "b")]
    cmd += ["--port", str(port), "--tokens", str(tmp_path / "tokens.json")]
    env = {**os.environ, "LEPTON_STATE_DIR": str(tmp_path / "state")}
    proc = _start(cmd, env, port, log)
    try:
        url = f"http://127.0.0.1:{port}/lepton/api/registry/models"
        # A token in the URL does not authenticate
        in_url = requests.get(url, params={"token": token}, timeout=30)
        assert in_url.status_code == 403 and in_url.json()["message"]
        # The header does
        ok = requests.get(url, headers={"Authorization": f"token {token}"}, timeout=30)
        assert ok.status_code == 200
        # And the access log has both requests, neither with the token
        wait_for(lambda: log.read_text().count("/lepton/api/registry/models") >= 2, timeout=30)
        assert token not in log.read_text()
    finally:
        stop_process(proc)
