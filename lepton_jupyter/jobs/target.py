"""What a launch asks for, checked and packed: counts and GPUs, the target (a function, a
script or ``module:function``) pickled for the ranks, and the launching interpreter's
description for the job folder. Errors name what was wrong (the culprit that cannot be
pickled, the script that is not there)."""

from __future__ import annotations

import inspect
import io
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import Invalid
from .schema import JobSpec


def check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Invalid(f"{name} must be an integer of at least {minimum}, got {value!r}.")


def check_gpus(gpus: Any) -> int | list[str] | None:
    """``gpus`` as a count or a list of device ids; Invalid for anything else."""
    if gpus is None:
        return None
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        check_count("gpus", gpus, 0)
        return gpus
    if isinstance(gpus, list | tuple) and gpus:
        ids = [str(g) for g in gpus if isinstance(g, int | str) and not isinstance(g, bool)]
        if len(ids) == len(gpus) and all(i.strip() for i in ids):
            return ids
    raise Invalid(
        f"gpus must be a number of GPUs (0 for a CPU job) or a list of device ids such as "
        f"[0, 1], got {gpus!r}."
    )


def job_slug(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:40] or "job"


def resolve_target(
    target: Any, args: Sequence[Any], kwargs: dict[str, Any]
) -> tuple[str, str, bytes, Path | None]:
    """(kind, description, pickled payload, script to copy) for what the user launched."""
    if callable(target):
        description = getattr(target, "__qualname__", None) or repr(target)
        return "function", description, _pickle_payload(target, args, kwargs), None
    if not isinstance(target, str | os.PathLike):
        raise Invalid(
            f"launch() takes a function, 'module:function' or a script path, "
            f"not {type(target).__name__}."
        )
    text = os.fspath(target)
    looks_like_script = text.endswith(".py") or os.sep in text or Path(text).is_file()
    if looks_like_script:
        script = Path(text).expanduser().resolve()
        if not script.is_file():
            raise Invalid(f"Script not found: {text} (looked in {Path.cwd()}).")
        if kwargs:
            raise Invalid(
                f"A script takes positional arguments (its argv), not keyword "
                f"arguments: {sorted(kwargs)}."
            )
        return "script", str(script), _pickle_payload(None, (), {}), script
    module, sep, attr = text.partition(":")
    if not sep or not module or not attr:
        raise Invalid(f"{text!r} is neither a script path nor 'module:function'.")
    try:
        found = find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise Invalid(
            f"Module {module!r} of target {text!r} cannot be imported from this kernel's sys.path."
        )
    return "module", text, _pickle_payload(None, args, kwargs), None


def _pickle_payload(
    function: Callable[..., Any] | None, args: Sequence[Any], kwargs: dict[str, Any]
) -> bytes:
    import cloudpickle

    payload = {"function": function, "args": tuple(args), "kwargs": kwargs}
    try:
        return cloudpickle.dumps(payload)
    except Exception as e:
        culprit = _unpicklable(function, args, kwargs) or "the target"
        raise Invalid(
            f"Cannot send {culprit} to the ranks: it cannot be pickled ({e}). "
            f"Create it inside the training function instead."
        ) from e


def _unpicklable(
    function: Callable[..., Any] | None, args: Sequence[Any], kwargs: dict[str, Any]
) -> str | None:
    """Name the first object that cannot be pickled, following functions it refers to."""
    import cloudpickle

    candidates: list[tuple[str, Any]] = [
        (f"argument {i} ({type(a).__name__})", a) for i, a in enumerate(args)
    ]
    candidates += [(f"keyword argument {k!r} ({type(v).__name__})", v) for k, v in kwargs.items()]
    seen: set[int] = set()

    def referenced(fn: Any) -> list[tuple[str, Any]]:
        if not inspect.isfunction(fn) or id(fn) in seen:
            return []
        seen.add(id(fn))
        refs = inspect.getclosurevars(fn)
        found = [
            (f"closure variable {n!r} ({type(v).__name__}) of {fn.__qualname__}", v)
            for n, v in refs.nonlocals.items()
        ]
        found += [
            (f"global {n!r} ({type(v).__name__}) used by {fn.__qualname__}", v)
            for n, v in refs.globals.items()
        ]
        return found

    if function is not None:
        candidates += referenced(function)
    while candidates:
        label, obj = candidates.pop(0)
        try:
            cloudpickle.dump(obj, io.BytesIO())
        except Exception:
            deeper = referenced(obj)
            if not deeper:
                return label
            candidates = deeper
    return None


def launch_environment(spec: JobSpec) -> dict[str, Any]:
    """What the launching interpreter looked like; variable values stay out (secrets).
    A package it has loaded says its own version (what it runs, and reading installed
    metadata costs ~10 ms a package on the launch's path); others, their metadata's."""
    versions = {}
    for package in ("torch", "lepton_jupyter", "cloudpickle", "numpy"):
        loaded = getattr(sys.modules.get(package), "__version__", None)
        try:
            versions[package] = str(loaded) if loaded else version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version,
        "executable": sys.executable,
        "platform": sys.platform,
        "hostname": os.uname().nodename,
        "cwd": spec.cwd,
        "sys_path": spec.sys_path,
        "packages": versions,
        "env_overrides": spec.env,
        "inherited_env_names": sorted(os.environ),
    }
