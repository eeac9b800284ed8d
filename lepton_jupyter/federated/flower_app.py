"""The federation's Flower app: the ServerApp the SuperLink runs and the ClientApp every
organisation's SuperNode runs, each in Flower's own processes.

The ServerApp is told the :class:`~.schema.AggregatorPlan` and the notebook's functions
(run config); it never learns where any data lies. Each ClientApp learns its own data
folder from its SuperNode's node config, set by the organisation that started the node.
Rounds follow Flower's ``DefaultWorkflow`` (SecAgg+ replaces its fit step when asked);
per-round, per-organisation figures go to the job's metrics as they arrive.
"""

from __future__ import annotations

import base64
import json
import math
import os
import time
import traceback
from functools import cache
from pathlib import Path
from typing import Any

from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

from .schema import GLOBAL, AggregatorPlan
from .training import TrainContext, get_weights, set_weights, state_dict_of

#: Run config keys (the ServerApp and every ClientApp see them).
PLAN_KEY = "plan"
FUNCTIONS_KEY = "functions"
OUTPUT_KEY = "output-dir"
#: Node config keys (only the organisation's own ClientApp sees them).
ORGANISATION_KEY = "organisation"
DATA_KEY = "data-dir"
STATE_KEY = "state-dir"
#: Files the ServerApp writes in the output folder (the federation job's folder).
START_FILE = "start.pt"
AGGREGATE_FILE = "aggregate.pt"
REPORT_FILE = "aggregator.json"
ERROR_FILE = "aggregator-error.txt"


@cache
def _functions(payload: str) -> dict[str, Any]:
    import cloudpickle

    return cloudpickle.loads(base64.b64decode(payload))


# -- the organisations' side ---------------------------------------------------------------


class OrganisationClient(NumPyClient):
    """One organisation: trains and evaluates the notebook's functions on its own data."""

    def __init__(self, run_config: dict[str, Any], node_config: dict[str, Any]) -> None:
        self.plan = AggregatorPlan.model_validate_json(str(run_config[PLAN_KEY]))
        self.functions = _functions(str(run_config[FUNCTIONS_KEY]))
        self.organisation = str(node_config[ORGANISATION_KEY])
        self.data_dir = Path(str(node_config[DATA_KEY]))
        self.state_dir = Path(str(node_config[STATE_KEY]))

    def _model(self, parameters: list[Any]) -> Any:
        model = self.functions["build"]()
        set_weights(model, parameters)
        return model

    def _evaluate(self, model: Any) -> tuple[int, float, float]:
        """(examples, metric, loss) of the notebook's evaluate() on this organisation's data."""
        result = self.functions["evaluate"](model, self.data_dir)
        metric = self.plan.metric
        if not isinstance(result, dict) or metric not in result or "examples" not in result:
            raise ValueError(
                f"evaluate() must return a dict with 'examples' and {metric!r} (the federation's "
                f"metric); it returned {result!r}."
            )
        return int(result["examples"]), float(result[metric]), float(result.get("loss", 0.0))

    def fit(self, parameters: list[Any], config: dict[str, Any]) -> tuple[list[Any], int, dict]:
        server_round = int(config.get("round", 0))
        model = self._model(parameters)
        metrics: dict[str, Any] = {ORGANISATION_KEY: self.organisation}
        if server_round == 1:
            # The starting model on this organisation's data: what the federation must beat.
            metrics["start_examples"], metrics["start_metric"], _ = self._evaluate(model)
        context = TrainContext(
            organisation=self.organisation,
            round=server_round,
            config=dict(config),
            privacy=self.plan.privacy,
            state_dir=self.state_dir,
            global_weights=parameters,
        )
        result = self.functions["train"](model, self.data_dir, context)
        if not isinstance(result, dict) or "examples" not in result:
            raise ValueError(
                f"train() must return a dict with 'examples' (and 'loss'); it returned {result!r}."
            )
        examples = int(result["examples"])
        metrics["examples"] = examples
        metrics["train_loss"] = float(result.get("loss", math.nan))
        if self.plan.privacy is not None:
            metrics["epsilon"] = context.privacy_spent()
            metrics["delta"] = self.plan.privacy.delta
        return get_weights(model), examples, metrics

    def evaluate(
        self, parameters: list[Any], config: dict[str, Any]
    ) -> tuple[float, int, dict[str, Any]]:
        examples, value, loss = self._evaluate(self._model(parameters))
        return loss, examples, {ORGANISATION_KEY: self.organisation, self.plan.metric: value}


