"""Two teams on one real JupyterHub, set up by lepton's shipped ``jupyterhub_config.py``.

Real: JupyterHub and jupyterhub-idle-culler from PyPI, configurable-http-proxy from npm,
the registry as a managed hub service on PostgreSQL, single-user servers running lepton,
kernels in them, a DVC data registry, a lepton job. Substituted (see tests/fixtures/hub.py):
DummyAuthenticator for PAM and SimpleLocalProcessSpawner for per-user OS accounts, so every
user runs as root here and the shared cache's group permissions are not what is tested.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from lepton_jupyter.datasets.cache import FOLDER_MODE, objects_root
from lepton_jupyter.demo.world import create_data_registry
from tests.fixtures.accounts import protected_hardlinks
from tests.fixtures.datasets import IMAGES_PATH, make_registry
from tests.fixtures.hub import REGISTRY, RemoteKernel, auth
from tests.fixtures.processes import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DATASET = "datasets/points"


def _job_status(server: str, token: str, job_id: str) -> str:
    response = requests.get(f"{server}/lepton/api/jobs/{job_id}", headers=auth(token), timeout=30)
    response.raise_for_status()
    return response.json()["status"]


def test_two_teams_share_registry_and_data_cache_on_a_hub(hub):
    registry_api = f"{hub.url}/services/{REGISTRY}/lepton/api/registry"
    data = create_data_registry(hub.root / "data-registry", hub.root / "data-remote")
    release = hub.release

    # Given alice (hub group vision) in a kernel of her single-user server
    alice_server = hub.start_server("alice")
    alice = hub.tokens["alice"]
    kernel = RemoteKernel(alice_server, alice)
    # When she attaches the demo dataset, publishes vision/net and pins @prod
    out = kernel.run(
        f"""
        import json, os, time
        import torch
        import lepton_jupyter as lepton

        ds = lepton.attach({str(data)!r}, {DATASET!r}, rev="v2")
        torch.manual_seed(0)
        v = lepton.publish("vision/net", torch.nn.Linear(3, 2), metrics={{"acc": 0.9}})
        lepton.set_alias("vision/net", "prod", v.version)

        def hold(path, deadline=time.time() + 900):
            while not os.path.exists(path) and time.time() < deadline:
                time.sleep(0.5)

        job = lepton.launch(hold, {str(release)!r}, nprocs=1, name="keep-alive")
        print(json.dumps({{
            "registry": os.environ["LEPTON_REGISTRY_URL"],
            "cache": os.environ["LEPTON_DATA_CACHE"],
            "token": bool(os.environ.get("JUPYTERHUB_API_TOKEN")),
            "version": v.version,
            "folder": ds.local_path,
            "job": job.info.id,
        }}))
        """
    )
    alice_run = json.loads(out.strip().splitlines()[-1])
    # Then her kernel found the shared registry and cache in the spawner's environment
    assert alice_run["registry"] == hub.registry_url
    assert alice_run["cache"] == str(hub.root / "data-cache")
    assert alice_run["token"] and alice_run["version"] == 1
    # And her job runs (and will outlive the kernel, shut down next)
    wait_for(
        lambda: _job_status(alice_server, alice, alice_run["job"]) == "running",
        timeout=120,
        message="alice's job to run",
    )
    # And another user's token opens neither her server nor, through it, her registry
    bob = hub.tokens.setdefault("bob", hub.token_for("bob"))
    foreign = requests.get(
        f"{alice_server}/lepton/api/registry/models", headers=auth(bob), timeout=30
    )
    assert foreign.status_code == 403
    kernel.shutdown()
    alice_last_request = datetime.now(timezone.utc)

    # Given the registry admin (hub group lepton-admins) grants team nlp read access
    olga = hub.token_for("olga")
    granted = requests.post(
        f"{registry_api}/namespaces/vision/grants",
        headers=auth(olga),
        json={"role": "reader", "group": "nlp"},
        timeout=30,
    )
    assert granted.status_code == 201, granted.text
    # But a team maintainer may not grant: that is the admins' job on a hub
    refused = requests.post(
        f"{registry_api}/namespaces/vision/grants",
        headers=auth(alice),
        json={"role": "writer", "group": "nlp"},
        timeout=30,
    )
    assert refused.status_code == 403
    assert "needs the admin role; you are maintainer" in refused.json()["message"]

    # When bob (hub group nlp) opens his server
    bob_server = hub.start_server("bob")
    bob = hub.tokens["bob"]
    # Then his sidebar's REST shows the shared registry: alice's model, pinned
    listed = requests.get(f"{bob_server}/lepton/api/registry/models", headers=auth(bob), timeout=30)
    assert listed.status_code == 200, listed.text
    assert {m["name"]: m["aliases"] for m in listed.json()} == {"vision/net": {"prod": 1}}
    # And moving @prod from the sidebar is refused, naming the role needed
    moved = requests.put(
        f"{bob_server}/lepton/api/registry/models/vision/net/aliases/prod",
        headers=auth(bob),
        json={"version": 1},
        timeout=30,
    )
    assert moved.status_code == 403
    assert moved.json()["message"] == (
        "moving the protected alias 'prod' in 'vision' needs the maintainer role; you are reader."
    )
    # When he attaches the same dataset from the sidebar
    attached = requests.post(
        f"{bob_server}/lepton/api/datasets",
        headers=auth(bob),
        json={"url": str(data), "path": DATASET, "rev": "v2"},
        timeout=300,
    )
    assert attached.status_code == 201, attached.text
    # Then his files are links to the very objects alice's attach put in the shared cache
    bob_folder = Path(attached.json()["local_path"])
    alice_folder = Path(alice_run["folder"])
    assert bob_folder != alice_folder
    files = sorted(p.relative_to(bob_folder) for p in bob_folder.rglob("*") if p.is_file())
    assert files
    for name in files:
        mine, hers = (bob_folder / name).stat(), (alice_folder / name).stat()
        assert mine.st_ino == hers.st_ino
        assert mine.st_nlink >= 3  # the cache's object, alice's file, bob's file

    # Anonymous callers, forged tokens and tokens without the registry's scope are refused
    assert requests.get(f"{registry_api}/models", timeout=30).status_code == 403
    forged = requests.get(f"{registry_api}/models", headers=auth("x" * 32), timeout=30)
    assert forged.status_code == 403
    no_scope = hub.token_for("bob", scopes=["read:users:name!user=bob"])
    assert (
        requests.get(f"{registry_api}/models", headers=auth(no_scope), timeout=30).status_code
        == 403
    )

    # When bob, in a kernel, loads vision/net@prod and tries to publish or move @prod
    kernel = RemoteKernel(bob_server, bob)
    out = kernel.run(
        """
        import json
        import torch
        import lepton_jupyter as lepton
        from lepton_jupyter.errors import Forbidden

        state = lepton.load_state_dict("vision/net@prod")
        torch.manual_seed(0)
        same = torch.equal(state["weight"], torch.nn.Linear(3, 2).state_dict()["weight"])
        refusals = []
        for attempt in (
            lambda: lepton.publish("vision/net", torch.nn.Linear(3, 2)),
            lambda: lepton.set_alias("vision/net", "prod", 1),
            lambda: lepton.publish("shared/net", torch.nn.Linear(3, 2)),
        ):
            try:
                attempt()
                refusals.append(None)
            except Forbidden as e:
                refusals.append(str(e))
        mine = lepton.publish("nlp/tagger", torch.nn.Linear(2, 2))
        print(json.dumps({"same": same, "refusals": refusals, "mine": mine.ref}))
        """
    )
    kernel.shutdown()
    bob_run = json.loads(out.strip().splitlines()[-1])
    # Then he gets alice's tensors, and each refusal names the role or rule
    assert bob_run["same"] is True
    publish, pin, create = bob_run["refusals"]
    assert publish == "publishing to 'vision' needs the writer role; you are reader."
    assert pin == (
        "moving the protected alias 'prod' in 'vision' needs the maintainer role; you are reader."
    )
    assert "only members of the hub group 'shared'" in create
    # And his own team's namespace is created by his first publish
    assert bob_run["mine"] == "nlp/tagger:1"

    # When both leave their servers idle (bob's last request was just now, alice's earlier)
    bob_last_request = datetime.now(timezone.utc)
    # Then the culler stops bob's idle server
    wait_for(
        lambda: not hub.server_running("bob"),
        timeout=240,
        interval=2,
        message="the idle culler to stop bob's server",
    )
    culled = datetime.now(timezone.utc)
    assert culled - bob_last_request >= timedelta(seconds=60)
    # But alice's server, idle for longer, lives: her running job keeps it active
    assert culled - alice_last_request > timedelta(seconds=60)
    assert hub.server_running("alice")
    assert datetime.now(timezone.utc) - hub.last_activity("alice") < timedelta(seconds=60)
    assert _job_status(alice_server, alice, alice_run["job"]) == "running"

    release.touch()
    wait_for(
        lambda: _job_status(alice_server, alice, alice_run["job"]) == "succeeded",
        timeout=120,
        message="alice's job to finish",
    )
    assert os.path.isdir(bob_folder)  # culling a server keeps its user's files


def test_a_browser_logs_in_to_the_registry_through_the_hub(hub):
    """OAuth: a browser session of the hub opens the registry; its cookie alone cannot write."""
    session = requests.Session()
    # Given alice logged in to the hub in a browser
    session.get(f"{hub.url}/hub/login", timeout=30)
    login = session.post(
        f"{hub.url}/hub/login",
        data={"username": "alice", "password": "x", "_xsrf": session.cookies.get("_xsrf")},
        allow_redirects=False,  # to the spawn page: no server is needed for the registry
        timeout=60,
    )
    assert login.status_code == 302, login.text
    # When she opens the registry service's page
    page = session.get(f"{hub.url}/services/{REGISTRY}/", timeout=60)
    # Then the hub's OAuth brings her back as herself, with her groups
    assert page.status_code == 200, page.text
    assert page.json()["user"] == "alice" and page.json()["groups"] == ["vision"]
    api = f"{hub.url}/services/{REGISTRY}/lepton/api/registry"
    # And the REST API reads with the cookie
    assert session.get(f"{api}/models", timeout=30).json() == []
    # But a cookie-only write without the XSRF token is refused
    forged = session.post(
        f"{api}/namespaces/vision/grants", json={"role": "reader", "group": "nlp"}, timeout=30
    )
    assert forged.status_code == 403


def test_real_accounts_share_the_data_cache_and_cannot_change_each_others_data(
    accounts_hub, cache_members
):
    """The same hub with JupyterHub's LocalProcessSpawner: each server runs as a real
    account of one group (tests/fixtures/accounts.py), under fs.protected_hardlinks as the
    host has it."""
    hub, alice, bob = accounts_hub, cache_members.alice, cache_members.bob
    cache = hub.root / "data-cache"
    # Given the hub, started as root, made the cache's object folders: root's, 3775
    prefix = objects_root(cache) / "8c"
    assert prefix.stat().st_uid == 0 and stat.S_IMODE(prefix.stat().st_mode) == FOLDER_MODE
    data = make_registry(hub.root / "data", images=20)
    subprocess.run(["chmod", "-R", "a+rX", str(hub.root / "data")], check=True)
    cache_members.trust_repository(Path(data.url))
    url = data.url
    attach = """
        import json, os
        import lepton_jupyter as lepton
        try:
            ds = lepton.attach({url!r}, {path!r}, rev={rev!r})
            print(json.dumps([os.getuid(), ds.link_type, ds.hashed_objects]))
        except Exception as e:
            print(json.dumps([os.getuid(), type(e).__name__, str(e)]))
        """
    kernels = {}
    for account in (alice, bob):
        server = hub.start_server(account.name)
        kernels[account.name] = RemoteKernel(server, hub.tokens[account.name])

    def run(account, code: str) -> list:
        out = kernels[account.name].run(code)
        print(out)  # shown if the test fails
        return json.loads(out.strip().splitlines()[-1])

    try:
        # When alice, then bob, attach the same dataset from their kernels
        first = run(alice, attach.format(url=url, path=IMAGES_PATH, rev="v3"))
        second = run(bob, attach.format(url=url, path=IMAGES_PATH, rev="v3"))
        # Then each kernel runs as its own account; alice fetched and hard-linked, bob
        # hashed her 20 objects and their manifest once and linked them
        assert first == [alice.uid, "hardlink", 0]
        assert second == [bob.uid, "symlink" if protected_hardlinks() else "hardlink", 21]
        # When bob renames a file over one of alice's objects, and plants bytes under the
        # name of an object nobody fetched yet
        sample = Path(data.url) / IMAGES_PATH / "part000" / "000000.bin"
        theirs = objects_root(cache) / _md5_path(sample.read_bytes())
        train = Path(data.url) / "datasets" / "points" / "train.csv"
        planted = objects_root(cache) / _md5_path(train.read_bytes())
        tried = run(
            bob,
            f"""
            import json, os
            from pathlib import Path
            Path("evil").write_text("evil")
            try:
                os.rename("evil", {str(theirs)!r})
                renamed = "renamed"
            except PermissionError:
                renamed = "refused"
            Path({str(planted)!r}).write_text("evil")
            os.chmod({str(planted)!r}, 0o444)
            print(json.dumps([renamed]))
            """,
        )
        # Then the rename is refused, and alice's attach of the planted object is refused
        # naming it and bob, with nothing attached
        assert tried == ["refused"]
        refused = run(alice, attach.format(url=url, path="datasets/points", rev="v2"))
        assert refused[:2] == [alice.uid, "CacheObjectRefused"], refused
        assert str(planted) in refused[2] and f"owner {bob.name}" in refused[2]
        assert not (alice.home / "points").exists()
        assert not (alice.home / "points.dvc").exists()
    finally:
        for kernel in kernels.values():
            kernel.shutdown()


def _md5_path(content: bytes) -> str:
    digest = hashlib.md5(content).hexdigest()
    return f"{digest[:2]}/{digest[2:]}"
