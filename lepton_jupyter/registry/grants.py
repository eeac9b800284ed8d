"""Grants: which role a user or a group holds on a namespace, given and taken back by its
admins.

The last admin grant stays (someone must be able to grant again), and a namespace the
caller has no role in answers as one that does not exist.
"""

from __future__ import annotations

from ..errors import Conflict, Invalid, NotFound
from .access import ROLES, RegistryAccess, lacks_role
from .grammar import check_name
from .identity import Principal
from .schema import GrantInfo, NamespaceInfo, Role
from .store import RegistryTransaction


class GrantOperations(RegistryAccess):
    """Granting, revoking and reading roles."""

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

    def namespace(self, principal: Principal, name: str) -> NamespaceInfo:
        """The caller's role on a namespace and its grants (the uniform 404 without one)."""
        check_name(name, "namespace")
        with self.store.reading() as tx:
            ns, role = self._visible(tx, principal, name)
            return NamespaceInfo(name=name, role=role, grants=tx.grants(ns))

    def role_of(self, principal: Principal, namespace: str) -> str | None:
        """The caller's role on ``namespace``; None both where it has none and where the
        namespace does not exist (the caller learns only what :meth:`namespace` tells it)."""
        check_name(namespace, "namespace")
        with self.store.reading() as tx:
            found = tx.namespace(namespace)
            return None if found is None else self._role(tx, principal, found)