def _client_fn(context: Any) -> Any:
    return OrganisationClient(dict(context.run_config), dict(context.node_config)).to_client()


def _secure_aggregation_mod(message: Any, context: Any, call_next: Any) -> Any:
    """SecAgg+'s client side, for federations that asked for it."""
    plan = AggregatorPlan.model_validate_json(str(context.run_config[PLAN_KEY]))
    if plan.secure_aggregation is None:
        return call_next(message, context)
    return secaggplus_mod(message, context, call_next)


client_app = ClientApp(client_fn=_client_fn, mods=[_secure_aggregation_mod])


# -- the aggregator's side -----------------------------------------------------------------


class RoundRecorder:
    """Writes what each round's replies say to the job's metrics, and keeps the summary."""

    def __init__(self, plan: AggregatorPlan, output: Path, keys: list[str]) -> None:
        self.plan = plan
        self.output = output
        self.keys = keys
        self.index = {name: i for i, name in enumerate(plan.organisations)}
        self.rounds: dict[str, list[int]] = {name: [] for name in plan.organisations}
        self.examples: dict[str, int] = {}
        self.privacy: dict[str, dict[str, float]] = {}
        self.start: dict[str, tuple[int, float]] = {}
        self.round_metrics: dict[int, float] = {}
        self.round_aggregates: dict[int, str] = {}
        self.failures: dict[int, int] = {}

    def _report(self, server_round: int, organisation: str, **values: Any) -> None:

        from ..jobs.folder import JOB_DIR_ENV, JobFolder, append_line

        job_dir = os.environ.get(JOB_DIR_ENV)
        if not job_dir:
            return
        rank = self.index.get(organisation, len(self.index))
        record = {"rank": rank, "step": server_round, "time": time.time()}
        append_line(JobFolder(job_dir).metrics, {**record, "organisation": organisation, **values})

    def trained(self, server_round: int, results: list[Any], failures: list[Any]) -> None:
        for _, fit in results:
            metrics = dict(fit.metrics)
            name = str(metrics.get(ORGANISATION_KEY))
            examples = int(metrics.get("examples", fit.num_examples))
            self.rounds.setdefault(name, []).append(server_round)
            self.examples[name] = examples
            values: dict[str, Any] = {"examples": examples, "loss": metrics.get("train_loss")}
            if "epsilon" in metrics:
                self.privacy[name] = {
                    "epsilon": float(metrics["epsilon"]),
                    "delta": float(metrics["delta"]),
                }
                values["epsilon"] = float(metrics["epsilon"])
            if "start_metric" in metrics:
                self.start[name] = (int(metrics["start_examples"]), float(metrics["start_metric"]))
            self._report(server_round, name, **values)
        if failures:
            self.failures[server_round] = len(failures)
            self._report(server_round, GLOBAL, failed_organisations=len(failures))

    def aggregated(self, server_round: int, parameters: Any) -> None:
        if parameters is None:
            return
        import torch

        path = self.output / f"round-{server_round}.pt"
        torch.save(state_dict_of(self.keys, parameters_to_ndarrays(parameters)), path)
        self.round_aggregates[server_round] = str(path)

    def evaluated(self, server_round: int, results: list[Any]) -> float | None:
        metric = self.plan.metric
        total, weighted = 0, 0.0
        for _, res in results:
            name = str(res.metrics.get(ORGANISATION_KEY))
            value = float(res.metrics[metric])
            self._report(server_round, name, examples=res.num_examples, **{metric: value})
            total += res.num_examples
            weighted += res.num_examples * value
        if not total:
            return None
        value = weighted / total
        self.round_metrics[server_round] = value
        self._report(server_round, GLOBAL, **{metric: value})
        return value

    def start_metric(self) -> float | None:
        total = sum(n for n, _ in self.start.values())
        return sum(n * v for n, v in self.start.values()) / total if total else None

    def write(self) -> None:
        final = max(self.round_aggregates, default=None)
        aggregate = self.output / AGGREGATE_FILE
        if final is not None:
            aggregate.write_bytes(Path(self.round_aggregates[final]).read_bytes())
        report = {
            "rounds": self.rounds,
            "examples": self.examples,
            "privacy": self.privacy,
            "start_metric": self.start_metric(),
            "round_metrics": self.round_metrics,
            "round_aggregates": self.round_aggregates,
            "failures": self.failures,
            "aggregate": str(aggregate) if final is not None else None,
        }
        tmp = self.output / f".{REPORT_FILE}.tmp"
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(self.output / REPORT_FILE)


