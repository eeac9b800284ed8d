"""The registry's grammar: namespace, model and alias names, references, version numbers,
file paths, and the address of a version's content.

Kernels and remote clients check a name here before any request is sent, and the service
again before any transaction opens, so a bad name fails the same way wherever it was typed,
with the rule it broke.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import blake3

from ..errors import Invalid
from .identity import Principal
from .schema import MAX_VERSION, FileEntry

NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
NAME_RULE_TEXT = (
    "1-64 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
)
ALIAS_RULE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
ALIAS_RULE_TEXT = (
    "1-64 characters: lowercase letters, digits, '_' or '-', starting with a "
    "letter (so it cannot be mistaken for a version number)"
)
RESERVED_ALIASES = ("latest",)
VERSION_RULE = re.compile(r"^[0-9]{1,10}$")


@dataclass(frozen=True)
class Ref:
    namespace: str
    model: str
    alias: str | None = None
    version: int | None = None

    @property
    def name(self) -> str:
        return f"{self.namespace}/{self.model}"


def check_name(value: str, what: str) -> str:
    if not NAME_RULE.match(value or ""):
        raise Invalid(f"Invalid {what} name {value!r}: {what} names are {NAME_RULE_TEXT}.")
    return value


def check_alias(value: str) -> str:
    if not ALIAS_RULE.match(value or ""):
        raise Invalid(f"Invalid alias {value!r}: aliases are {ALIAS_RULE_TEXT}.")
    if value in RESERVED_ALIASES:
        raise Invalid(f"Alias {value!r} is reserved: 'ns/model' already means the latest version.")
    return value


def parse_name(name: str, principal: Principal) -> tuple[str, str]:
    """``ns/model`` -> (ns, model); a bare ``model`` lives in the caller's own namespace."""
    if not isinstance(name, str) or not name:
        raise Invalid("A model name is needed, like 'vision/resnet'.")
    parts = name.split("/")
    if len(parts) == 1:
        parts = [principal.user, parts[0]]
    if len(parts) != 2:
        raise Invalid(f"Invalid model name {name!r}: use 'namespace/model', e.g. 'vision/resnet'.")
    return check_name(parts[0], "namespace"), check_name(parts[1], "model")


def parse_ref(ref: str, principal: Principal) -> Ref:
    """``ns/model@alias``, ``ns/model:3`` or ``ns/model`` (the latest version)."""
    if not isinstance(ref, str) or not ref:
        raise Invalid("A model reference is needed: 'ns/model@alias', 'ns/model:3' or 'ns/model'.")
    if "@" in ref:
        name, _, alias = ref.partition("@")
        namespace, model = parse_name(name, principal)
        return Ref(namespace, model, alias=check_alias(alias))
    if ":" in ref:
        name, _, number = ref.rpartition(":")
        namespace, model = parse_name(name, principal)
        version = _version_number(number)
        if version is None:
            raise Invalid(
                f"Invalid reference {ref!r}: the version after ':' must be a positive "
                f"integer up to {MAX_VERSION}, e.g. 'vision/resnet:3'."
            )
        return Ref(namespace, model, version=version)
    namespace, model = parse_name(ref, principal)
    return Ref(namespace, model)


def _version_number(text: str | int) -> int | None:
    """1..MAX_VERSION from an int or ASCII digits (str.isdigit also takes superscripts)."""
    if isinstance(text, str) and VERSION_RULE.match(text):
        text = int(text)
    if isinstance(text, int) and not isinstance(text, bool) and 1 <= text <= MAX_VERSION:
        return text
    return None


def parse_version(text: str | int) -> int:
    """A version number from a URL segment or an argument."""
    version = _version_number(text)
    if version is None:
        raise Invalid(
            f"Invalid version {text!r}: versions are positive integers (1, 2, 3...) "
            f"up to {MAX_VERSION}."
        )
    return version


def manifest_digest(files: Iterable[FileEntry]) -> str:
    """The address of a version's content: its sorted (path, digest, size) list."""
    rows = sorted((f.path, f.digest, f.size) for f in files)
    return "blake3:" + blake3.blake3(json.dumps(rows).encode()).hexdigest()


def check_path(path: str) -> str:
    """A path every Linux filesystem can hold: no NUL or control characters, parts of at
    most 255 bytes, 1024 bytes in all (the store's column)."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise Invalid(
            f"Invalid file path {path!r}: use a relative '/'-separated path "
            "without '.' or '..' parts."
        )
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        raise Invalid(f"Invalid file path {path!r}: it holds a NUL or control character.")
    if len(path.encode()) > 1024 or any(len(p.encode()) > 255 for p in parts):
        raise Invalid(
            f"Invalid file path {path[:80]!r}...: paths are at most 1024 bytes, "
            "each '/'-separated part at most 255."
        )
    return path


def check_tree(paths: list[str]) -> None:
    """Invalid when one path is a folder of another ('a' and 'a/b'): not loadable."""
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    clash = sorted(folders & set(paths))
    if clash:
        raise Invalid(
            f"File path {clash[0]!r} is also a folder of another file of the version; "
            "a version's files must form a tree."
        )
