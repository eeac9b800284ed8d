"""The federation service: check a federation before anything starts, make its plan, and
turn a finished one into a registry version's lineage. No web framework in here.

Checks, all before any process starts: the ``[federated]`` extra is installed, the
strategy is one of Flower's by name with options it takes, every organisation's dataset is
attached in its own workspace, and every organisation's user holds the writer role on the
organisation's namespace (an organisation contributes only its own namespace's data).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from ..errors import Forbidden, Invalid, did_you_mean
from .schema import (
    AggregatorPlan,
    DatasetPin,
    DifferentialPrivacy,
    FederationPlan,
    FederationSummary,
    NodePlan,
    Organisation,
    SecureAggregation,
)

EXTRA_HINT = "pip install 'lepton-jupyter[federated]'"
#: Writing to an organisation's namespace is what makes a user one of its members.
MEMBER_ROLE = "writer"


class MissingExtra(Invalid):
    """Federated training needs the optional dependencies (Flower, Opacus)."""


def require_extra(privacy: bool = False) -> None:
    """Raise :class:`MissingExtra` naming the extra when Flower (or Opacus) is missing."""
    import importlib

    missing = []
    for name in ("flwr", *(("opacus",) if privacy else ())):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtra(
            f"Federated training needs {' and '.join(missing)}, which are not installed: "
            f"{EXTRA_HINT}"
        )


def strategy_names() -> list[str]:
    """Flower's strategies that aggregate model updates as FedAvg does, by name."""
    from flwr.server import strategy as strategies

    return sorted(
        name
        for name, cls in vars(strategies).items()
        if inspect.isclass(cls)
        and issubclass(cls, strategies.FedAvg)
        and not name.startswith(("DP", "Differential", "FedXgb", "FaultTolerant"))
        and "Android" not in name
    )


#: Options lepton sets itself from the federation (organisations, rounds, the start).
OWN_OPTIONS = frozenset(
    {
        "fraction_fit",
        "fraction_evaluate",
        "min_fit_clients",
        "min_evaluate_clients",
        "min_available_clients",
        "initial_parameters",
        "on_fit_config_fn",
        "on_evaluate_config_fn",
        "evaluate_fn",
        "fit_metrics_aggregation_fn",
        "evaluate_metrics_aggregation_fn",
    }
)


def check_strategy(name: str, options: dict[str, Any]) -> str:
    """The strategy's canonical name; Invalid for an unknown one or an option it lacks."""
    from flwr.server import strategy as strategies

    known = strategy_names()
    by_lower = {n.lower(): n for n in known}
    canonical = by_lower.get(name.lower())
    if canonical is None:
        raise Invalid(
            f"Unknown strategy {name!r}; Flower's by name: {', '.join(known)}."
            + did_you_mean(name, known)
        )
    parameters = inspect.signature(getattr(strategies, canonical)).parameters
    ours = sorted(OWN_OPTIONS & set(options))
    if ours:
        raise Invalid(f"strategy_options {ours} are set by the federation itself.")
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        takes = sorted(set(parameters) - OWN_OPTIONS - {"self", "kwargs"})
        raise Invalid(f"{canonical} takes no option {unknown}; it takes {takes}.")
    required = [
        p
        for p, spec in parameters.items()
        if spec.default is inspect.Parameter.empty
        and spec.kind is inspect.Parameter.KEYWORD_ONLY
        and p not in options
        and p not in OWN_OPTIONS
    ]
    if required:
        raise Invalid(f"{canonical} needs strategy_options {required}.")
    return canonical


def check_member(organisation: Organisation) -> None:
    """The organisation's user must hold the writer role on the organisation's namespace."""
    from ..registry.access import role_rank
    from ..registry.client import DirectClient, current_principal, get_client
    from ..registry.identity import Principal
    from ..settings import load_settings

    me = current_principal().user
    user = organisation.user or me
    if user == me:
        client = get_client()
    else:
        settings = load_settings()
        if settings.registry_url:
            raise Forbidden(
                f"Organisation {organisation.name!r}: its node would act as {user!r}, but this "
                f"kernel speaks to the registry as {me!r}; {user!r} must start its own node."
            )
        client = DirectClient(settings, Principal(user=user))
    role = client.role_of(organisation.name)
    if role_rank(role) < role_rank(MEMBER_ROLE):
        has = f"is {role}" if role else "has no role there (or it does not exist)"
        raise Forbidden(
            f"Organisation {organisation.name!r}: {user!r} {has}; contributing an "
            f"organisation's data needs the {MEMBER_ROLE} role on its namespace "
            f"{organisation.name!r}."
        )


