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
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import blake3
from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from .._process import pid_exists
from ..errors import Conflict, Forbidden, Invalid, NotFound, did_you_mean
from . import store as db
from .blobs import BlobStore, BlobWriter, age_of, parse_address
from .policy import NamespacePolicy
from .schema import (
    MAX_VERSION,
    AliasEvent,
    AliasInfo,
    FileEntry,
    FsckReport,
    GrantInfo,
    Lineage,
    LoadInfo,
    LoadRequest,
    ModelSummary,
    ModelVersion,
    NamespaceInfo,
    PublishRequest,
    Role,
)

T = TypeVar("T")

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
#: How long a blob a caller uploaded counts as theirs to publish (a publish in progress);
#: the same grace as fsck's for a young orphan.
UPLOAD_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user and the groups (teams, organisations) they belong to."""

    user: str
    groups: frozenset[str] = field(default_factory=frozenset)


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


def _role_rank(role: str | None) -> int:
    return db.ROLES.index(role) + 1 if role in db.ROLES else 0


_ALIAS_WITH_ROLE = text("""
    SELECT v.number AS number, v.digest AS digest,
           (SELECT count(*) FROM grants g
             WHERE g.namespace_id = n.id
               AND ((g.subject_kind = 'user' AND g.subject = :user)
                    OR (g.subject_kind = 'group' AND g.subject IN :groups))) AS rank
      FROM namespaces n
      JOIN models m ON m.namespace_id = n.id
      JOIN aliases a ON a.model_id = m.id
      JOIN versions v ON v.id = a.version_id
     WHERE n.name = :namespace AND m.name = :model AND a.name = :alias
