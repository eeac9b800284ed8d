"""The end of ``lepton demo``: the team moves on, then the first run is rerun exactly.

After the demo notebook's first run, :func:`demo_rerun_check` does what a team does in the
following months (publishes a newer model and moves ``@prod`` to it, tags new data on the
data registry's main branch), then reruns the first run and reports that its metrics are
identical and which pins held although the references they pin have moved.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Invalid
from ..runs.api import Run, get_run, rerun
from ..runs.diff import RunDiff

DEMO_POINTS = 2000  # v3 of the demo data: more points than v2's 1200


@dataclass
class RerunCheck:
    """What moved since the original run, and how its rerun compares."""

    original: Run
    rerun: Run
    diff: RunDiff
    moved: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.diff.identical

    def report(self) -> str:
        lines = [f"Since run {self.original.id}:"]
        lines += [f"  {m}" for m in self.moved]
        verdict = "identical" if self.diff.metrics_equal else "DIFFERENT"
        metrics = ", ".join(f"{m.name}={m.after!r}" for m in self.diff.metrics)
        lines.append(f"Rerun {self.rerun.id}: metrics {verdict} ({metrics})")
        for pin in self.diff.pins:
            if pin.kind not in ("dataset", "model"):
                continue
            resolved = pin.after or pin.before or {}
            what = resolved.get("commit") or resolved.get("version")
            lines.append(f"  pin {pin.kind} {pin.label} -> {what}: {pin.status}")
        for pub in self.diff.published:
            answer = "yes" if pub.reproduced else "NO"
            lines.append(f"  model {pub.name}:{pub.version} bytes reproduced: {answer}")
        if self.diff.not_applied:
            lines.append(f"  not applied (dry run): {'; '.join(self.diff.not_applied)}")
        if not self.identical:
            lines.append(self.diff.summary())
        lines.append(f"Rerun {self.rerun.id}: {'identical' if self.identical else 'DIFFERENT'}")
        return "\n".join(lines)


def _publish_newer(pin: dict[str, Any]) -> str:
    """Publish a changed copy of the pinned model version and move ``@prod`` to it."""
    from ..registry import api as registry

    name = pin["name"]
    ref = f"{name}:{pin['version']}"
    version = registry.resolve(ref)
    if version.kind == "state_dict":
        state = registry.load_state_dict(ref)
        newer: Any = {
            k: v + 0.01 if getattr(v, "is_floating_point", lambda: False)() else v
            for k, v in state.items()
        }
        published = registry.publish(name, newer, description="demo: a newer model")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            source = registry.load(ref)
            copy = Path(tmp) / source.name
            if source.is_dir():
                shutil.copytree(source, copy)
                (copy / "NEWER").write_text("a newer version\n")
            else:
                copy.write_bytes(source.read_bytes() + b"\n")
            published = registry.publish(name, copy, description="demo: a newer model")
    registry.set_alias(name, "prod", published.version)
    return f"{name}@prod moved from version {pin['version']} to {published.version}"


def _tag_new_data(pin: dict[str, Any], tag: str) -> str:
    """Commit more points to the data registry's main branch and tag them ``tag``."""
    from dvc.repo import Repo

    from .world import write_points

    root = Path(pin["url"])
    if not (root / ".git").exists():
        raise Invalid(f"Data registry {pin['url']} is not a local git repo the demo can tag.")
    target = root / pin["path"]
    write_points(target, DEMO_POINTS, seed=DEMO_POINTS)
    with Repo(str(root)) as repo:
        repo.add(str(target))
        repo.push()
        repo.scm.add([f"{target}.dvc"])
        repo.scm.commit(f"{pin['path']}: {DEMO_POINTS} samples")
        repo.scm.tag(tag, annotated=True, message=f"{pin['path']} {tag}")
        commit = repo.scm.get_rev()
    return f"{pin['path']} tagged {tag} at {commit[:12]} on main (was {pin['commit'][:12]})"


def demo_rerun_check(
    run_id: str, *, tag: str = "v3", parameters: dict[str, Any] | None = None
) -> RerunCheck:
    """Move ``@prod`` and tag new data, then rerun ``run_id`` and compare.

    The run must have loaded a model through an alias and attached a dataset from a local
    data registry (the demo notebook does both). ``parameters`` override the recorded ones.
    The rerun is a dry run: its publish step records the digest it would have published
    (the diff says whether the model bytes were reproduced) and the registry stays as it was.
    """
    original = get_run(run_id)
    models = [e for e in original.pins if e["kind"] == "model"]
    datasets = [e for e in original.pins if e["kind"] == "dataset"]
    if not models or not datasets:
        raise Invalid(
            f"Run {run_id} resolved {len(models)} model alias(es) and {len(datasets)} "
            "dataset(s); the demo check needs at least one of each."
        )
    moved = [_publish_newer(models[0]), _tag_new_data(datasets[0], tag)]
    again = rerun(run_id, parameters=parameters)
    return RerunCheck(original=original, rerun=again, diff=again.diff(), moved=moved)
