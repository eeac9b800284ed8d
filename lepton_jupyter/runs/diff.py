"""What changed between two runs: what each computed, apart from how it was presented.

What a run computed: parameters (declared defaults included), pins, metrics (within a
tolerance), the digests of the models it published, and cell outputs. Cells are compared
on normalised outputs (``manifest.normalized_outputs``): execution counts, timings,
display ids, stderr and widget views are not differences. Outputs that differ only by
volatile presentation (each run's own run id and job ids, timestamps) are listed apart,
under ``presentation``, and do not make two runs different. Papermill's injected parameter
cell is left out on both sides; a parameter change shows under ``parameters`` instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from ..pins import PIN_KINDS, resolution
from .manifest import normalized_outputs
from .outcome import cell_label
from .parameters import INJECTED_TAG, encode
from .schema import Manifest

PinStatus = Literal["held", "changed", "missing", "new"]


class ParameterChange(BaseModel):
    name: str
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        return f"parameter {self.name}: {self.before!r} -> {self.after!r}"


class PinDiff(BaseModel):
    """One floating reference: did the second run resolve it as the first did?"""

    kind: str
    key: str
    status: PinStatus = Field(
        description="held: same resolution; changed: different; missing: only the first run "
        "resolved it; new: only the second did."
    )
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """What a person calls it: ``datasets/points@main``, a model ref as written (the
        ledger's key of a dataset joins url, path and rev with ``|``; of a browse, url and
        rev)."""
        parts = self.key.split("|")
        if self.kind == "dataset" and len(parts) == 3:
            return f"{parts[1]}@{parts[2] or 'default'}"
        if self.kind == "browse" and len(parts) == 2:
            return f"{parts[0]}@{parts[1]}" if parts[1] else parts[0]
        return self.key

    def describe(self) -> str:
        """'dataset datasets/points@main: changed commit a1.. -> commit b2..'."""
        return f"{self.kind} {self.label}: {self.status}{_pin_detail(self)}"


class MetricDiff(BaseModel):
    name: str
    before: Any = None
    after: Any = None
    abs_diff: float | None = None
    rel_diff: float | None = None
    equal: bool


class CellDiff(BaseModel):
    """A cell whose source or outputs differ, named as papermill names cells (see outcome.py)."""

    index: int = Field(
        description="Position in the executed notebook (the second run's when it has the "
        "cell), the injected parameters cell counted, as papermill's cell_index."
    )
    label: str = Field(default="", description="'In [N]': the cell as papermill shows it.")
    source: str = Field(description="First line of the cell's source, to recognise it.")
    source_changed: bool
    outputs_changed: bool
    before: str = Field(default="", description="Text of the first run's outputs (shortened).")
    after: str = Field(default="", description="Text of the second run's outputs (shortened).")


class PublishDiff(BaseModel):
    """One model publish of the first run and its counterpart in the second (by order)."""

    name: str
    version: int | None = Field(default=None, description="The version the first run made.")
    before: str | None = Field(default=None, description="Digest the first run published.")
    after: str | None = Field(
        default=None, description="Digest the second run published, or would have (dry run)."
    )
    applied: bool = Field(default=True, description="Whether the second run really published.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reproduced(self) -> bool:
        """The model bytes are the same: the check no registry offers."""
        return self.before is not None and self.before == self.after


class RunDiff(BaseModel):
    before: str = Field(description="Id of the first run (the original).")
    after: str = Field(description="Id of the second run (the rerun).")
    mode: Literal["dry-run", "apply"] | None = Field(
        default=None, description="The second run's rerun mode: 'dry-run' or 'apply'."
    )
    abs_tol: float = 0.0
    rel_tol: float = 0.0
    notebook_changed: bool = False
    parameters: list[ParameterChange] = Field(default_factory=list)
    pins: list[PinDiff] = Field(default_factory=list)
    metrics: list[MetricDiff] = Field(default_factory=list)
    published: list[PublishDiff] = Field(default_factory=list)
    not_applied: list[str] = Field(
        default_factory=list,
        description="What the second run, a dry run, would have changed in shared places.",
    )
    cells: list[CellDiff] = Field(default_factory=list)
    presentation: list[CellDiff] = Field(
        default_factory=list,
        description="Cells whose outputs differ only by run ids, job ids or timestamps.",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def model_bytes_reproduced(self) -> bool | None:
        """Whether every published model was reproduced bit for bit; None: none published."""
        if not self.published:
            return None
        return all(p.reproduced for p in self.published)

    @property
    def held(self) -> list[PinDiff]:
        return [p for p in self.pins if p.status == "held"]

    @property
    def metrics_equal(self) -> bool:
        return all(m.equal for m in self.metrics)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def identical(self) -> bool:
        """Same parameters, every pin held, metrics equal within tolerance, the same model
        bytes published, the same outputs (presentation aside)."""
        return (
            not self.notebook_changed
            and not self.parameters
            and all(p.status == "held" for p in self.pins)
            and self.metrics_equal
            and self.model_bytes_reproduced is not False
            and not self.cells
        )

    def summary(self) -> str:
        """A few lines for a terminal or a log."""
        verdict = "identical" if self.identical else "different"
        mode = f" ({self.mode} rerun)" if self.mode else ""
        lines = [f"run {self.after}{mode} vs {self.before}: {verdict}"]
        if self.notebook_changed:
            lines.append("  notebook: cell sources differ")
        lines += [f"  {p.describe()}" for p in self.parameters]
        lines += [f"  pin {pin.describe()}" for pin in self.pins]
        tol = f" (abs_tol={self.abs_tol:g}, rel_tol={self.rel_tol:g})"
        for m in self.metrics:
            mark = "equal" if m.equal else "differs"
            lines.append(f"  metric {m.name}: {m.before!r} -> {m.after!r} {mark}{tol}")
        for pub in self.published:
            answer = "yes" if pub.reproduced else "no"
            lines.append(
                f"  model {pub.name}:{pub.version or '-'} bytes reproduced: {answer} "
                f"({_digest(pub.before)} -> {_digest(pub.after)})"
            )
        if self.not_applied:
            lines.append(f"  not applied (dry run): {'; '.join(self.not_applied)}")
        for c in self.cells:
            what = "source and outputs" if c.source_changed else "outputs"
            lines.append(f"  {c.label or c.index} ({c.source}): {what} changed")
        for c in self.presentation:
            lines.append(f"  {c.label or c.index} ({c.source}): only ids or times differ")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .render import diff_html

        return diff_html(self)


def _pin_detail(pin: PinDiff) -> str:
    if pin.status == "held" and pin.after:
        return " " + _short(pin.after)
    if pin.status == "changed":
        return f" {_short(pin.before or {})} -> {_short(pin.after or {})}"
    return ""


def _digest(value: str | None) -> str:
    return value[:19] if value else "none"


def _short(values: dict[str, Any]) -> str:
    """What a reference resolved to: a dataset's full commit; a model's version and its
    digest as algorithm + the first 12 hex digits (the registry's short form)."""
    if values.get("commit"):
        return f"commit {values['commit']}"
    if values.get("version") is not None:
        digest = str(values.get("digest") or "")
        algorithm, _, hexdigest = digest.partition(":")
        short = f" ({algorithm}:{hexdigest[:12]})" if hexdigest else ""
        return f"version {values['version']}{short}"
    return ", ".join(f"{k}={v}" for k, v in values.items() if k not in ("kind", "key", "at"))


def diff_parameters(a: dict[str, Any], b: dict[str, Any]) -> list[ParameterChange]:
    return [
        ParameterChange(name=name, before=a.get(name), after=b.get(name))
        for name in sorted(set(a) | set(b))
        if not _same_value(a.get(name), b.get(name)) or (name in a) != (name in b)
    ]


def _same_value(a: Any, b: Any) -> bool:
    """Equal as stored: nan is nan, and 1, 1.0 and True differ (the notebook sees the type)."""
    return json.dumps(encode(a), sort_keys=True) == json.dumps(encode(b), sort_keys=True)


def _first_resolutions(entries: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    first: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        if entry.get("kind") in PIN_KINDS:
            first.setdefault((entry["kind"], entry["key"]), resolution(entry))
    return first


def diff_pins(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[PinDiff]:
    before, after = _first_resolutions(a), _first_resolutions(b)
    result = []
    for kind, key in sorted(set(before) | set(after)):
        old, new = before.get((kind, key)), after.get((kind, key))
        if old is None:
            status: PinStatus = "new"
        elif new is None:
            status = "missing"
        else:
            status = "held" if old == new else "changed"
        result.append(PinDiff(kind=kind, key=key, status=status, before=old, after=new))
    return result


def diff_metrics(
    a: dict[str, Any], b: dict[str, Any], abs_tol: float = 0.0, rel_tol: float = 0.0
) -> list[MetricDiff]:
    result = []
    for name in sorted(set(a) | set(b)):
        old, new = a.get(name), b.get(name)
        if isinstance(old, int | float) and isinstance(new, int | float):
            absolute = abs(new - old)
            relative = absolute / abs(old) if old else (0.0 if absolute == 0 else math.inf)
            equal = old == new or math.isclose(old, new, rel_tol=rel_tol, abs_tol=abs_tol)
            result.append(
                MetricDiff(
                    name=name,
                    before=old,
                    after=new,
                    abs_diff=absolute,
                    rel_diff=relative,
                    equal=equal,
                )
            )
        else:
            result.append(
                MetricDiff(
                    name=name, before=old, after=new, equal=old == new and name in a and name in b
                )
            )
    return result


def _numbered_code_cells(nb: Any) -> list[tuple[int, Any]]:
    """(position in the executed notebook, cell) for each code cell the user wrote: the
    injected parameters cell is not compared, but it counts, as papermill counts it."""
    return [
        (i, c)
        for i, c in enumerate(nb.cells)
        if c.get("cell_type") == "code"
        and INJECTED_TAG not in c.get("metadata", {}).get("tags", [])
    ]


def _output_text(cell: Any | None, limit: int = 300) -> str:
    if cell is None:
        return ""
    parts = []
    for out in normalized_outputs(cell):
        if out["type"] == "stream":
            parts.append(str(out["text"]))
        elif out["type"] == "data":
            parts.append(str(out["data"].get("text/plain", "<" + ", ".join(out["data"]) + ">")))
        else:
            parts.append(f"{out['ename']}: {out['evalue']}")
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


Mask = Callable[[str], str]

# ISO 8601 times and Python's datetime reprs: when a run happened is not what it computed.
_TIMES = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|datetime\.datetime\(\d+(?:, \d+)*(?:, tzinfo=[\w.]+(?:\([^()]*\))?)?\)"
)


def volatile_mask(manifest: Manifest) -> Mask:
    """Replace what only names this run's execution: its run id, its job ids, its own
    working folder (a rerun's), times."""
    names = {manifest.id: "<run>"}
    if manifest.workdir and manifest.cwd:
        names[manifest.workdir] = manifest.cwd  # a rerun's own folder stands for the workspace
    jobs = [e["key"] for e in manifest.ledger if e.get("kind") == "job"]
    for n, job in enumerate(dict.fromkeys(jobs), 1):
        names[str(job)] = f"<job {n}>"
    pattern = re.compile("|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)))

    def mask(text: str) -> str:
        return _TIMES.sub("<time>", pattern.sub(lambda m: names[m.group(0)], text))

    return mask


def _masked(cell: Any, mask: Mask) -> str:
    return mask(json.dumps(normalized_outputs(cell), sort_keys=True, default=str))


def diff_cells(
    nb_a: Any, nb_b: Any, mask_a: Mask | None = None, mask_b: Mask | None = None
) -> tuple[list[CellDiff], list[CellDiff]]:
    """(cells that differ, cells whose outputs differ only by ``mask``ed volatile text)."""
    cells_a, cells_b = _numbered_code_cells(nb_a), _numbered_code_cells(nb_b)
    result, presentation = [], []
    for n in range(max(len(cells_a), len(cells_b))):
        index_a, a = cells_a[n] if n < len(cells_a) else (None, None)
        index_b, b = cells_b[n] if n < len(cells_b) else (None, None)
        source_a = a.get("source", "") if a is not None else None
        source_b = b.get("source", "") if b is not None else None
        outputs_changed = a is None or b is None or normalized_outputs(a) != normalized_outputs(b)
        source_changed = source_a != source_b
        if not (outputs_changed or source_changed):
            continue
        first_line = (source_b if source_b is not None else source_a or "").strip()
        shown = b if b is not None else a
        volatile = (
            not source_changed
            and a is not None
            and b is not None
            and mask_a is not None
            and mask_b is not None
            and _masked(a, mask_a) == _masked(b, mask_b)
        )
        (presentation if volatile else result).append(
            CellDiff(
                index=index_b if index_b is not None else index_a or 0,
                label=cell_label(shown.get("execution_count") if shown is not None else None),
                source=first_line.splitlines()[0][:80] if first_line else "",
                source_changed=source_changed,
                outputs_changed=outputs_changed,
                before=_output_text(a),
                after=_output_text(b),
            )
        )
    return result, presentation


def diff_published(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[PublishDiff]:
    """Each model publish of ``a`` paired with the same name's publish of ``b``, in order."""
    result = []
    by_name: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for side, entries in enumerate((a, b)):
        for e in entries:
            if e.get("kind") == "publish":
                by_name.setdefault(str(e.get("name")), ([], []))[side].append(e)
    for name, (before, after) in sorted(by_name.items()):
        for n in range(max(len(before), len(after))):
            old = before[n] if n < len(before) else {}
            new = after[n] if n < len(after) else {}
            result.append(
                PublishDiff(
                    name=name,
                    version=old.get("version"),
                    before=old.get("digest"),
                    after=new.get("digest"),
                    applied=new.get("applied", True) if new else False,
                )
            )
    return result


def not_applied(entries: list[dict[str, Any]]) -> list[str]:
    """What a dry-run rerun recorded instead of doing, in words."""
    said = []
    for e in entries:
        if e.get("applied") is not False:
            continue
        if e["kind"] == "publish":
            alias = f" (+ @{e['alias']})" if e.get("alias") else ""
            said.append(f"publish {e['name']}:{e['version']}{alias}")
        elif e["kind"] == "alias":
            said.append(f"move {e['name']}@{e['alias']} -> {e['version']}")
        elif e["kind"] in ("grant", "revoke"):
            who = f"user {e['user']}" if e.get("user") else f"group {e.get('group')}"
            what = f"grant {e['role']} on" if e["kind"] == "grant" else "revoke the role on"
            said.append(f"{what} {e['namespace']} to {who}")
        elif e["kind"] == "yank":
            said.append(f"yank {e['name']}:{e['version']} ({e['reason']})")
        elif e["kind"] == "unyank":
            said.append(f"un-yank {e['name']}:{e['version']}")
        elif e["kind"] == "delete":
            said.append(f"delete {e['name']}:{e['version']}")
    return said


def compare_runs(
    a: Manifest,
    b: Manifest,
    nb_a: Any | None,
    nb_b: Any | None,
    *,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    defaults_a: dict[str, Any] | None = None,
    defaults_b: dict[str, Any] | None = None,
) -> RunDiff:
    """Compare run ``b`` against run ``a`` given their executed notebooks (None: not kept).

    ``defaults_a``/``defaults_b``: the parameters each notebook declares, with defaults,
    so a parameter given to one run only compares with the other's default.
    """
    cells, presentation = (
        diff_cells(nb_a, nb_b, volatile_mask(a), volatile_mask(b))
        if nb_a is not None and nb_b is not None
        else ([], [])
    )
    return RunDiff(
        before=a.id,
        after=b.id,
        mode=b.rerun_mode,
        abs_tol=abs_tol,
        rel_tol=rel_tol,
        notebook_changed=a.notebook.digest != b.notebook.digest,
        parameters=diff_parameters(
            {**(defaults_a or {}), **a.parameters}, {**(defaults_b or {}), **b.parameters}
        ),
        pins=diff_pins(a.ledger, b.ledger),
        metrics=diff_metrics(a.metrics, b.metrics, abs_tol, rel_tol),
        published=diff_published(a.ledger, b.ledger),
        not_applied=not_applied(b.ledger),
        cells=cells,
        presentation=presentation,
    )
