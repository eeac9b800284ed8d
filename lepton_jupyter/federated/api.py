"""What notebooks call: ``federate`` and the :class:`Federation` it returns.

A federation is a job (``jobs()``, the Jobs panel, the monitor, ``cancel``) whose only
rank runs Flower's SuperLink and one SuperNode per organisation; its result is the
federation's summary, and :meth:`Federation.publish` makes the aggregate a registry version
with one lineage parent per organisation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import Invalid
from ..jobs.api import Job
from .schema import (
    PLAN_FILE,
    DifferentialPrivacy,
    FederationPlan,
    FederationSummary,
    Organisation,
    SecureAggregation,
)

RUNNER = "lepton_jupyter.federated.runner:run"


class Federation(Job):
    """A federation's job, plus what only a federation has: its summary and publishing."""

    @property
    def plan(self) -> FederationPlan:
        from pathlib import Path

        return FederationPlan.model_validate_json((Path(self.folder) / PLAN_FILE).read_text())

    def summary(self, timeout: float | None = None) -> FederationSummary:
        """Per round, the aggregate's evaluation; per organisation, what it contributed
        (waits for the federation to end)."""
        return FederationSummary.model_validate(self.result(timeout))

    def rounds(self) -> list[dict[str, Any]]:
        """What the rounds reported so far, per organisation: examples, train loss, the
        evaluation metric (``organisation="(global)"``: the weighted aggregate)."""
        return [{k: v for k, v in m.items() if k not in ("rank", "time")} for m in self.metrics()]

    def publish(
        self,
        name: str,
        round: int | None = None,
        alias: str | None = None,
        description: str | None = None,
    ) -> Any:
        """Publish the aggregate (of ``round``, default the last) as the next version of
        ``name``; needs the writer role on its namespace. The lineage names the starting
        version, one parent per organisation, and the strategy."""
        import torch

        from ..registry.api import publish
        from .service import publication_lineage

        summary = self.summary()
        if round is None:
            path = summary.aggregate
        elif round in summary.round_aggregates:
            path = summary.round_aggregates[round]
        else:
            raise Invalid(
                f"Federation {self.id} has no aggregate of round {round}; it has rounds "
                f"{sorted(summary.round_aggregates)}."
            )
        metric = summary.round_metrics.get(round or max(summary.round_metrics, default=0))
        metrics = {} if metric is None else {summary.metric: metric}
        if summary.start_metric is not None:
            metrics[f"start_{summary.metric}"] = summary.start_metric
        organisations = [o.organisation for o in summary.organisations]
        return publish(
            name,
            torch.load(path, map_location="cpu", weights_only=True),
            metrics=metrics,
            params={
                "strategy": summary.strategy,
                "rounds": summary.rounds,
                "organisations": organisations,
            },
            description=description
            or f"{summary.strategy} across {len(organisations)} organisations",
            alias=alias,
            lineage=publication_lineage(summary, self.plan, self.id),
        )

    def __repr__(self) -> str:
        info = self.info
        return f"<Federation {info.id} {info.status.value}>"


def _options(cls: type[Any], values: dict[str, Any], label: str) -> Any:
    """``cls(**values)``, or Invalid naming the option that is wrong."""
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as e:
        wrong = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise Invalid(f"Bad {label} options: {wrong}.") from None


def _organisations(organisations: Any) -> list[Organisation]:
    if not isinstance(organisations, list | tuple):
        raise Invalid("organisations must be a list of Organisation(...) (or dicts).")
    out = []
    for item in organisations:
        if isinstance(item, Organisation):
            out.append(item)
        elif isinstance(item, dict):
            out.append(_options(Organisation, item, f"organisation {item.get('name')!r}"))
        else:
            raise Invalid(f"An organisation is an Organisation(...) or a dict, not {item!r}.")
    return out


def federate(
    model: str,
    build: Callable[[], Any],
    train: Callable[..., dict[str, Any]],
    evaluate: Callable[..., dict[str, Any]],
    organisations: list[Organisation | dict[str, Any]],
    *,
    rounds: int = 3,
    strategy: str = "FedAvg",
    strategy_options: dict[str, Any] | None = None,
    metric: str = "accuracy",
    privacy: DifferentialPrivacy | dict[str, Any] | None = None,
    secure_aggregation: SecureAggregation | dict[str, Any] | bool | None = None,
    min_organisations: int | None = None,
    name: str | None = None,
) -> Federation:
    """Train ``model`` (a registry ref, ``"vision/net@prod"``) across ``organisations`` on
    Flower for ``rounds`` rounds, as a job.

    Each organisation's node runs in its own workspace on the dataset attached there:
    ``train(model, data_dir, ctx)`` returns ``{"examples": n, "loss": x}`` and
    ``evaluate(model, data_dir)`` returns ``{"examples": n, metric: x}``; ``build()`` makes
    the architecture the starting version's weights go into. ``ctx.private(model,
    optimizer, loader)`` applies Opacus DP-SGD when ``privacy`` is set;
    ``ctx.proximal_term(model)`` is FedProx's term. ``strategy`` is one of Flower's by name
    (FedAvg, FedProx, FedAdam, ...). A node that dies is dropped as Flower specifies while
    ``min_organisations`` (default: all) remain; below that the federation fails.
    """
    from ..jobs.api import launch
    from ..registry.api import load, resolve
    from .service import make_plan, pickle_functions, require_extra

    require_extra()
    orgs = _organisations(organisations)
    if isinstance(privacy, dict):
        privacy = _options(DifferentialPrivacy, privacy, "privacy")
    if secure_aggregation is True:
        secure_aggregation = SecureAggregation()
    elif isinstance(secure_aggregation, dict):
        secure_aggregation = _options(SecureAggregation, secure_aggregation, "secure_aggregation")
    elif secure_aggregation is False:
        secure_aggregation = None
    for label, fn in (("build", build), ("train", train), ("evaluate", evaluate)):
        if not callable(fn):
            raise Invalid(f"{label} must be a function, got {type(fn).__name__}.")
    version = resolve(model)
    start_file = load(model)
    if start_file.is_dir():
        raise Invalid(f"{model!r} is a folder; a federation starts from a state_dict version.")
    plan = make_plan(
        organisations=orgs,
        start={
            "ref": version.ref,
            "asked": model,
            "name": version.name,
            "version": version.version,
            "digest": version.digest,
            "file": str(start_file),
        },
        rounds=rounds,
        strategy=strategy,
        strategy_options=dict(strategy_options or {}),
        metric=metric,
        privacy=privacy,
        secure_aggregation=secure_aggregation,
        min_organisations=min_organisations,
    )
    job = launch(
        RUNNER,
        plan=json.loads(plan.model_dump_json()),
        functions=pickle_functions(build=build, train=train, evaluate=evaluate),
        name=name or f"federation-{version.name.rsplit('/', 1)[-1]}",
        gpus=0,
    )
    return Federation(job.id)
