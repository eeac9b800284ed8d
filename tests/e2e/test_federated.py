"""Federated training on Flower's deployment engine: a real SuperLink and one real SuperNode
per organisation, each its own process on loopback, three organisations each on its own
DVC dataset attached in its own workspace; the aggregate published with a parent per
organisation; DP (Opacus) and SecAgg+ runs; a node killed mid-round; cancel.

Flower's nodes poll every few seconds and every ClientApp call is a fresh process, so a
round costs tens of seconds on 2 cores: the runs are short (few rounds, tiny data).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from lepton_jupyter import jobs, lineage, load_state_dict
from lepton_jupyter.errors import Forbidden
from lepton_jupyter.federated import federate
from lepton_jupyter.jobs.folder import job_processes
from lepton_jupyter.jobs.schema import JobFailed, JobStatus
from lepton_jupyter.widgets.registry import lineage_nodes
from tests.fixtures import federated as fx
from tests.fixtures.processes import pid_alive, wait_for

pytestmark = pytest.mark.slow
TIMEOUT = 900


def _start(world: fx.Federation, **options):
    options.setdefault("rounds", 1)
    return federate(
        world.start_ref,
        fx.build,
        options.pop("train", fx.train),
        fx.evaluate,
        world.organisations(),
        **options,
    )


def test_fedavg_over_three_organisations_improves_and_publishes_with_a_parent_each(
    federation_world,
):
    world = federation_world
    # Given three organisations, each with its own dataset attached in its own workspace
    # When they federate the badly initialised starting model with FedAvg for 3 rounds
    fed = _start(world, rounds=3)
    summary = fed.summary(timeout=TIMEOUT)
    # Then it is a job like any other, and it succeeded
    assert fed.status is JobStatus.succeeded
    assert [j.id for j in jobs()] == [fed.id]
    # and the global evaluation improved over the starting model's
    assert summary.strategy == "FedAvg" and sorted(summary.round_metrics) == [1, 2, 3]
    assert summary.start_metric is not None and summary.start_metric < 0.5
    assert summary.round_metrics[3] > summary.start_metric + 0.3
    # and every round reported, per organisation, its examples, train loss and evaluation
    reports = fed.rounds()
    for name in fx.ORGANISATIONS:
        trained = [r for r in reports if r["organisation"] == name and "loss" in r]
        evaluated = [r for r in reports if r["organisation"] == name and "accuracy" in r]
        assert [r["step"] for r in trained] == [1, 2, 3]
        assert [r["step"] for r in evaluated] == [1, 2, 3]
        assert all(r["examples"] > 0 for r in trained)
    assert [r["step"] for r in reports if r["organisation"] == "(global)"] == [1, 2, 3]
    # and the aggregator (the ServerApp's run config) never saw a data path
    app_config = (Path(fed.folder) / "app" / "pyproject.toml").read_text()
    for workspace in world.workspaces.values():
        assert str(workspace) not in app_config
    # and the SuperLink and SuperNodes were real processes, all gone once the job ended
    logs = Path(fed.folder) / "logs"
    assert "Starting Flower SuperLink" in (logs / "superlink.log").read_text()
    for name in fx.ORGANISATIONS:
        assert "Starting Flower SuperNode" in (logs / f"node-{name}.log").read_text()
    # (the supervisor records the end, then exits)
    wait_for(lambda: not job_processes(fed.folder), 30, message="no process of the job left")

    # When the aggregate is published
    version = fed.publish("clinics/net-federated", alias="staging")
    # Then its lineage has the starting version, one parent per organisation, the strategy
    graph = lineage(version.ref)
    (start,) = [p for p in graph.parents if p["kind"] == "model"]
    assert start["ref"] == world.start_ref
    organisations = {p["organisation"]: p for p in graph.parents if p["kind"] == "organisation"}
    assert sorted(organisations) == list(fx.ORGANISATIONS)
    for name, parent in organisations.items():
        assert parent["dataset"]["url"] == world.data_registry
        assert parent["dataset"]["path"] == f"datasets/{name}"
        assert len(parent["dataset"]["commit"]) == 40
        assert parent["rounds"] == [1, 2, 3] and parent["examples"] > 0
    assert fed.id in graph.jobs
    drawn = "\n".join(lineage_nodes(graph)[0])  # the model card's lineage graph
    commit = organisations["clinic-a"]["dataset"]["commit"][:8]
    assert f"organisation clinic-a\ndatasets/clinic-a @ {commit}" in drawn
    federation = version.lineage["federation"]
    assert federation["strategy"] == "FedAvg" and federation["rounds"] == 3
    # and the published weights are the final aggregate's
    published = load_state_dict(version.ref)
    final = torch.load(summary.aggregate, weights_only=True)
    assert published.keys() == final.keys() == {"weight", "bias"}
    assert all(torch.equal(published[k], final[k]) for k in final)
    assert version.metrics["accuracy"] == summary.round_metrics[3]


def test_a_member_without_writer_cannot_contribute_or_publish(federation_world, monkeypatch):
    world = federation_world
    # Given clinic-b's node would act as a user with no role on clinic-b's namespace
    organisations = world.organisations(**{"clinic-b": {"user": "mallory"}})
    # When the federation is started, Then it is refused before anything starts
    with pytest.raises(Forbidden, match=r"'clinic-b'.*'mallory' has no role there.*writer"):
        federate(world.start_ref, fx.build, fx.train, fx.evaluate, organisations, rounds=1)
    assert jobs() == []


def test_differential_privacy_records_each_organisations_epsilon(federation_world):
    world = federation_world
    # When the organisations train with DP-SGD (Opacus) for one round
    fed = _start(world, privacy={"noise_multiplier": 1.1, "max_grad_norm": 1.0, "delta": 1e-5})
    summary = fed.summary(timeout=TIMEOUT)
    # Then each organisation's budget is recorded, and travels into the lineage
    for report in summary.organisations:
        assert report.privacy is not None
        assert 0 < report.privacy["epsilon"] < 100 and report.privacy["delta"] == 1e-5
    version = fed.publish("clinics/net-private")
    parents = [p for p in version.lineage["parents"] if p["kind"] == "organisation"]
    assert all(p["privacy"]["epsilon"] > 0 for p in parents)
    assert version.lineage["federation"]["privacy"]["noise_multiplier"] == 1.1


def test_secure_aggregation_round_completes(federation_world):
    world = federation_world
    # When the round's updates are summed under Flower's SecAgg+
    fed = _start(world, secure_aggregation=True)
    summary = fed.summary(timeout=TIMEOUT)
    # Then the round completes with every organisation's update in the aggregate
    assert summary.secure_aggregation
    assert all(r.rounds == [1] for r in summary.organisations)
    assert summary.round_metrics[1] > summary.start_metric
    log = (Path(fed.folder) / "logs" / "superlink.log").read_text()
    assert fed.status is JobStatus.succeeded and "superlink" in log.lower()


def _node_pid(fed, organisation: str) -> int:
    """The PID of an organisation's SuperNode (its command line names its config file)."""
    config = str(Path(fed.folder) / "nodes" / organisation / "node-config.toml")
    for pid in job_processes(fed.folder):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if config.encode() in cmdline and any(b"flower-supernode" in c for c in cmdline):
            return pid
    return 0