def node_plan(organisation: Organisation) -> NodePlan:
    """Find the organisation's attached dataset in its own workspace; Invalid if it is not."""
    from ..datasets.api import attached

    workspace = Path(organisation.workspace).expanduser().resolve()
    if not workspace.is_dir():
        raise Invalid(f"Organisation {organisation.name!r}: no workspace folder {workspace}.")
    found = attached(workspace=workspace)
    wanted = (workspace / organisation.dataset).resolve()
    if not wanted.is_relative_to(workspace):
        raise Invalid(
            f"Organisation {organisation.name!r}: dataset {organisation.dataset!r} lies "
            f"outside its workspace {workspace}."
        )
    for dataset in found:
        folder = (workspace / dataset.to).resolve()
        if folder == wanted:
            return NodePlan(
                organisation=organisation.name,
                workspace=str(workspace),
                data_dir=str(folder),
                user=organisation.user,
                dataset=DatasetPin(
                    url=dataset.url, path=dataset.path, rev=dataset.rev, commit=dataset.commit
                ),
            )
    names = [d.to for d in found]
    raise Invalid(
        f"Organisation {organisation.name!r}: no dataset is attached at "
        f"{organisation.dataset!r} in {workspace} (attached there: {names or 'none'}). "
        f"attach(url, path, to=..., workspace=...) it first."
        + did_you_mean(organisation.dataset, names)
    )


def make_plan(
    *,
    organisations: list[Organisation],
    start: dict[str, Any],
    rounds: int,
    strategy: str,
    strategy_options: dict[str, Any],
    metric: str,
    privacy: DifferentialPrivacy | None,
    secure_aggregation: SecureAggregation | None,
    min_organisations: int | None,
) -> FederationPlan:
    """Check everything and make the plan; raises before anything is started."""
    require_extra(privacy=privacy is not None)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise Invalid(f"rounds must be an integer of at least 1, got {rounds!r}.")
    if len(organisations) < 2:
        raise Invalid(f"A federation needs at least 2 organisations, got {len(organisations)}.")
    names = [o.name for o in organisations]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise Invalid(f"Organisations named twice: {twice}.")
    count = len(organisations)
    needed = count if min_organisations is None else min_organisations
    if isinstance(needed, bool) or not isinstance(needed, int) or not 1 <= needed <= count:
        raise Invalid(f"min_organisations must be between 1 and {count}, got {needed!r}.")
    if secure_aggregation is not None:
        if count < 3:
            raise Invalid("SecAgg+ needs at least 3 organisations (shares and a threshold).")
        threshold = secure_aggregation.threshold or count // 2 + 1
        if threshold > (secure_aggregation.shares or count):
            raise Invalid("SecAgg+'s threshold cannot exceed its number of shares.")
    canonical = check_strategy(strategy, strategy_options)
    nodes = [node_plan(o) for o in organisations]
    for organisation in organisations:
        check_member(organisation)
    aggregator = AggregatorPlan(
        rounds=rounds,
        strategy=canonical,
        strategy_options=strategy_options,
        organisations=names,
        min_organisations=needed,
        metric=metric,
        privacy=privacy,
        secure_aggregation=secure_aggregation,
    )
    return FederationPlan(aggregator=aggregator, nodes=nodes, start=start)


def publication_lineage(
    summary: FederationSummary, plan: FederationPlan, job_id: str
) -> dict[str, Any]:
    """What the aggregate's lineage adds to the publishing kernel's: the starting version
    and one parent per organisation (organisation, dataset url + commit, examples, rounds,
    DP budget), the federation's job, and the strategy."""
    start = {key: plan.start.get(key) for key in ("ref", "name", "version", "digest")}
    parents: list[dict[str, Any]] = [{"kind": "model", **start}]
    for report in summary.organisations:
        parents.append(
            {
                "kind": "organisation",
                "organisation": report.organisation,
                "dataset": report.dataset.model_dump(),
                "examples": report.examples,
                "rounds": report.rounds,
                "privacy": report.privacy,
            }
        )
    aggregator = plan.aggregator
    return {
        # The organisations' data is in their parents; the kernel's attachments are not it.
        "datasets": [],
        "parents": parents,
        "jobs": [job_id],
        "federation": {
            "job": job_id,
            "strategy": aggregator.strategy,
            "strategy_options": aggregator.strategy_options,
            "rounds": aggregator.rounds,
            "min_organisations": aggregator.min_organisations,
            "secure_aggregation": summary.secure_aggregation,
            "privacy": aggregator.privacy.model_dump() if aggregator.privacy else None,
            "metric": aggregator.metric,
        },
    }


def pickle_functions(**functions: Any) -> bytes:
    """The notebook's functions by value (cloudpickle), as ``launch`` ships a target."""
    import cloudpickle

    try:
        return cloudpickle.dumps(functions)
    except Exception as e:
        raise Invalid(
            f"Cannot send the notebook's functions to the organisations: they cannot be "
            f"pickled ({e}). Create such objects inside the functions instead."
        ) from e
