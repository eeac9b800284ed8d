"""A federated round's overhead: lepton's ``federate()`` against a plain Flower app run the
way Flower's quickstart examples run (Message API ``FedAvg.start``, ``@app.train`` /
``@app.evaluate``), on the same SuperLink + 3 SuperNodes on loopback, same data, model and
training.

Both runs start their processes the same way (``flower-superlink --insecure``,
``flower-supernode`` per organisation, ``flwr run``) and stamp the time each round's
evaluation is aggregated. Printed: the median round (between consecutive aggregations) and
the time from start to the end of round 1, for each, and the ratios lepton / Flower.

Run: ``python benchmarks/federated.py [--rounds 4]`` from the repository root (it uses the
test fixtures' three organisations and task). Goal: a round <= 1.2x Flower's.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fixtures import federated as fx

FLOWER_APP = '''\
"""Flower's quickstart shape: FedAvg.start in the ServerApp, a ClientApp per message type."""
import json, time
from pathlib import Path

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from tests.fixtures import federated as fx


class Ctx:
    def __init__(self, round):
        self.round = round

    def private(self, model, optimizer, loader):
        return model, optimizer, loader

    def proximal_term(self, model):
        return 0.0


app = ClientApp()


def _model(msg):
    model = fx.build()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    return model


@app.train()
def train(msg: Message, context: Context) -> Message:
    model = _model(msg)
    ctx = Ctx(msg.content["config"]["server-round"])
    out = fx.train(model, Path(context.node_config["data-dir"]), ctx)
    metrics = MetricRecord({"train_loss": out["loss"], "num-examples": out["examples"]})
    content = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": metrics})
    return Message(content=content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    out = fx.evaluate(_model(msg), Path(context.node_config["data-dir"]))
    metrics = MetricRecord({"accuracy": out["accuracy"], "num-examples": out["examples"]})
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)


server = ServerApp()


class Stamped(FedAvg):
    def aggregate_evaluate(self, server_round, replies):
        result = super().aggregate_evaluate(server_round, replies)
        with open(self.stamps, "a") as f:
            f.write(json.dumps({"round": server_round, "time": time.time()}) + "\\n")
        return result


@server.main()
def main(grid: Grid, context: Context) -> None:
    n = int(context.run_config["nodes"])
    while len(list(grid.get_node_ids())) < n:
        time.sleep(0.5)
    strategy = Stamped(min_train_nodes=n, min_evaluate_nodes=n, min_available_nodes=n)
    strategy.stamps = context.run_config["stamps"]
    model = fx.build()
    strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()),
                   num_rounds=int(context.run_config["rounds"]))
'''


def run_flower(world: fx.Federation, rounds: int, folder: Path) -> tuple[float, list[float]]:
    """The plain Flower app on its own SuperLink and SuperNodes; (start, round stamps)."""
    import tomli_w

    from lepton_jupyter.federated.runner import FLOWER_ENV, app_pyproject, free_port

    app = folder / "app"
    app.mkdir(parents=True)
    (app / "flower_quickstart.py").write_text(FLOWER_APP)
    stamps = folder / "stamps.jsonl"
    config = {"rounds": rounds, "nodes": len(world.workspaces), "stamps": str(stamps)}
    pyproject = app_pyproject(config)
    pyproject["tool"]["flwr"]["app"]["components"] = {
        "serverapp": "flower_quickstart:server",
        "clientapp": "flower_quickstart:app",
    }
    (app / "pyproject.toml").write_text(tomli_w.dumps(pyproject))
    home = folder / "home"
    home.mkdir()
    port = free_port()
    (home / "config.toml").write_text(
        tomli_w.dumps(
            {
                "superlink": {
                    "default": "local",
                    "local": {"address": f"127.0.0.1:{port}", "insecure": True},
                }
            }
        )
    )
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        **FLOWER_ENV,
        "FLWR_HOME": str(home),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "OMP_NUM_THREADS": "1",
    }
    started = time.time()
    processes = [
        subprocess.Popen(
            [str(bin_dir / "flower-superlink"), "--insecure", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for name, workspace in world.workspaces.items():
            node = folder / name
            node.mkdir()
            (node / "config.toml").write_text(tomli_w.dumps({"data-dir": str(workspace / "data")}))
            processes.append(
                subprocess.Popen(
                    [
                        str(bin_dir / "flower-supernode"),
                        "--insecure",
                        "--superlink",
                        f"127.0.0.1:{port}",
                        "--port",
                        str(free_port()),
                        "--node-config",
                        str(node / "config.toml"),
                    ],
                    env={**env, "FLWR_HOME": str(node)},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for _ in range(600):  # the SuperLink's port, which flwr run needs
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.2)
        subprocess.run([str(bin_dir / "flwr"), "run", str(app), "local"], env=env, check=True)
        while not stamps.exists() or len(stamps.read_text().splitlines()) < rounds:
            time.sleep(0.5)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
    return started, [json.loads(line)["time"] for line in stamps.read_text().splitlines()]


def run_lepton(world: fx.Federation, rounds: int) -> tuple[float, list[float]]:
    from lepton_jupyter.federated import federate

    started = time.time()
    fed = federate(
        world.start_ref, fx.build, fx.train, fx.evaluate, world.organisations(), rounds=rounds
    )
    fed.summary(timeout=3600)
    stamps = [m["time"] for m in fed.metrics() if m["organisation"] == "(global)"]
    return started, stamps


def describe(label: str, started: float, stamps: list[float]) -> tuple[float, float]:
    rounds = [b - a for a, b in itertools.pairwise(stamps)]
    median = statistics.median(rounds)
    first = stamps[0] - started
    print(
        f"{label:8s} to round 1 {first:6.1f} s; round median {median:5.1f} s "
        f"({', '.join(f'{r:.1f}' for r in rounds)})"
    )
    return first, median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="lepton-bench-federated-"))
    os.environ["LEPTON_STATE_DIR"] = str(root / "state")
    os.environ["LEPTON_CACHE_LINK_TYPES"] = "copy"
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    (root / "notebook").mkdir()
    os.chdir(root / "notebook")
    try:
        world = fx.make_federation(root)
        flower = describe("flower", *run_flower(world, args.rounds, root / "flower"))
        lepton = describe("lepton", *run_lepton(world, args.rounds))
        print(
            f"ratio lepton/flower: round {lepton[1] / flower[1]:.2f}x, to round 1 "
            f"{lepton[0] / flower[0]:.2f}x (load {os.getloadavg()[0]:.1f})"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