def test_a_node_killed_mid_round_is_dropped_and_the_others_finish(federation_world):
    world = federation_world
    # Given clinic-c stalls in round 2, and two organisations suffice
    fed = _start(world, rounds=2, train=fx.train_stalling_at_clinic_c, min_organisations=2)
    marker = world.workspaces["clinic-c"] / "round-2-started"
    wait_for(marker.exists, timeout=TIMEOUT, interval=1, message="clinic-c's round 2")
    # When clinic-c's SuperNode is killed mid-round
    pid = wait_for(lambda: _node_pid(fed, "clinic-c"), timeout=30, message="clinic-c's node")
    os.kill(pid, signal.SIGKILL)
    # Then Flower drops it (its heartbeat lapses) and the round finishes with the others
    summary = fed.summary(timeout=TIMEOUT)
    rounds = {r.organisation: r.rounds for r in summary.organisations}
    assert rounds == {"clinic-a": [1, 2], "clinic-b": [1, 2], "clinic-c": [1]}
    assert "clinic-c" in fed.logs() and "exited" in fed.logs()
    wait_for(lambda: not job_processes(fed.folder), 30, message="no process of the job left")


def test_losing_more_nodes_than_allowed_fails_clearly(federation_world):
    world = federation_world
    # Given every organisation is needed, and clinic-c stalls in round 1
    fed = _start(world, train=fx.train_stalling_at_clinic_c_round_1)
    marker = world.workspaces["clinic-c"] / "round-1-started"
    wait_for(marker.exists, timeout=TIMEOUT, interval=1, message="clinic-c's round 1")
    # When its node is killed
    pid = wait_for(lambda: _node_pid(fed, "clinic-c"), timeout=30, message="clinic-c's node")
    os.kill(pid, signal.SIGKILL)
    # Then the federation fails at once, naming the organisation and the rule
    with pytest.raises(JobFailed, match=r"clinic-c \(exit -9\).*fewer than min_organisations=3"):
        fed.wait(timeout=120)
    wait_for(lambda: not job_processes(fed.folder), 30, message="no process of the job left")


def test_cancel_leaves_no_process(federation_world):
    world = federation_world
    # Given a federation whose organisations are all training
    fed = _start(world, train=fx.stalling_train)
    for workspace in world.workspaces.values():
        wait_for((workspace / "round-1-started").exists, timeout=TIMEOUT, interval=1)
    started = job_processes(fed.folder)
    assert len(started) >= 1 + 1 + 3  # supervisor, rank, SuperLink, SuperNodes, ClientApps
    # When it is cancelled
    assert fed.cancel() is JobStatus.cancelled
    # Then no process of it is left: SuperLink, SuperNodes, Flower's own subprocesses
    assert job_processes(fed.folder) == []
    assert not any(pid_alive(pid) for pid in started)
    assert fed.status is JobStatus.cancelled
