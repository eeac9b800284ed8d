"""The registry's logic and its permissions, with no web framework in it.

Every method takes the caller's :class:`Principal` explicitly and checks the role it needs
on the namespace, so the rules hold the same whether the service is called by a kernel
(direct store), the Jupyter server's REST handlers or the standalone service.

Roles on a namespace, each including the ones before: reader (list, load, lineage) <
writer (publish, move unprotected aliases) < maintainer (move protected aliases) < admin
(grant). Who may create a namespace, and with which grants, is the service's
:mod:`~lepton_jupyter.registry.policy`: by default whoever first writes to a namespace that
does not exist yet becomes its admin (in a single-user setup, the admin of everything they
publish); on a JupyterHub, namespaces follow the hub's groups.

The service holds the name grammar, these rules and the order of each operation; every
statement is its :class:`~lepton_jupyter.registry.store.RegistryStore`'s, and a check runs
in the same transaction as the write it allows.

Longer than 500 lines on purpose: each public method is one operation's rules, a screen
at most, and the rules share the grammar and role checks above them; split, a rule would
be read apart from the operation it guards.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import blake3

from ..errors import Conflict, Forbidden, Invalid, LeptonError, NotFound, did_you_mean
from ..settings import Settings, default_value
from .blobs import BlobStore, BlobWriter, StatCache, parse_address
from .gates import check_promotion, gate_for, gate_reports, parse_gates
from .identity import Principal
from .maintenance import fsck, reclaim
from .policy import NamespacePolicy, require_registry_admin
from .schema import (
    MAX_PAGE,
    MAX_VERSION,
    AliasEvent,
    AliasInfo,
    Comparison,
    FileEntry,
    FsckReport,
    FsckRequest,
    GateReport,
    GrantInfo,
    Lineage,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    PublishRequest,
    Role,
    VersionDeletion,
)
from .store import (
    ModelRow,
    NamespaceRow,
    NewVersion,
    RegistryStore,
    RegistryTransaction,
    SqlRegistryStore,
    VersionRow,
)

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
EVERYONE = "*"


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


ROLES: tuple[Role, ...] = ("reader", "writer", "maintainer", "admin")


def role_rank(role: str | None) -> int:
    """0 for no role, then 1 (reader) .. 4 (admin): each role includes those below."""
    return ROLES.index(role) + 1 if role in ROLES else 0  # type: ignore[arg-type]


def lacks_role(role: str | None, needed: str, doing: str, namespace: str) -> Forbidden | None:
    """The refusal when ``role`` is below ``needed``, else None (kernels check early too)."""
    if role_rank(role) >= role_rank(needed):
        return None
    you = f"you are {role}" if role else "you have no role there"
    return Forbidden(f"{doing} '{namespace}' needs the {needed} role; {you}.")


class RegistryService:
    """Models, versions, aliases, lineage, grants and the comparisons promotion gates check,
    over one store and one blob store."""

    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        protected_aliases: Iterable[str] = ("prod",),
        policy: NamespacePolicy | None = None,
        promotion_gates: Mapping[str, Any] | None = None,
        upload_grace_seconds: float = default_value("registry_upload_grace_seconds"),
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.protected_aliases = frozenset(protected_aliases)
        self.policy = policy or NamespacePolicy()
        self.promotion_gates = parse_gates(promotion_gates)
        # alias() answers, valid while the store's generation stays the same
        self._alias_cache: dict[tuple[str, str, str, Principal], AliasInfo] = {}
        self._alias_generation: int | None = None
        # user -> {address: when} of blobs they uploaded (proved they hold the bytes),
        # theirs to publish for upload_grace_seconds (fsck's default grace for an orphan)
        self._uploads: dict[str, dict[str, float]] = {}
        self.upload_grace_seconds = upload_grace_seconds

    # permissions

    def _roles(
        self, tx: RegistryTransaction, principal: Principal, namespace_ids: list[int] | None = None
    ) -> dict[int, str]:
        """Namespace id -> the caller's best role there (one statement for all of them)."""
        if self.policy.is_admin(principal.user, principal.groups):
            ids = namespace_ids if namespace_ids is not None else [n.id for n in tx.namespaces()]
            return dict.fromkeys(ids, "admin")
        held = tx.roles(principal.user, [*principal.groups, EVERYONE], namespace_ids)
        return {i: max(roles, key=role_rank) for i, roles in held.items()}

    def _role(self, tx: RegistryTransaction, principal: Principal, ns: NamespaceRow) -> str | None:
        return self._roles(tx, principal, [ns.id]).get(ns.id)

    def _readable(self, tx: RegistryTransaction, principal: Principal) -> list[NamespaceRow]:
        """The namespaces the caller has a role in, by name."""
        roles = self._roles(tx, principal)
        return [ns for ns in tx.namespaces() if ns.id in roles]

    def _require(
        self,
        tx: RegistryTransaction,
        principal: Principal,
        ns: NamespaceRow,
        needed: str,
        doing: str,
    ) -> str:
        role = self._role(tx, principal, ns)
        if role is None:  # a write that would found the namespace were it missing
            raise self._unseen(tx, principal, ns.name, founding=True)
        refusal = lacks_role(role, needed, doing, ns.name)
        if refusal is not None:
            raise refusal
        return role or ""

    def _alias_role(self, alias: str) -> tuple[str, str]:
        if alias in self.protected_aliases:
            return "maintainer", f"moving the protected alias '{alias}' in"
        return "writer", f"moving alias '{alias}' in"

    # lookups: each raises NotFound naming what is missing and what there is

    def _unseen(
        self, tx: RegistryTransaction, principal: Principal, name: str, founding: bool = False
    ) -> LeptonError:
        """The one answer about a namespace the caller has no role in, whether it exists or
        not: names are not public. Where the write would found a missing namespace, the
        policy is asked first, as it would be then (its refusal reads the same for both)."""
        if founding:
            self.policy.founding(principal.user, principal.groups, name)
        # Suggest only namespaces the caller has a role in.
        known = [ns.name for ns in self._readable(tx, principal)]
        return NotFound(
            f"Namespace {name!r} does not exist or you have no role there."
            f"{did_you_mean(name, known)}"
        )

    def _visible(
        self, tx: RegistryTransaction, principal: Principal, name: str
    ) -> tuple[NamespaceRow, str]:
        """The namespace and the caller's role there; the uniform 404 without a role."""
        found = tx.namespace(name)
        role = None if found is None else self._role(tx, principal, found)
        if found is None or role is None:
            raise self._unseen(tx, principal, name)
        return found, role

    def _model(
        self,
        tx: RegistryTransaction,
        principal: Principal,
        namespace: str,
        model: str,
        needed: str = "reader",
        doing: str = "reading",
    ) -> tuple[NamespaceRow, ModelRow]:
        ns, role = self._visible(tx, principal, namespace)
        refusal = lacks_role(role, needed, doing, ns.name)
        if refusal is not None:
            raise refusal
        found = tx.model(ns.id, model)
        if found is None:
            hint = did_you_mean(model, tx.model_names(ns.id))
            raise NotFound(f"Model '{namespace}/{model}' does not exist.{hint}")
        return ns, found

    def _version(
        self, tx: RegistryTransaction, model: ModelRow, name: str, number: int
    ) -> VersionRow:
        found = tx.version(model.id, number)
        if found is None:
            latest = tx.latest_version(model.id)
            have = (
                "it has no versions"
                if latest is None
                else f"it has versions 1..{latest.number}"
                if latest.number > 1
                else "it has only version 1"
            )
            raise NotFound(f"{name} has no version {number}; {have}.")
        return found

    def _resolve(
        self, tx: RegistryTransaction, principal: Principal, ref: Ref
    ) -> tuple[ModelRow, VersionRow]:
        _, model = self._model(tx, principal, ref.namespace, ref.model)
        if ref.version is not None:
            return model, _live(self._version(tx, model, ref.name, ref.version), ref.name)
        if ref.alias is not None:
            version = tx.alias_target(model.id, ref.alias)
            if version is None:
                known = tx.alias_names(model.id)
                raise NotFound(
                    f"{ref.name} has no alias {ref.alias!r}.{did_you_mean(ref.alias, known)}"
                )
            if version.yanked is not None:
                raise Conflict(
                    f"Alias {ref.alias!r} of {ref.name} points at version {version.number}, "
                    f"{_yanked(version)}. Move the alias (set_alias, or roll it back); "
                    f"{ref.name}:{version.number} still loads by its number."
                )
            return model, version
        version = tx.latest_version(model.id, include_yanked=False)
        if version is None:
            raise NotFound(f"{ref.name} has no versions yet (none that is not yanked).")
        return model, version

    def _movable(self, target: VersionRow, name: str, alias: str) -> VersionRow:
        """``target`` unless it is yanked: no alias may be moved onto a yanked version."""
        _live(target, name)
        if target.yanked is not None:
            raise Conflict(
                f"Cannot move @{alias}: version {target.number} of {name} is {_yanked(target)}."
            )
        return target

    def _describe(self, tx: RegistryTransaction, name: str, version: VersionRow) -> ModelVersion:
        return tx.describe(name, [version])[0]

    # writes

    def _ensure_namespace(
        self, tx: RegistryTransaction, principal: Principal, name: str
    ) -> NamespaceRow:
        found = tx.namespace(name)
        if found is not None:
            return found
        founding = self.policy.founding(principal.user, principal.groups, name)
        return tx.create_namespace(
            name, principal.user, [(g.subject_kind, g.subject, g.role) for g in founding]
        )

    def check_publish(self, principal: Principal, name: str, alias: str | None = None) -> None:
        """Fail before any bytes are stored when this publish would be refused."""
        namespace, _ = parse_name(name, principal)
        if alias is not None:
            check_alias(alias)
        with self.store.reading() as tx:
            ns = tx.namespace(namespace)
            if ns is None:
                self.policy.founding(principal.user, principal.groups, namespace)
                return
            self._require(tx, principal, ns, "writer", "publishing to")
            if alias is not None:
                self._require(tx, principal, ns, *self._alias_role(alias))

    def publish(self, principal: Principal, name: str, request: PublishRequest) -> ModelVersion:
        """Add the next version of ``name`` whose files are already in the blob store."""
        namespace, model_name = parse_name(name, principal)
        if request.alias is not None:
            check_alias(request.alias)
        paths = [_check_path(f.path) for f in request.files]
        if len(set(paths)) != len(paths):
            raise Invalid("A version cannot list the same file path twice.")
        _check_tree(paths)
        for f in request.files:
            parse_address(f.digest)
        if request.kind != "directory" and request.entry not in paths:
            raise Invalid(f"entry {request.entry!r} is not one of the version's files.")
        digests = list(dict.fromkeys(f.digest for f in request.files))
        missing = self.missing_blobs(principal, digests)
        if missing:
            raise Invalid(f"These files were not uploaded first: {', '.join(missing)}.")
        for digest in digests:
            self.blobs.refresh(digest)  # young again: the collector leaves it for the grace
        for f in request.files:
            stored = self.blobs.size(f.digest)
            if f.size != stored:
                raise Invalid(
                    f"File {f.path!r} is declared as {f.size} bytes; its blob {f.digest} "
                    f"holds {stored}."
                )
        new = NewVersion(
            digest=manifest_digest(request.files),
            kind=request.kind,
            entry=request.entry if request.kind != "directory" else "",
            description=request.description,
            metrics=request.metrics,
            params=request.params,
            lineage=request.lineage,
            created_by=principal.user,
            files=request.files,
        )
        full_name = f"{namespace}/{model_name}"

        def insert(tx: RegistryTransaction) -> ModelVersion:
            ns = self._ensure_namespace(tx, principal, namespace)
            self._require(tx, principal, ns, "writer", "publishing to")
            tx.lock_blobs(exclusive=False)
            gone = [d for d in digests if not self.blobs.exists(d)]
            if gone:  # collected since the check above (older than the grace, unnamed)
                raise Invalid(
                    f"These files were removed by the blob collector while this publish ran: "
                    f"{', '.join(gone)}. Publish again (they are uploaded again)."
                )
            if request.alias is not None:
                self._require(tx, principal, ns, *self._alias_role(request.alias))
            model = tx.model(ns.id, model_name, lock=True)
            if model is None:
                model = tx.create_model(ns.id, model_name, principal.user)
            latest = tx.latest_version(model.id)
            version = tx.add_version(model.id, 1 + (latest.number if latest else 0), new)
            if request.alias is not None:
                evidence = self._gate(tx, principal, ns, model, request.alias, version)
                tx.move_alias(model.id, request.alias, version, "set", principal.user, evidence)
            return self._describe(tx, full_name, version)

        return self.store.writing(insert)

    def _gate(
        self,
        tx: RegistryTransaction,
        principal: Principal,
        ns: NamespaceRow,
        model: ModelRow,
        alias: str,
        target: VersionRow,
        comparison: int | None = None,
        override: str | None = None,
    ) -> dict[str, Any] | None:
        """The evidence a gated alias move needs (a passing comparison, or an override)."""
        name = f"{ns.name}/{model.name}"
        found = gate_for(self.promotion_gates, name, alias)
        if found is None:
            if override is not None:
                raise Invalid(f"Alias {alias!r} of {name} has no promotion gate to override.")
            return None
        key, gate = found
        if override is not None:
            if not override.strip():
                raise Invalid("Overriding a promotion gate needs a reason.")
            self._require(tx, principal, ns, "maintainer", f"overriding promotion gate '{key}' in")
            return {"gate": key, "override": override.strip()[:2000]}
        holder = tx.alias_target(model.id, alias)
        return check_promotion(
            tx,
            key,
            gate,
            name=name,
            alias=alias,
            new=(target.id, target.number),
            current=None if holder is None else (holder.id, holder.number),
            comparison_id=comparison,
        )

    def set_alias(
        self,
        principal: Principal,
        name: str,
        alias: str,
        version: int,
        *,
        comparison: int | None = None,
        override: str | None = None,
    ) -> AliasInfo:
        """Point ``alias`` at an existing version; the move is appended to the ledger.

        A gated alias (``promotion_gates``) moves only on a passing comparison of the new
        version against the current holder (``comparison`` names one, else the newest is
        found), or on a maintainer's ``override`` reason; the ledger keeps which.
        """
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        version = parse_version(version)
        full_name = f"{namespace}/{model_name}"

        def move(tx: RegistryTransaction) -> AliasInfo:
            ns, model = self._model(tx, principal, namespace, model_name, *self._alias_role(alias))
            target = self._movable(self._version(tx, model, full_name, version), full_name, alias)
            evidence = self._gate(tx, principal, ns, model, alias, target, comparison, override)
            tx.move_alias(model.id, alias, target, "set", principal.user, evidence)
            return AliasInfo(name=full_name, alias=alias, version=version, digest=target.digest)

        return self.store.writing(move)

    def rollback(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Move ``alias`` back to where it pointed before its latest move.

        The ledger is replayed as a stack (a set pushes, a rollback pops), so repeated
        rollbacks walk further back instead of toggling between two versions.
        """
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        full_name = f"{namespace}/{model_name}"

        def move(tx: RegistryTransaction) -> AliasInfo:
            _, model = self._model(tx, principal, namespace, model_name, *self._alias_role(alias))
            stack = _alias_stack(self._alias_events(tx, model, full_name, alias))
            if len(stack) < 2:
                raise Conflict(
                    f"Alias {alias!r} of {full_name} has no earlier version to roll "
                    f"back to (it has only ever pointed at version {stack[-1]})."
                )
            target = self._movable(self._version(tx, model, full_name, stack[-2]), full_name, alias)
            tx.move_alias(model.id, alias, target, "rollback", principal.user, None)
            return AliasInfo(
                name=full_name, alias=alias, version=target.number, digest=target.digest
            )

        return self.store.writing(move)

    def _alias_events(
        self, tx: RegistryTransaction, model: ModelRow, name: str, alias: str
    ) -> list[AliasEvent]:
        """The alias's ledger; NotFound when it was never set."""
        events = tx.alias_events(model.id, alias)
        if not events:
            known = list(dict.fromkeys(e.alias for e in tx.alias_events(model.id)))
            raise NotFound(f"{name} has no alias {alias!r}.{did_you_mean(alias, known)}")
        return events

    def grant(
        self,
        principal: Principal,
        namespace: str,
        role: Role,
        user: str | None = None,
        group: str | None = None,
    ) -> GrantInfo:
        """Give a user or a group a role on a namespace (admins only; creates the namespace)."""
        check_name(namespace, "namespace")
        if role not in ROLES:
            raise Invalid(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
        if (user is None) == (group is None):
            raise Invalid("Grant a role to exactly one of user=... or group=....")
        subject_kind, subject = ("user", user) if user is not None else ("group", group)
        if not subject or len(subject) > 128:
            raise Invalid(f"Invalid {subject_kind} name {subject!r}.")

        def write(tx: RegistryTransaction) -> GrantInfo:
            ns = self._ensure_namespace(tx, principal, namespace)
            self._require(tx, principal, ns, "admin", "granting roles on")
            return tx.put_grant(ns, subject_kind, subject, role, principal.user)

        return self.store.writing(write)

    def revoke(
        self,
        principal: Principal,
        namespace: str,
        user: str | None = None,
        group: str | None = None,
    ) -> GrantInfo:
        """Take back a user's or a group's role on a namespace (admins); the grant removed.

        The last admin grant stays (Conflict): someone must be able to grant again.
        """
        check_name(namespace, "namespace")
        if (user is None) == (group is None):
            raise Invalid("Revoke the role of exactly one of user=... or group=....")
        subject_kind, subject = ("user", user) if user is not None else ("group", group)

        def write(tx: RegistryTransaction) -> GrantInfo:
            ns, role = self._visible(tx, principal, namespace)
            refusal = lacks_role(role, "admin", "revoking roles on", ns.name)
            if refusal is not None:
                raise refusal
            grants = tx.grants(ns)
            held = [g for g in grants if (g.user, g.group) == (user, group)]
            if not held:
                raise NotFound(
                    f"Namespace {namespace!r} has no grant for the {subject_kind} {subject!r}."
                )
            if held[0].role == "admin" and sum(g.role == "admin" for g in grants) == 1:
                raise Conflict(
                    f"The {subject_kind} {subject!r} holds the last admin grant on "
                    f"{namespace!r}; grant admin to someone else first."
                )
            removed = tx.delete_grant(ns, subject_kind, str(subject))
            assert removed is not None
            return removed

        return self.store.writing(write)

    def yank(self, principal: Principal, name: str, version: int, reason: str) -> ModelVersion:
        """Withdraw a version (maintainers): listings, the latest and aliases skip it and no
        alias may be moved onto it; its number (and so a rerun's pin) still loads it, with
        the reason shown. The row stays: versions are never renumbered or reused."""
        namespace, model_name = parse_name(name, principal)
        version = parse_version(version)
        why = (reason or "").strip()
        if not why:
            raise Invalid("A yank needs a reason (shown to whoever still loads the version).")
        if len(why) > 2000:
            raise Invalid("A yank's reason is at most 2000 characters.")
        full_name = f"{namespace}/{model_name}"

        def write(tx: RegistryTransaction) -> ModelVersion:
            _, model = self._model(
                tx, principal, namespace, model_name, "maintainer", "yanking versions in"
            )
            target = self._version(tx, model, full_name, version)
            if target.yanked is not None:
                raise Conflict(f"{full_name}:{version} is already {_yanked(target)}.")
            return self._describe(tx, full_name, tx.yank(target, why, principal.user))

        return self.store.writing(write)

    def unyank(self, principal: Principal, name: str, version: int) -> ModelVersion:
        """Restore a yanked version (maintainers, as for a yank): it is listed again and may
        be the latest; no alias is moved back onto it (that stays a deliberate move)."""
        namespace, model_name = parse_name(name, principal)
        version = parse_version(version)
        full_name = f"{namespace}/{model_name}"

        def write(tx: RegistryTransaction) -> ModelVersion:
            _, model = self._model(
                tx, principal, namespace, model_name, "maintainer", "un-yanking versions in"
            )
            target = self._version(tx, model, full_name, version)
            if target.deleted is not None:
                raise Conflict(f"{_gone(target, full_name)} It cannot be un-yanked.")
            if target.yanked is None:
                raise Conflict(f"{full_name}:{version} is not yanked.")
            return self._describe(tx, full_name, tx.unyank(target))

        return self.store.writing(write)

    def delete_version(
        self, principal: Principal, name: str, version: int, *, dry_run: bool = False
    ) -> VersionDeletion:
        """Hard-delete a yanked version (admins of its namespace, or the registry's).

        Its row stays as a tombstone, so its number is never given to other bytes and a pin
        naming it fails saying who deleted it; its files go, and with them the blobs no
        other version names (those stored within the upload grace are left to a later
        ``fsck --gc``: a publish may be about to name them). Refused while an alias or a
        comparison points at it. ``dry_run`` only says what would go.
        """
        namespace, model_name = parse_name(name, principal)
        version = parse_version(version)
        full_name = f"{namespace}/{model_name}"

        def check(tx: RegistryTransaction) -> tuple[VersionRow, list[str]]:
            _, model = self._model(
                tx, principal, namespace, model_name, "admin", "deleting versions in"
            )
            target = self._version(tx, model, full_name, version)
            if target.deleted is not None:
                raise Conflict(_gone(target, full_name))
            if target.yanked is None:
                raise Conflict(
                    f"{full_name}:{version} is not yanked; only a yanked version can be "
                    "deleted (yank it first, with the reason)."
                )
            described = self._describe(tx, full_name, target)
            if described.aliases:
                held = ", ".join(f"@{a}" for a in described.aliases)
                raise Conflict(
                    f"Cannot delete {full_name}:{version}: {held} still points at it; "
                    "move the alias first."
                )
            compared = tx.comparisons_of(target.id)
            if compared:
                ids = ", ".join(str(c.id) for c in compared)
                raise Conflict(
                    f"Cannot delete {full_name}:{version}: comparison {ids} includes it "
                    "(a comparison's evidence keeps its candidates)."
                )
            digests = sorted({f.digest for f in described.files})
            others = tx.referenced(digests, excluding=target.id)
            return target, [d for d in digests if d not in others]

        if dry_run:
            with self.store.reading() as tx:
                _, only = check(tx)
            return VersionDeletion(
                name=full_name,
                version=version,
                dry_run=True,
                deleted=None,
                blobs=only,
                reclaimed=[],
            )

        def write(tx: RegistryTransaction) -> tuple[VersionRow, list[str]]:
            target, only = check(tx)
            return tx.delete_version(target, principal.user), only

        tombstone, only = self.store.writing(write)
        return VersionDeletion(
            name=full_name,
            version=version,
            dry_run=False,
            deleted=tombstone.deleted,
            blobs=only,
            reclaimed=reclaim(self.store, self.blobs, only, self.upload_grace_seconds),
        )

    def record_load(
        self, principal: Principal, name: str, version: int, request: LoadRequest
    ) -> None:
        """Note that a run loaded a version (the downstream half of its lineage)."""
        namespace, model_name = parse_name(name, principal)

        def write(tx: RegistryTransaction) -> None:
            _, model = self._model(tx, principal, namespace, model_name)
            full_name = f"{namespace}/{model_name}"
            target = _live(self._version(tx, model, full_name, version), full_name)
            tx.add_load(target.id, principal.user, request)

        self.store.writing(write)

    # reads

    def resolve(self, principal: Principal, ref: str) -> ModelVersion:
        parsed = parse_ref(ref, principal)
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, parsed)
            return self._describe(tx, parsed.name, version)

    def alias(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Where an alias points now: the query every serving client polls.

        One statement resolves the alias and whether the caller holds a role there; only
        when it finds nothing readable does the general path run, to raise the precise
        error. Answers are cached while the store's generation stays the same.
        """
        namespace, model_name = parse_name(name, principal)
        ref = Ref(namespace, model_name, alias=check_alias(alias))
        generation = self.store.generation()
        key = (namespace, model_name, alias, principal)
        if generation is not None:
            if generation != self._alias_generation:
                self._alias_cache.clear()
                self._alias_generation = generation
            cached = self._alias_cache.get(key)
            if cached is not None:
                return cached
        granted = self.store.granted_alias(
            namespace, model_name, alias, principal.user, [*principal.groups, EVERYONE]
        )
        if granted is not None:
            number, digest = granted
            found = AliasInfo(name=ref.name, alias=alias, version=number, digest=digest)
            if generation is not None and len(self._alias_cache) < 100_000:
                self._alias_cache[key] = found
            return found
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, ref)
            return AliasInfo(
                name=ref.name, alias=alias, version=version.number, digest=version.digest
            )

    def aliases(self, principal: Principal, name: str) -> list[AliasInfo]:
        namespace, model_name = parse_name(name, principal)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            rows = tx.aliases(model.id)
        return [
            AliasInfo(name=f"{namespace}/{model_name}", alias=a, version=n, digest=d)
            for a, n, d, yanked in rows
            if not yanked
        ]

    def versions(
        self,
        principal: Principal,
        name: str,
        *,
        limit: int | None = None,
        before: int | None = None,
        include_yanked: bool = False,
    ) -> list[ModelVersion]:
        """Versions of ``name``, oldest first, yanked ones only if asked (each says why);
        with ``limit``, one page: the newest ``limit`` numbered below ``before`` (the next
        older page: ``before`` = this page's first)."""
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"A page holds 1 to {MAX_PAGE} versions, not {limit}.")
        if before is not None and not 1 <= before <= MAX_VERSION:
            raise Invalid(f"before={before} is not a version number (1 to {MAX_VERSION}).")
        namespace, model_name = parse_name(name, principal)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            rows = tx.versions(model.id, limit, before, include_yanked=include_yanked)
            return tx.describe(f"{namespace}/{model_name}", rows)

    def models(
        self, principal: Principal, namespace: str | None = None, *, include_yanked: bool = False
    ) -> list[ModelSummary]:
        """Models in ``namespace``, or in every namespace the caller can read; with
        ``include_yanked`` those whose every version is yanked too (so they can be seen and
        un-yanked)."""
        with self.store.reading() as tx:
            if namespace is not None:
                ns, _ = self._visible(tx, principal, check_name(namespace, "namespace"))
                spaces = [ns]
            else:
                spaces = self._readable(tx, principal)
            return tx.model_summaries([ns.id for ns in spaces], include_yanked=include_yanked)

    def history(self, principal: Principal, name: str, alias: str) -> list[AliasEvent]:
        """Every move of ``alias``, oldest first: who moved it, when, from where to where."""
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            return self._alias_events(tx, model, f"{namespace}/{model_name}", alias)

    def lineage(self, principal: Principal, ref: str) -> Lineage:
        parsed = parse_ref(ref, principal)
        with self.store.reading() as tx:
            _, version = self._resolve(tx, principal, parsed)
            captured = version.lineage or {}
            return Lineage(
                name=parsed.name,
                version=version.number,
                digest=version.digest,
                user=version.created_by,
                created_at=version.created_at,
                datasets=captured.get("datasets", []),
                parents=captured.get("parents", []),
                jobs=captured.get("jobs", []),
                notebook=captured.get("notebook"),
                git=captured.get("git"),
                params=version.params,
                metrics=version.metrics,
                loaded_by=tx.loads(version.id),
                comparisons=[
                    _comparison_summary(c) for c in tx.comparisons_of(version.id, limit=20)
                ],
                promotions=tx.promotions(version.model_id, version.number),
            )

    def namespace(self, principal: Principal, name: str) -> NamespaceInfo:
        """The caller's role on a namespace and its grants (the uniform 404 without one)."""
        check_name(name, "namespace")
        with self.store.reading() as tx:
            ns, role = self._visible(tx, principal, name)
            return NamespaceInfo(name=name, role=role, grants=tx.grants(ns))

    # comparisons: the evidence promotion gates check

    def record_comparison(self, principal: Principal, comparison: Comparison) -> Comparison:
        """Store a computed comparison (its id assigned here); readers of every candidate
        may record, and each candidate must be the registry's content of its version."""

        def write(tx: RegistryTransaction) -> Comparison:
            ids = []
            for candidate in comparison.candidates:
                version = self._candidate(tx, principal, candidate.label)
                if version.digest != candidate.digest:
                    raise Invalid(
                        f"Candidate {candidate.label} was evaluated with content "
                        f"{candidate.digest}, but the registry's {candidate.label} is "
                        f"{version.digest}."
                    )
                ids.append(version.id)
            return tx.add_comparison(comparison, ids)

        return self.store.writing(write)

    def comparison(self, principal: Principal, comparison_id: int) -> Comparison:
        """Comparison ``comparison_id``, if the caller can read every candidate."""
        with self.store.reading() as tx:
            found = tx.comparison(comparison_id)
            if found is None:
                raise NotFound(f"There is no comparison {comparison_id}.")
            for candidate in found.candidates:
                self._candidate(tx, principal, candidate.label)
            return found

    def comparisons(
        self,
        principal: Principal,
        *,
        ref: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[Comparison]:
        """Comparisons of one version (``ref``) or of any version of a model (``name``),
        newest first; those with a candidate the caller may not read are left out."""
        if (ref is None) == (name is None):
            raise Invalid("Name exactly one of ref='ns/model:N' or name='ns/model'.")
        with self.store.reading() as tx:
            if ref is not None:
                found = tx.comparisons_of(self._candidate(tx, principal, ref).id, limit=limit)
            else:
                namespace, model_name = parse_name(name or "", principal)
                _, model = self._model(tx, principal, namespace, model_name)
                found = tx.model_comparisons(model.id, limit)
            return [c for c in found if self._may_read_candidates(tx, principal, c)]

    def gates(self, principal: Principal, name: str, limit: int = 20) -> list[GateReport]:
        """Each gated alias of ``name``: who holds it and whether each recent comparison
        lets another candidate take it (what the Models panel shows)."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        recent = self.comparisons(principal, name=full_name, limit=limit)
        holders = {a.alias: a.version for a in self.aliases(principal, full_name)}
        return gate_reports(self.promotion_gates, full_name, holders, recent)

    def _candidate(self, tx: RegistryTransaction, principal: Principal, label: str) -> VersionRow:
        """The version a comparison's candidate names, if the caller may read it."""
        return self._resolve(tx, principal, parse_ref(label, principal))[1]

    def _may_read_candidates(
        self, tx: RegistryTransaction, principal: Principal, comparison: Comparison
    ) -> bool:
        """Whether the caller may read every candidate (others' comparisons stay hidden)."""
        try:
            for candidate in comparison.candidates:
                self._candidate(tx, principal, candidate.label)
        except LeptonError:
            return False
        return True

    def role_of(self, principal: Principal, namespace: str) -> str | None:
        """The caller's role on ``namespace``; None both where it has none and where the
        namespace does not exist (the caller learns only what :meth:`namespace` tells it)."""
        check_name(namespace, "namespace")
        with self.store.reading() as tx:
            found = tx.namespace(namespace)
            return None if found is None else self._role(tx, principal, found)

    def file(self, principal: Principal, name: str, version: int, path: str) -> FileEntry:
        """A version's file, for download: readers only."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        with self.store.reading() as tx:
            _, model = self._model(tx, principal, namespace, model_name)
            target = _live(self._version(tx, model, full_name, version), full_name)
            found = tx.file(target.id, path)
            if found is None:
                known = tx.file_paths(target.id)
                raise NotFound(
                    f"{full_name}:{version} has no file {path!r}.{did_you_mean(path, known)}"
                )
            return found

    # blobs

    def begin_upload(self, principal: Principal, address: str) -> BlobWriter:
        """A sink for the blob ``address``; :meth:`finish_upload` checks the bytes match."""
        if not principal.user:
            raise Forbidden("Uploading files needs an authenticated user.")
        parse_address(address)
        return self.blobs.writer()

    def finish_upload(self, principal: Principal, writer: BlobWriter, address: str) -> str:
        """Store the upload under ``address`` if its bytes hash to it; the caller has then
        shown they hold those bytes, so a version of theirs may name them."""
        stored = writer.commit(address)
        self.record_upload(principal, stored)
        return stored

    def store_file(self, principal: Principal, path: Any) -> tuple[str, int]:
        """Store a local file as the caller's upload (a direct client); (address, size)."""
        address, size = self.blobs.put_file(path)
        self.record_upload(principal, address)
        return address, size

    def record_upload(self, principal: Principal, address: str) -> None:
        """Note that ``principal`` uploaded ``address`` (a direct client stores blobs itself)."""
        self.blobs.refresh(address)
        now = time.monotonic()
        mine = self._uploads.setdefault(principal.user, {})
        for old in [a for a, t in mine.items() if now - t > self.upload_grace_seconds]:
            del mine[old]
        mine[address] = now

    def missing_blobs(self, principal: Principal, addresses: list[str]) -> list[str]:
        """Which of these blobs a publisher still has to upload.

        As OCI registries do for cross-repository mounts, a digest is no permission: a
        stored blob counts only if the caller uploaded it lately or can read a version
        that holds it; any other is "missing", so whether it exists is not revealed and
        the caller proves they hold the bytes by uploading them.
        """
        for address in addresses:
            parse_address(address)
        wanted = list(dict.fromkeys(addresses))
        now = time.monotonic()
        mine = self._uploads.get(principal.user, {})
        usable = {a for a in wanted if a in mine and now - mine[a] <= self.upload_grace_seconds}
        others = [a for a in wanted if a not in usable]
        if others:
            usable |= self._readable_blobs(principal, others)
        return [a for a in wanted if a not in usable or not self.blobs.exists(a)]

    def _readable_blobs(self, principal: Principal, addresses: list[str]) -> set[str]:
        """Those of ``addresses`` that some version the caller may read holds."""
        with self.store.reading() as tx:
            pairs = tx.blob_namespaces(addresses)
            roles = self._roles(tx, principal, sorted({ns for _, ns in pairs}))
        return {digest for digest, ns in pairs if role_rank(roles.get(ns)) >= role_rank("reader")}

    def fsck(
        self,
        *,
        verify: bool = True,
        gc: bool = False,
        dry_run: bool = False,
        grace_seconds: float | None = None,
    ) -> FsckReport:
        """The blob store checked against the metadata (:func:`.maintenance.fsck`)."""
        if grace_seconds is None:
            grace_seconds = self.upload_grace_seconds
        return fsck(
            self.store,
            self.blobs,
            verify=verify,
            gc=gc,
            dry_run=dry_run,
            grace_seconds=grace_seconds,
        )

    def admin_fsck(self, principal: Principal, request: FsckRequest) -> FsckReport:
        """:meth:`fsck` for a caller of the REST API: the registry's admins only (it lists
        and removes blobs of every namespace), with the configured upload grace."""
        require_registry_admin(self.policy, principal, "Checking and collecting the blob store")
        return self.fsck(verify=request.verify, gc=request.gc, dry_run=request.dry_run)


def open_service(settings: Settings, policy: NamespacePolicy | None = None) -> RegistryService:
    """The service over the database and blob storage ``settings`` name."""
    stat_cache = StatCache(settings.state_dir / "registry-cache" / "stat.db")
    return RegistryService(
        SqlRegistryStore(settings.registry_db),
        BlobStore(settings.registry_storage, stat_cache),
        settings.protected_aliases,
        policy,
        promotion_gates=settings.promotion_gates,
        upload_grace_seconds=settings.registry_upload_grace_seconds,
    )


def _yanked(version: VersionRow) -> str:
    """'yanked by alice: reason', for messages about a yanked version."""
    assert version.yanked is not None
    return f"yanked by {version.yanked.by}: {version.yanked.reason}"


def _live(version: VersionRow, name: str) -> VersionRow:
    """``version`` unless it was deleted: then NotFound saying who deleted it, when, why."""
    if version.deleted is not None:
        raise NotFound(_gone(version, name))
    return version


def _gone(version: VersionRow, name: str) -> str:
    """'ns/m:3 was deleted by alice at ... (yanked by bob: reason); its number ...'."""
    assert version.deleted is not None
    why = f" ({_yanked(version)})" if version.yanked is not None else ""
    return (
        f"{name}:{version.number} was deleted by {version.deleted.by} at "
        f"{version.deleted.at:%Y-%m-%d %H:%M} UTC{why}; its files are gone and its number "
        "is not reused."
    )


def _alias_stack(events: list[AliasEvent]) -> list[int]:
    """Where an alias pointed, oldest first, after replaying its ledger (rollbacks pop)."""
    stack: list[int] = []
    for e in events:
        if e.action == "rollback":
            stack.pop()
        else:
            stack.append(e.version)
    return stack


def _comparison_summary(c: Comparison) -> dict[str, Any]:
    """A comparison as a version's lineage lists it."""
    return {
        "id": c.id,
        "metric": c.metric,
        "candidates": [x.label for x in c.candidates],
        "winner": c.winner,
        "verdict": c.verdict,
        "created_by": c.created_by,
        "created_at": c.created_at.isoformat(),
    }


def _check_path(path: str) -> str:
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


def _check_tree(paths: list[str]) -> None:
    """Invalid when one path is a folder of another ('a' and 'a/b'): not loadable."""
    folders = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
    clash = sorted(folders & set(paths))
    if clash:
        raise Invalid(
            f"File path {clash[0]!r} is also a folder of another file of the version; "
            "a version's files must form a tree."
        )
