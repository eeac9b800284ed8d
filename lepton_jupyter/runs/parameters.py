"""The parameters a notebook ran with, and how the manifest stores them without loss.

What a run's notebook ran with is its declared defaults (the cell tagged ``parameters``, read
with papermill's own inspection) overlaid by the values of the ``injected-parameters`` cell
that ran: the one papermill made from ``-p/-r/-y/-f`` (or the API's ``parameters``), or one
saved in the input, which papermill runs as it is when no parameters are given. A rerun
passes the injected values again, so papermill injects the same cell.

Stored as JSON, values keep their type: a tuple, a float that is not finite and a mapping with
keys that are not strings are tagged (``{"__tuple__": [...]}``), and what is no literal (a
default computed in the notebook, or a value papermill refused) is kept as its source text,
:class:`SourceValue`. Plain functions; no I/O.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

INJECTED_TAG = "injected-parameters"
_TUPLE, _FLOAT, _DICT, _SOURCE = "__tuple__", "__float__", "__dict__", "__source__"
_TAGS = (_TUPLE, _FLOAT, _DICT, _SOURCE)


@dataclass(frozen=True)
class SourceValue:
    """A parameter recorded as text: an expression the notebook evaluates, or a value papermill
    could not store (``type`` names its class)."""

    text: str
    type: str = "expression"

    def __repr__(self) -> str:
        return self.text if self.type == "expression" else f"<{self.type} {self.text}>"


def encode(value: Any) -> Any:
    """``value`` as JSON that :func:`decode` turns back into an equal value of the same type."""
    if value is None or type(value) in (bool, int, str):
        return value
    # Subclasses (numpy's float64, an IntEnum) reach the notebook as the plain number.
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else {_FLOAT: repr(number)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {_TUPLE: [encode(v) for v in value]}
    if isinstance(value, dict):
        looks_tagged = len(value) == 1 and bool(set(value) & set(_TAGS))
        if all(isinstance(k, str) for k in value) and not looks_tagged:
            return {k: encode(v) for k, v in value.items()}
        return {_DICT: [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, SourceValue):
        return {_SOURCE: value.text, "type": value.type}
    return _source(value)


def _source(value: Any) -> dict[str, str]:
    kind = type(value)
    return {_SOURCE: repr(value), "type": f"{kind.__module__}.{kind.__qualname__}"}


def decode(data: Any) -> Any:
    """The value :func:`encode` stored."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and _TUPLE in data:
        return tuple(decode(v) for v in data[_TUPLE])
    if len(data) == 1 and _FLOAT in data:
        return float(data[_FLOAT])
    if len(data) == 1 and _DICT in data:
        return {_hashable(decode(k)): decode(v) for k, v in data[_DICT]}
    if _SOURCE in data and set(data) <= {_SOURCE, "type"}:
        return SourceValue(str(data[_SOURCE]), str(data.get("type", "expression")))
    return {k: decode(v) for k, v in data.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list | tuple) else key


def encode_all(parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if parameters is None else {k: encode(v) for k, v in parameters.items()}


def decode_all(parameters: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if parameters is None else {k: decode(v) for k, v in parameters.items()}


def literal_value(source: str) -> Any:
    """The value of a Python literal as papermill writes parameters (``float('nan')`` too);
    :class:`SourceValue` for anything else (the notebook computes it)."""
    text = source.strip()
    try:
        return _literal(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError):
        return SourceValue(text)


def _literal(node: ast.expr) -> Any:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "float"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return float(node.args[0].value)
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}  # type: ignore[arg-type]
    return ast.literal_eval(node)


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def injected_cell(nb: Any) -> Any | None:
    """The ``injected-parameters`` cell papermill runs (the first one, as papermill finds it)."""
    return next((c for c in nb.cells if INJECTED_TAG in _tags(c)), None)


def _assigned(cell: Any, kernel_name: str | None, language: str | None) -> dict[str, Any] | None:
    """Name -> value of the assignments in a parameters-style cell, read with papermill's
    inspection; None for a language papermill cannot inspect."""
    from papermill.translators import papermill_translators

    translator = papermill_translators.find_translator(kernel_name, language)
    try:
        found = translator.inspect(cell)
    except NotImplementedError:
        return None
    return {p.name: literal_value(p.default) for p in found}


def _kernel_and_language(nb: Any, kernel_name: str | None) -> tuple[str | None, str | None]:
    from papermill.utils import nb_kernel_name, nb_language

    try:
        kernel = nb_kernel_name(nb, kernel_name)
    except ValueError:
        kernel = kernel_name
    try:
        language = nb_language(nb)
    except ValueError:
        language = None
    return kernel, language


def run_parameters(
    nb: Any, kernel_name: str | None = None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(what the notebook ran with, the injected cell's values or None) for a papermill run.

    ``nb`` is the notebook papermill hands its engine: parameterised, metadata prepared. The
    injected cell is read from its source, whoever wrote it: what papermill made of a value
    is what ran (it writes a tuple as a string, for one). Only for a language papermill cannot
    inspect are the values papermill was given taken as they are.
    """
    from papermill.inspection import _infer_parameters

    kernel, language = _kernel_and_language(nb, kernel_name)
    declared = {p.name: literal_value(p.default) for p in _infer_parameters(nb, kernel, language)}
    cell = injected_cell(nb)
    if cell is None:
        return declared, None
    injected = _assigned(cell, kernel, language)
    if injected is None:
        injected = dict(nb.get("metadata", {}).get("papermill", {}).get("parameters") or {})
    return {**declared, **injected}, injected
