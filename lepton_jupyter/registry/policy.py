"""Who may create a namespace, and who administers every namespace.

The service asks its policy at the two points where a namespace's ownership is decided:
when a write names a namespace that does not exist yet (:meth:`NamespacePolicy.founding`)
and when it looks up a caller's role (:meth:`NamespacePolicy.is_admin`).

* :class:`NamespacePolicy` (single user, standalone service): whoever first writes to a
  namespace becomes its admin.
* :class:`RegistryAdmins` (a standalone service with tokens): the same, plus the registry
  admins its operator named (``lepton registry serve --admin USER``), who hold the admin
  role on every namespace (fsck and gc over REST, hard deletes, grants anywhere).
* :class:`TeamPolicy` (a JupyterHub): hub groups are teams. A namespace named after a hub
  group is created by any member of the group and the group gets ``team_role`` on it; a
  namespace named after a user is that user's, who becomes its admin; any other namespace,
  and grants on team namespaces, are for the registry admins the operator configured
  (users, or members of admin groups), who hold the admin role on every namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from ..errors import Forbidden
from .identity import Principal

SubjectKind = Literal["user", "group"]


@dataclass(frozen=True)
class FoundingGrant:
    """A grant written together with a new namespace."""

    subject_kind: SubjectKind
    subject: str
    role: str


class NamespacePolicy:
    """Single-user default: the first writer of a namespace administers it; no superusers."""

    def founding(self, user: str, groups: frozenset[str], namespace: str) -> list[FoundingGrant]:
        """The grants a new namespace starts with; raise :class:`Forbidden` to refuse it."""
        return [FoundingGrant("user", user, "admin")]

    def is_admin(self, user: str, groups: frozenset[str]) -> bool:
        """Whether the caller is an admin of every namespace."""
        return False


@dataclass(frozen=True)
class RegistryAdmins(NamespacePolicy):
    """The first writer of a namespace administers it, and the operator's admins (users, or
    members of admin groups) administer every namespace."""

    admins: frozenset[str] = field(default_factory=frozenset)
    admin_groups: frozenset[str] = field(default_factory=frozenset)

    def is_admin(self, user: str, groups: frozenset[str]) -> bool:
        return user in self.admins or bool(groups & self.admin_groups)


@dataclass(frozen=True)
class TeamPolicy(RegistryAdmins):
    """A hub's rules: team namespaces from hub groups, operator-configured admins."""

    team_role: str = "maintainer"

    @classmethod
    def of(
        cls, admins: Iterable[str] = (), admin_groups: Iterable[str] = (), team_role: str = ""
    ) -> TeamPolicy:
        return cls(
            frozenset(a for a in admins if a),
            frozenset(g for g in admin_groups if g),
            team_role or "maintainer",
        )

    def founding(self, user: str, groups: frozenset[str], namespace: str) -> list[FoundingGrant]:
        if namespace in groups:
            return [FoundingGrant("group", namespace, self.team_role)]
        if namespace == user:
            return [FoundingGrant("user", user, "admin")]
        if self.is_admin(user, groups):
            return []
        yours = ", ".join(sorted({user, *groups}))
        raise Forbidden(
            f"Namespace '{namespace}' does not exist or you have no role there, and on this "
            f"hub only members of the hub group '{namespace}', the user '{namespace}' or a "
            f"registry admin may create it (you can create: {yours})."
        )


def require_registry_admin(policy: NamespacePolicy, principal: Principal, doing: str) -> None:
    """Raise :class:`Forbidden` naming the registry admin role unless ``principal`` holds it."""
    if policy.is_admin(principal.user, principal.groups):
        return
    raise Forbidden(
        f"{doing} needs the registry admin role (an admin of every namespace), and "
        f"{principal.user or 'an anonymous caller'} is not a registry admin. Registry admins "
        "are named by the operator of `lepton registry serve` (--admin USER or --admin-group "
        "GROUP, with tokens or --hub); on a single-user server, run `lepton registry fsck` "
        "where the store is."
    )
