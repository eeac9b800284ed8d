"""Who may do what in the registry, and the lookups every operation starts with.

Roles on a namespace, each including the ones before: reader < writer < maintainer < admin.
:class:`RegistryAccess` holds what the parts of
:class:`~lepton_jupyter.registry.service.RegistryService` share: the stores, the namespace
policy, the promotion gates, and the checks each operation makes first (the caller's role,
the uniform 404 for a namespace they have no role in, a model, a version, a reference).
Each lookup raises NotFound naming what is missing and what there is.
"""

from __future__ import annotations

from typing import Any

from ..errors import Conflict, Forbidden, Invalid, LeptonError, NotFound, did_you_mean
from .blobs import BlobStore
from .gates import PromotionGate, check_promotion, gate_for
from .grammar import Ref
from .identity import Principal
from .policy import NamespacePolicy
from .schema import ModelVersion, Role
from .store import ModelRow, NamespaceRow, RegistryStore, RegistryTransaction, VersionRow

EVERYONE = "*"

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


class RegistryAccess:
    """The state and the checks every part of the service shares (the service's
    constructor sets the state)."""

    store: RegistryStore
    blobs: BlobStore
    protected_aliases: frozenset[str]
    policy: NamespacePolicy
    promotion_gates: dict[str, PromotionGate]
    upload_grace_seconds: float

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
            return model, not_deleted(self._version(tx, model, ref.name, ref.version), ref.name)
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
                    f"{yanked_note(version)}. Move the alias (set_alias, or roll it back); "
                    f"{ref.name}:{version.number} still loads by its number."
                )
            return model, version
        version = tx.latest_version(model.id, include_yanked=False)
        if version is None:
            raise NotFound(f"{ref.name} has no versions yet (none that is not yanked).")
        return model, version

    def _movable(self, target: VersionRow, name: str, alias: str) -> VersionRow:
        """``target`` unless it is yanked: no alias may be moved onto a yanked version."""
        not_deleted(target, name)
        if target.yanked is not None:
            raise Conflict(
                f"Cannot move @{alias}: version {target.number} of {name} is {yanked_note(target)}."
            )
        return target

    def _describe(self, tx: RegistryTransaction, name: str, version: VersionRow) -> ModelVersion:
        return tx.describe(name, [version])[0]

    # what a write checks or creates first

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


def yanked_note(version: VersionRow) -> str:
    """'yanked by alice: reason', for messages about a yanked version."""
    assert version.yanked is not None
    return f"yanked by {version.yanked.by}: {version.yanked.reason}"


def not_deleted(version: VersionRow, name: str) -> VersionRow:
    """``version`` unless it was deleted: then NotFound saying who deleted it, when, why."""
    if version.deleted is not None:
        raise NotFound(deleted_note(version, name))
    return version


def deleted_note(version: VersionRow, name: str) -> str:
    """'ns/m:3 was deleted by alice at ... (yanked by bob: reason); its number ...'."""
    assert version.deleted is not None
    why = f" ({yanked_note(version)})" if version.yanked is not None else ""
    return (
        f"{name}:{version.number} was deleted by {version.deleted.by} at "
        f"{version.deleted.at:%Y-%m-%d %H:%M} UTC{why}; its files are gone and its number "
        "is not reused."
    )