def recording_strategy(plan: AggregatorPlan, recorder: RoundRecorder, initial: Any) -> Any:
    """The named Flower strategy, its aggregations also recorded by ``recorder``."""
    from flwr.server import strategy as strategies

    base = getattr(strategies, plan.strategy)

    class Recording(base):  # type: ignore[misc, valid-type]
        def aggregate_fit(self, server_round: int, results: list, failures: list) -> Any:
            parameters, metrics = super().aggregate_fit(server_round, results, failures)
            recorder.trained(server_round, results, failures)
            recorder.aggregated(server_round, parameters)
            return parameters, metrics

        def aggregate_evaluate(self, server_round: int, results: list, failures: list) -> Any:
            loss, metrics = super().aggregate_evaluate(server_round, results, failures)
            value = recorder.evaluated(server_round, results)
            if value is not None:
                metrics = {**(metrics or {}), plan.metric: value}
            return loss, metrics

    needed = plan.min_organisations
    return Recording(
        **{
            "fraction_fit": 1.0,
            "fraction_evaluate": 1.0,
            "min_fit_clients": needed,
            "min_evaluate_clients": needed,
            "min_available_clients": needed,
            "initial_parameters": initial,
            "on_fit_config_fn": lambda server_round: {"round": server_round},
            "on_evaluate_config_fn": lambda server_round: {"round": server_round},
            **plan.strategy_options,
        }
    )


def _wait_for_nodes(grid: Any, count: int, timeout: float) -> None:
    """Start only once every organisation's node has joined (or fail naming how many)."""
    deadline = time.monotonic() + timeout
    while len(list(grid.get_node_ids())) < count:
        if time.monotonic() > deadline:
            joined = len(list(grid.get_node_ids()))
            raise TimeoutError(
                f"Only {joined} of {count} organisations' nodes joined within {timeout:.0f} s."
            )
        time.sleep(0.5)


server_app = ServerApp()


@server_app.main()
def _server_main(grid: Any, context: Any) -> None:
    output = Path(str(context.run_config[OUTPUT_KEY]))
    try:
        import torch

        plan = AggregatorPlan.model_validate_json(str(context.run_config[PLAN_KEY]))
        start = torch.load(output / START_FILE, map_location="cpu", weights_only=True)
        keys = list(start)
        initial = ndarrays_to_parameters(get_weights(start))
        recorder = RoundRecorder(plan, output, keys)
        strategy = recording_strategy(plan, recorder, initial)
        _wait_for_nodes(grid, len(plan.organisations), plan.start_timeout)
        secure = plan.secure_aggregation
        fit_workflow = None
        if secure is not None:
            count = len(plan.organisations)
            fit_workflow = SecAggPlusWorkflow(
                num_shares=secure.shares or count,
                reconstruction_threshold=secure.threshold or count // 2 + 1,
                clipping_range=secure.clipping_range,
                max_weight=secure.max_weight,
            )
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=plan.rounds), strategy=strategy
        )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
        recorder.write()
    except BaseException:
        (output / ERROR_FILE).write_text(traceback.format_exc())
        raise