""").bindparams(bindparam("groups", expanding=True))


class RegistryService:
    """Models, versions, aliases, lineage and grants over one store and one blob store."""

    def __init__(
        self,
        store: db.Store,
        blobs: BlobStore,
        protected_aliases: Iterable[str] = ("prod",),
        policy: NamespacePolicy | None = None,
        promotion_gates: Mapping[str, Any] | None = None,
    ) -> None:
        from ..compare.gates import parse_gates

        self.store = store
        self.blobs = blobs
        self.protected_aliases = frozenset(protected_aliases)
        self.policy = policy or NamespacePolicy()
        self.promotion_gates = parse_gates(promotion_gates)
        # alias() answers, valid while the store's generation stays the same
        self._alias_cache: dict[tuple[str, str, str, Principal], AliasInfo] = {}
        self._alias_generation: int | None = None
        # user -> {address: when} of blobs they uploaded (proved they hold the bytes)
        self._uploads: dict[str, dict[str, float]] = {}

    # permissions

    def _role(self, session: Session, principal: Principal, namespace: db.Namespace) -> str | None:
        if self.policy.is_admin(principal.user, principal.groups):
            return "admin"
        groups = [*principal.groups, EVERYONE]
        roles = session.scalars(
            select(db.Grant.role).where(
                db.Grant.namespace_id == namespace.id,
                or_(
                    (db.Grant.subject_kind == "user") & (db.Grant.subject == principal.user),
                    (db.Grant.subject_kind == "group") & db.Grant.subject.in_(groups),
                ),
            )
        ).all()
        return max(roles, key=_role_rank, default=None)

    def _require(
        self,
        session: Session,
        principal: Principal,
        namespace: db.Namespace,
        needed: str,
        doing: str,
    ) -> str:
        role = self._role(session, principal, namespace)
        if _role_rank(role) < _role_rank(needed):
            you = f"you are {role}" if role else "you have no role there"
            raise Forbidden(f"{doing} '{namespace.name}' needs the {needed} role; {you}.")
        return role or ""

    def _alias_role(self, alias: str) -> tuple[str, str]:
        if alias in self.protected_aliases:
            return "maintainer", f"moving the protected alias '{alias}' in"
        return "writer", f"moving alias '{alias}' in"

    # lookups

    def _namespace(self, session: Session, principal: Principal, name: str) -> db.Namespace:
        found = session.scalar(select(db.Namespace).where(db.Namespace.name == name))
        if found is None:
            # Suggest only namespaces the caller has a role in: names are not public.
            known = [
                ns.name
                for ns in session.scalars(select(db.Namespace))
                if self._role(session, principal, ns) is not None
            ]
            raise NotFound(f"Namespace {name!r} does not exist.{did_you_mean(name, known)}")
        return found

    def _model(
        self,
        session: Session,
        principal: Principal,
        namespace: str,
        model: str,
        needed: str = "reader",
        doing: str = "reading",
    ) -> tuple[db.Namespace, db.Model]:
        ns = self._namespace(session, principal, namespace)
        self._require(session, principal, ns, needed, doing)
        found = session.scalar(
            select(db.Model).where(db.Model.namespace_id == ns.id, db.Model.name == model)
        )
        if found is None:
            known = session.scalars(select(db.Model.name).where(db.Model.namespace_id == ns.id))
            raise NotFound(
                f"Model '{namespace}/{model}' does not exist.{did_you_mean(model, list(known))}"
            )
        return ns, found

    def _version(self, session: Session, model: db.Model, name: str, number: int) -> db.Version:
        found = session.scalar(
            select(db.Version).where(db.Version.model_id == model.id, db.Version.number == number)
        )
        if found is None:
            latest = session.scalar(
                select(func.max(db.Version.number)).where(db.Version.model_id == model.id)
            )
            have = (
                f"it has versions 1..{latest}"
                if latest and latest > 1
                else "it has only version 1"
                if latest
                else "it has no versions"
            )
            raise NotFound(f"{name} has no version {number}; {have}.")
        return found

    def _resolve(
        self, session: Session, principal: Principal, ref: Ref
    ) -> tuple[db.Model, db.Version]:
        _, model = self._model(session, principal, ref.namespace, ref.model)
        if ref.version is not None:
            return model, self._version(session, model, ref.name, ref.version)
        if ref.alias is not None:
            version = session.scalar(
                select(db.Version)
                .join(db.Alias, db.Alias.version_id == db.Version.id)
                .where(db.Alias.model_id == model.id, db.Alias.name == ref.alias)
            )
            if version is None:
                known = session.scalars(select(db.Alias.name).where(db.Alias.model_id == model.id))
                raise NotFound(
                    f"{ref.name} has no alias {ref.alias!r}.{did_you_mean(ref.alias, list(known))}"
                )
            return model, version
        version = session.scalar(
            select(db.Version)
            .where(db.Version.model_id == model.id)
            .order_by(db.Version.number.desc())
            .limit(1)
        )
        if version is None:
            raise NotFound(f"{ref.name} has no versions yet.")
        return model, version

    def _describe(self, session: Session, name: str, version: db.Version) -> ModelVersion:
        files = session.scalars(
            select(db.VersionFile)
            .where(db.VersionFile.version_id == version.id)
            .order_by(db.VersionFile.path)
        ).all()
        aliases = session.scalars(
            select(db.Alias.name).where(db.Alias.version_id == version.id).order_by(db.Alias.name)
        ).all()
        return ModelVersion(
            name=name,
            version=version.number,
            digest=version.digest,
            kind=version.kind,
            entry=version.entry,
            size=version.size,
            description=version.description,
            metrics=version.metrics,
            params=version.params,
            lineage=version.lineage,
            created_by=version.created_by,
            created_at=version.created_at,
            aliases=list(aliases),
            files=[FileEntry(path=f.path, digest=f.digest, size=f.size) for f in files],
        )

    # writes

    def _retrying(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in a write transaction, again when a concurrent writer won a race.

        Two publishers creating the same model (or, on PostgreSQL, racing past the model
        row lock's first insert) hit a unique constraint; the loser retries and then sees
        the winner's rows. Nothing is half-written: each attempt is one transaction.
        """
        delay = 0.01
        for attempt in range(20):
            try:
                with self.store.write() as session:
                    return work(session)
            except IntegrityError:
                if attempt == 19:
                    raise
            except OperationalError as e:
                if "locked" not in str(e) or attempt == 19:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _ensure_namespace(self, session: Session, principal: Principal, name: str) -> db.Namespace:
        ns = session.scalar(select(db.Namespace).where(db.Namespace.name == name))
        if ns is None:
            founding = self.policy.founding(principal.user, principal.groups, name)
            ns = db.Namespace(name=name, created_by=principal.user)
            session.add(ns)
            session.flush()
            for grant in founding:
                session.add(
                    db.Grant(
                        namespace_id=ns.id,
                        subject_kind=grant.subject_kind,
                        subject=grant.subject,
                        role=grant.role,
                        granted_by=principal.user,
                    )
                )
            session.flush()
        return ns

    def check_publish(self, principal: Principal, name: str, alias: str | None = None) -> None:
        """Fail before any bytes are stored when this publish would be refused."""
        namespace, _ = parse_name(name, principal)
        if alias is not None:
            check_alias(alias)
        with self.store.read() as session:
            ns = session.scalar(select(db.Namespace).where(db.Namespace.name == namespace))
            if ns is None:
                self.policy.founding(principal.user, principal.groups, namespace)
                return
            self._require(session, principal, ns, "writer", "publishing to")
            if alias is not None:
                self._require(session, principal, ns, *self._alias_role(alias))

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
        missing = self.missing_blobs(principal, [f.digest for f in request.files])
        if missing:
            raise Invalid(f"These files were not uploaded first: {', '.join(missing)}.")
        for f in request.files:
            stored = self.blobs.size(f.digest)
            if f.size != stored:
                raise Invalid(
                    f"File {f.path!r} is declared as {f.size} bytes; its blob {f.digest} "
                    f"holds {stored}."
                )
        digest = manifest_digest(request.files)
        full_name = f"{namespace}/{model_name}"

        def insert(session: Session) -> ModelVersion:
            ns = self._ensure_namespace(session, principal, namespace)
            self._require(session, principal, ns, "writer", "publishing to")
            if request.alias is not None:
                self._require(session, principal, ns, *self._alias_role(request.alias))
            model = session.scalar(
                select(db.Model)
                .where(db.Model.namespace_id == ns.id, db.Model.name == model_name)
                .with_for_update()
            )
            if model is None:
                model = db.Model(namespace_id=ns.id, name=model_name, created_by=principal.user)
                session.add(model)
                session.flush()
            number = 1 + (
                session.scalar(
                    select(func.max(db.Version.number)).where(db.Version.model_id == model.id)
                )
                or 0
            )
            version = db.Version(
                model_id=model.id,
                number=number,
                digest=digest,
                kind=request.kind,
                entry=request.entry if request.kind != "directory" else "",
                size=sum(f.size for f in request.files),
                description=request.description,
                metrics=request.metrics,
                params=request.params,
                lineage=request.lineage,
                created_by=principal.user,
            )
            session.add(version)
            session.flush()
            session.add_all(
                db.VersionFile(version_id=version.id, path=f.path, digest=f.digest, size=f.size)
                for f in request.files
            )
            if request.alias is not None:
                evidence = self._gate(session, principal, ns, model, request.alias, version)
                self._move_alias(session, principal, model, request.alias, version, "set", evidence)
            session.flush()
            return self._describe(session, full_name, version)

        return self._retrying(insert)

    def _move_alias(
        self,
        session: Session,
        principal: Principal,
        model: db.Model,
        alias: str,
        version: db.Version,
        action: str,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        current = session.scalar(
            select(db.Alias).where(db.Alias.model_id == model.id, db.Alias.name == alias)
        )
        previous = None
        if current is None:
            session.add(db.Alias(model_id=model.id, name=alias, version_id=version.id))
        else:
            previous = session.scalar(
                select(db.Version.number).where(db.Version.id == current.version_id)
            )
            current.version_id = version.id
        session.add(
            db.AliasEvent(
                model_id=model.id,
                alias=alias,
                action=action,
                version=version.number,
                previous=previous,
                actor=principal.user,
                evidence=evidence,
            )
        )

    def _gate(
        self,
        session: Session,
        principal: Principal,
        ns: db.Namespace,
        model: db.Model,
        alias: str,
        target: db.Version,
        comparison: int | None = None,
        override: str | None = None,
    ) -> dict[str, Any] | None:
        """The evidence a gated alias move needs (a passing comparison, or an override)."""
        from ..compare.gates import check_promotion, gate_for

        name = f"{ns.name}/{model.name}"
        found = gate_for(self.promotion_gates, name, alias)
        if found is None:
            if override is not None:
                raise Invalid(f"Alias {alias!r} of {name} has no promotion gate to override.")
            return None
        key, gate = found
        holder = session.execute(
            select(db.Version.id, db.Version.number)
            .join(db.Alias, db.Alias.version_id == db.Version.id)
            .where(db.Alias.model_id == model.id, db.Alias.name == alias)
        ).first()
        if override is not None:
            if not override.strip():
                raise Invalid("Overriding a promotion gate needs a reason.")
            self._require(
                session, principal, ns, "maintainer", f"overriding promotion gate '{key}' in"
            )
            return {"gate": key, "override": override.strip()[:2000]}
        return check_promotion(
            session,
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

        def move(session: Session) -> AliasInfo:
            ns, model = self._model(
                session, principal, namespace, model_name, *self._alias_role(alias)
            )
            target = self._version(session, model, full_name, version)
            evidence = self._gate(
                session, principal, ns, model, alias, target, comparison, override
            )
            self._move_alias(session, principal, model, alias, target, "set", evidence)
            return AliasInfo(name=full_name, alias=alias, version=version, digest=target.digest)

        return self._retrying(move)

    def rollback(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Move ``alias`` back to where it pointed before its latest move.

        The ledger is replayed as a stack (a set pushes, a rollback pops), so repeated
        rollbacks walk further back instead of toggling between two versions.
        """
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        full_name = f"{namespace}/{model_name}"

        def move(session: Session) -> AliasInfo:
            _, model = self._model(
                session, principal, namespace, model_name, *self._alias_role(alias)
            )
            stack = self._alias_stack(session, model, full_name, alias)
            if len(stack) < 2:
                raise Conflict(
                    f"Alias {alias!r} of {full_name} has no earlier version to roll "
                    f"back to (it has only ever pointed at version {stack[-1]})."
                )
            target = self._version(session, model, full_name, stack[-2])
            self._move_alias(session, principal, model, alias, target, "rollback")
            return AliasInfo(
                name=full_name, alias=alias, version=target.number, digest=target.digest
            )

        return self._retrying(move)

    def _alias_stack(self, session: Session, model: db.Model, name: str, alias: str) -> list[int]:
        events = session.scalars(
            select(db.AliasEvent)
            .where(db.AliasEvent.model_id == model.id, db.AliasEvent.alias == alias)
            .order_by(db.AliasEvent.id)
        ).all()
        if not events:
            known = session.scalars(
                select(db.AliasEvent.alias).where(db.AliasEvent.model_id == model.id).distinct()
            )
            raise NotFound(f"{name} has no alias {alias!r}.{did_you_mean(alias, list(known))}")
        stack: list[int] = []
        for e in events:
            if e.action == "rollback":
                stack.pop()
            else:
                stack.append(e.version)
        return stack

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
        if role not in db.ROLES:
            raise Invalid(f"Unknown role {role!r}; roles are {', '.join(db.ROLES)}.")
        if (user is None) == (group is None):
            raise Invalid("Grant a role to exactly one of user=... or group=....")
        subject_kind, subject = ("user", user) if user is not None else ("group", group)
        if not subject or len(subject) > 128:
            raise Invalid(f"Invalid {subject_kind} name {subject!r}.")

        def write(session: Session) -> GrantInfo:
            ns = self._ensure_namespace(session, principal, namespace)
            self._require(session, principal, ns, "admin", "granting roles on")
            existing = session.scalar(
                select(db.Grant).where(
                    db.Grant.namespace_id == ns.id,
                    db.Grant.subject_kind == subject_kind,
                    db.Grant.subject == subject,
                )
            )
            if existing is None:
                existing = db.Grant(
                    namespace_id=ns.id,
                    subject_kind=subject_kind,
                    subject=subject,
                    role=role,
                    granted_by=principal.user,
                )
                session.add(existing)
            else:
                existing.role = role
                existing.granted_by = principal.user
                existing.granted_at = db.utcnow()
            session.flush()
            return _grant_info(ns.name, existing)

        return self._retrying(write)

    def record_load(
        self, principal: Principal, name: str, version: int, request: LoadRequest
    ) -> None:
        """Note that a run loaded a version (the downstream half of its lineage)."""
        namespace, model_name = parse_name(name, principal)

        def write(session: Session) -> None:
            _, model = self._model(session, principal, namespace, model_name)
            target = self._version(session, model, f"{namespace}/{model_name}", version)
            session.add(
                db.LoadEvent(
                    version_id=target.id,
                    user=principal.user,
                    notebook=request.notebook,
                    job=request.job,
                    run=request.run,
                )
            )

        self._retrying(write)

    # reads

    def resolve(self, principal: Principal, ref: str) -> ModelVersion:
        parsed = parse_ref(ref, principal)
        with self.store.read() as session:
            _, version = self._resolve(session, principal, parsed)
            return self._describe(session, parsed.name, version)

    def alias(self, principal: Principal, name: str, alias: str) -> AliasInfo:
        """Where an alias points now: the query every serving client polls.

        One statement resolves the alias and the caller's best role together; only when it
        finds nothing readable does the general path run, to raise the precise error.
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
        with self.store.read_engine.connect() as connection:
            row = connection.execute(
                _ALIAS_WITH_ROLE,
                {
                    "namespace": namespace,
                    "model": model_name,
                    "alias": alias,
                    "user": principal.user,
                    "groups": [*principal.groups, EVERYONE],
                },
            ).first()
        if row is not None and row.rank:
            found = AliasInfo(name=ref.name, alias=alias, version=row.number, digest=row.digest)
            if generation is not None and len(self._alias_cache) < 100_000:
                self._alias_cache[key] = found
            return found
        with self.store.read() as session:
            _, version = self._resolve(session, principal, ref)
            return AliasInfo(
                name=ref.name, alias=alias, version=version.number, digest=version.digest
            )

    def aliases(self, principal: Principal, name: str) -> list[AliasInfo]:
        namespace, model_name = parse_name(name, principal)
        with self.store.read() as session:
            _, model = self._model(session, principal, namespace, model_name)
            rows = session.execute(
                select(db.Alias.name, db.Version.number, db.Version.digest)
                .join(db.Version, db.Alias.version_id == db.Version.id)
                .where(db.Alias.model_id == model.id)
                .order_by(db.Alias.name)
            ).all()
        return [
            AliasInfo(name=f"{namespace}/{model_name}", alias=a, version=n, digest=d)
            for a, n, d in rows
        ]

    def versions(self, principal: Principal, name: str) -> list[ModelVersion]:
        namespace, model_name = parse_name(name, principal)
        with self.store.read() as session:
            _, model = self._model(session, principal, namespace, model_name)
            rows = session.scalars(
                select(db.Version)
                .where(db.Version.model_id == model.id)
                .order_by(db.Version.number)
            ).all()
            return [self._describe(session, f"{namespace}/{model_name}", v) for v in rows]

    def models(self, principal: Principal, namespace: str | None = None) -> list[ModelSummary]:
        """Models in ``namespace``, or in every namespace the caller can read."""
        with self.store.read() as session:
            if namespace is not None:
                ns = self._namespace(session, principal, check_name(namespace, "namespace"))
                self._require(session, principal, ns, "reader", "reading")
                spaces = [ns]
            else:
                spaces = [
                    ns
                    for ns in session.scalars(select(db.Namespace).order_by(db.Namespace.name))
                    if self._role(session, principal, ns)
                ]
            result = []
            for ns in spaces:
                for model in session.scalars(
                    select(db.Model).where(db.Model.namespace_id == ns.id).order_by(db.Model.name)
                ):
                    latest = session.scalar(
                        select(db.Version)
                        .where(db.Version.model_id == model.id)
                        .order_by(db.Version.number.desc())
                        .limit(1)
                    )
                    if latest is None:
                        continue
                    aliases = session.execute(
                        select(db.Alias.name, db.Version.number)
                        .join(db.Version, db.Alias.version_id == db.Version.id)
                        .where(db.Alias.model_id == model.id)
                    ).all()
                    result.append(
                        ModelSummary(
                            name=f"{ns.name}/{model.name}",
                            namespace=ns.name,
                            latest=latest.number,
                            aliases=dict(sorted(aliases)),
                            description=latest.description,
                            created_by=model.created_by,
                            created_at=model.created_at,
                        )
                    )
            return result

    def history(self, principal: Principal, name: str, alias: str) -> list[AliasEvent]:
        """Every move of ``alias``, oldest first: who moved it, when, from where to where."""
        namespace, model_name = parse_name(name, principal)
        check_alias(alias)
        with self.store.read() as session:
            _, model = self._model(session, principal, namespace, model_name)
            self._alias_stack(session, model, f"{namespace}/{model_name}", alias)
            events = session.scalars(
                select(db.AliasEvent)
                .where(db.AliasEvent.model_id == model.id, db.AliasEvent.alias == alias)
                .order_by(db.AliasEvent.id)
            ).all()
            return [_alias_event(e) for e in events]

    def lineage(self, principal: Principal, ref: str) -> Lineage:
        parsed = parse_ref(ref, principal)
        with self.store.read() as session:
            _, version = self._resolve(session, principal, parsed)
            loads = session.scalars(
                select(db.LoadEvent)
                .where(db.LoadEvent.version_id == version.id)
                .order_by(db.LoadEvent.id)
            ).all()
            captured = version.lineage or {}
            promotions = session.execute(
                select(db.AliasEvent)
                .where(db.AliasEvent.model_id == version.model_id)
                .where(db.AliasEvent.version == version.number)
                .order_by(db.AliasEvent.id)
            ).scalars()
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
                loaded_by=[
                    LoadInfo(user=x.user, notebook=x.notebook, job=x.job, run=x.run, at=x.at)
                    for x in loads
                ],
                comparisons=_comparisons_of(session, version.id),
                promotions=[_alias_event(e) for e in promotions],
            )

    def namespace(self, principal: Principal, name: str) -> NamespaceInfo:
        """The caller's role on a namespace and, if they can read it, its grants."""
        check_name(name, "namespace")
        with self.store.read() as session:
            ns = session.scalar(select(db.Namespace).where(db.Namespace.name == name))
            if ns is None:
                return NamespaceInfo(name=name, exists=False, role=None, grants=[])
            role = self._role(session, principal, ns)
            grants = (
                session.scalars(
                    select(db.Grant).where(db.Grant.namespace_id == ns.id).order_by(db.Grant.id)
                ).all()
                if role
                else []
            )
            return NamespaceInfo(
                name=name, exists=True, role=role, grants=[_grant_info(name, g) for g in grants]
            )

    def file(self, principal: Principal, name: str, version: int, path: str) -> FileEntry:
        """A version's file, for download: readers only."""
        namespace, model_name = parse_name(name, principal)
        full_name = f"{namespace}/{model_name}"
        with self.store.read() as session:
            _, model = self._model(session, principal, namespace, model_name)
            target = self._version(session, model, full_name, version)
            found = session.scalar(
                select(db.VersionFile).where(
                    db.VersionFile.version_id == target.id, db.VersionFile.path == path
                )
            )
            if found is None:
                known = session.scalars(
                    select(db.VersionFile.path).where(db.VersionFile.version_id == target.id)
                )
                raise NotFound(
                    f"{full_name}:{version} has no file {path!r}.{did_you_mean(path, list(known))}"
                )
            return FileEntry(path=found.path, digest=found.digest, size=found.size)

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
        now = time.monotonic()
        mine = self._uploads.setdefault(principal.user, {})
        for old in [a for a, t in mine.items() if now - t > UPLOAD_GRACE_SECONDS]:
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
        usable = {a for a in wanted if a in mine and now - mine[a] <= UPLOAD_GRACE_SECONDS}
        others = [a for a in wanted if a not in usable]
        if others:
            usable |= self._readable_blobs(principal, others)
        return [a for a in wanted if a not in usable or not self.blobs.exists(a)]

    def _readable_blobs(self, principal: Principal, addresses: list[str]) -> set[str]:
        """Those of ``addresses`` that some version the caller may read holds."""
        with self.store.read() as session:
            pairs = session.execute(
                select(db.VersionFile.digest, db.Model.namespace_id)
                .join(db.Version, db.Version.id == db.VersionFile.version_id)
                .join(db.Model, db.Model.id == db.Version.model_id)
                .where(db.VersionFile.digest.in_(addresses))
                .distinct()
            ).all()
            readable: dict[int, bool] = {}
            found = set()
            for digest, namespace_id in pairs:
                if namespace_id not in readable:
                    ns = session.get(db.Namespace, namespace_id)
                    role = self._role(session, principal, ns) if ns is not None else None
                    readable[namespace_id] = _role_rank(role) >= _role_rank("reader")
                if readable[namespace_id]:
                    found.add(digest)
            return found

    # maintenance

    def fsck(
        self, *, verify: bool = True, gc: bool = False, grace_seconds: float = 3600.0
    ) -> FsckReport:
        """Compare the blob store with the metadata: orphans, leftovers, missing, corrupt.

        ``gc`` removes orphans and dead writers' leftovers older than ``grace_seconds``
        (a publish stores its files before its metadata, so a young orphan may be one in
        flight).
        """
        with self.store.read() as session:
            referenced = set(session.scalars(select(db.VersionFile.digest).distinct()))
        stored = set(self.blobs.addresses())
        orphans = sorted(stored - referenced)
        stale = [
            key
            for key, age, pid in self.blobs.temporaries()
            if age > grace_seconds
            or (self.blobs.is_local and pid is not None and not pid_exists(pid))
        ]
        mismatches = [a for a in sorted(stored) if verify and self.blobs.verify(a) != a]
        removed: list[str] = []
        if gc:
            for address in orphans:
                if age_of(self.blobs.fs.info(self.blobs.key(address))) > grace_seconds:
                    self.blobs.delete(address)
                    removed.append(address)
            for key in stale:
                self.blobs.delete(key)
                removed.append(key)
            orphans = [a for a in orphans if a not in removed]
            stale = []
        return FsckReport(
            blobs=len(stored),
            referenced=len(referenced),
            orphans=orphans,
            stale_uploads=stale,
            missing=sorted(referenced - stored),
            mismatches=mismatches,
            removed=removed,
        )


def _grant_info(namespace: str, grant: db.Grant) -> GrantInfo:
    return GrantInfo(
        namespace=namespace,
        role=grant.role,
        user=grant.subject if grant.subject_kind == "user" else None,
        group=grant.subject if grant.subject_kind == "group" else None,
        granted_by=grant.granted_by,
        granted_at=grant.granted_at,
    )


def _alias_event(event: db.AliasEvent) -> AliasEvent:
    return AliasEvent(
        alias=event.alias,
        action=event.action,
        version=event.version,
        previous=event.previous,
        actor=event.actor,
        at=event.at,
        evidence=event.evidence,
    )


def _comparisons_of(session: Session, version_id: int) -> list[dict[str, Any]]:
    """The comparisons a version took part in, newest first, as lineage summaries."""
    from ..compare import store as comparisons

    return [
        {
            "id": c.id,
            "metric": c.metric,
            "candidates": [x.label for x in c.candidates],
            "winner": c.winner,
            "verdict": c.verdict,
            "created_by": c.created_by,
            "created_at": c.created_at.isoformat(),
        }
        for c in comparisons.of_version(session, version_id, limit=20)
    ]


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
