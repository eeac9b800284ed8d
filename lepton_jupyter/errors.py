"""Domain errors: one hierarchy that every layer raises and the REST layer maps to a status.

Notebooks see the exception with its message; handlers turn it into JSON
``{"message": ...}`` with the status carried by the class, never a traceback.
"""

from __future__ import annotations

from typing import Any


class LeptonError(Exception):
    """Base class of every error lepton_jupyter raises on purpose."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(LeptonError, ValueError):
    """The request itself is wrong: a bad name, a bad parameter, a path outside the workspace."""

    status = 400


class Forbidden(LeptonError, PermissionError):
    """The caller lacks the role the operation needs."""

    status = 403


class NotFound(LeptonError, LookupError):
    """The thing named does not exist (dataset, rev, job, model, version, alias, run)."""

    status = 404


class Conflict(LeptonError):
    """The operation clashes with the current state (destination occupied, job already ended)."""

    status = 409


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...], *, n: int = 3) -> str:
    """A short ' Did you mean ...?' hint for not-found messages, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def error_class_named(name: str, default: type[LeptonError]) -> type[LeptonError]:
    """The lepton error a notebook raised (papermill reports only its name), else ``default``.

    So a rerun or an evaluation that failed on, say, a NotFound raises NotFound to its caller
    (a 404 over REST), not a generic failure.
    """
    cls = globals().get(name)
    return cls if isinstance(cls, type) and issubclass(cls, LeptonError) else default


def json_object(text: str, *, not_json: str, not_object: str) -> dict[str, Any]:
    """``text`` read as a JSON object; Invalid (``not_json: <why>`` or ``not_object``) if not."""
    import json

    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as e:
        raise Invalid(f"{not_json}: {e}") from e
    if not isinstance(loaded, dict):
        raise Invalid(not_object)
    return loaded
