"""The job store: one SQLite table of jobs, shared by kernels, supervisors and the server.

Several processes write at once (the kernel inserts, the supervisor moves the status, the
server marks a dead supervisor's job failed), so SQLite runs in WAL mode with a busy
timeout, and every status change is a compare-and-set from a non-final status: whoever
ends a job first wins, and a cancel is never overwritten by a late "failed".
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..errors import NotFound, did_you_mean
from ..sqlite import sqlite_engine
from .schema import JobInfo, JobSpec, JobStatus

ACTIVE = (JobStatus.queued.value, JobStatus.running.value)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"
    # Lists are read newest first (ties by id), a page at a time: this index answers a page
    # without reading, or sorting, the rest of the history.
    __table_args__ = (Index("ix_jobs_newest", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    nprocs: Mapped[int] = mapped_column(Integer)
    nnodes: Mapped[int] = mapped_column(Integer)
    max_restarts: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(Text)
    job_dir: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    supervisor_pid: Mapped[int | None] = mapped_column(Integer)
    exit_codes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    failed_rank: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    gpus: Mapped[int | None] = mapped_column(Integer, nullable=True)
    devices: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    dist_backend: Mapped[str | None] = mapped_column(String(64), nullable=True)


def _with_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def _info(row: JobRow) -> JobInfo:
    return JobInfo(
        id=row.id,
        name=row.name,
        status=JobStatus(row.status),
        backend=row.backend,
        nprocs=row.nprocs,
        nnodes=row.nnodes,
        max_restarts=row.max_restarts,
        kind=row.kind,
        target=row.target,
        job_dir=row.job_dir,
        created_at=_with_utc(row.created_at),
        started_at=_with_utc(row.started_at),
        ended_at=_with_utc(row.ended_at),
        supervisor_pid=row.supervisor_pid,
        exit_codes={int(k): v for k, v in (row.exit_codes or {}).items()},
        failed_rank=row.failed_rank,
        error=row.error,
        cancel_requested=row.cancel_requested,
        detail=row.detail,
        gpus=row.gpus,
        devices=row.devices or [],
        dist_backend=row.dist_backend,
    )


#: Filesystems where SQLite's locks and WAL shared memory are unsafe (sqlite.org/wal.html).
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "9p",
        "afs",
        "panfs",
        "wekafs",
        "pvfs2",
    }
)


def filesystem_type(path: Path) -> str:
    """The type of the filesystem ``path`` (or its nearest existing parent) is on."""
    path = path.resolve()
    best, kind = "", ""
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mount = parts[1].replace("\\040", " ")
                inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, parts[2]
    except OSError:
        return ""
    return kind


def store_path(state_dir: Path) -> Path:
    """Where the job store lives: ``<state_dir>/jobs.db`` on this machine's disk; when the
    state folder is on a network filesystem (a home folder on NFS), a folder of this user's
    under /var/tmp instead. Only the supervisors on this machine and its Jupyter write it;
    ranks on other nodes never open it."""
    if filesystem_type(state_dir) not in NETWORK_FILESYSTEMS:
        return state_dir / "jobs.db"
    return Path("/var/tmp") / f"lepton-{os.getuid()}" / "jobs.db"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def adopt_store(store: JobStore, old: Path) -> None:
    """Copy the jobs of a store from where earlier versions kept it (the jobs folder) into
    ``store``, once; the old file is renamed so it is not read again."""
    if not old.exists() or sqlite_url(old) == store.url:
        return
    engine = sqlite_engine(sqlite_url(old))
    try:
        with Session(engine) as source, Session(store.engine) as target, target.begin():
            known = set(target.scalars(select(JobRow.id)))
            for row in source.scalars(select(JobRow)):
                if row.id not in known:
                    source.expunge(row)
                    target.merge(row)
    finally:
        engine.dispose()
    old.rename(old.with_name("jobs.db.moved"))


_engines: dict[str, Engine] = {}


def _engine(url: str) -> Engine:
    engine = _engines.get(url)
    if engine is None:
        engine = sqlite_engine(url) if url.startswith("sqlite") else create_engine(url)
        Base.metadata.create_all(engine)
        _add_missing_columns(engine)
        for index in JobRow.__table__.indexes:  # a store from before an index was added
            index.create(engine, checkfirst=True)
        _engines[url] = engine
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Add columns introduced since a store file was created (nullable ones only)."""
    present = {c["name"] for c in inspect(engine).get_columns(JobRow.__tablename__)}
    with engine.begin() as conn:
        for column in JobRow.__table__.columns:
            if column.name not in present:
                kind = column.type.compile(engine.dialect)
                conn.execute(
                    text(f"ALTER TABLE {JobRow.__tablename__} ADD COLUMN {column.name} {kind}")
                )


#: Seconds between two reads of a waited-for job where the store's changes cannot be
#: watched (no inotify: macOS, or too many watches).
POLL_INTERVAL = 0.2


class StoreChanges:
    """Wakes a waiter as soon as the store's file is written (a status moved), with
    inotify on its folder; where that is unavailable, after a short poll interval.

    Created before the waiter reads the store, so a change between that read and the
    wait still wakes it.
    """

    def __init__(self, path: Path | None) -> None:
        self._inotify: Any = None
        self._names: set[str] = set()
        if path is None or not sys.platform.startswith("linux"):
            return
        try:
            from inotify_simple import INotify, flags

            watch = INotify()
        except (ImportError, OSError):
            return
        try:
            # SQLite in WAL mode commits by appending to jobs.db-wal, checkpoints into jobs.db.
            watch.add_watch(str(path.parent), flags.MODIFY | flags.CREATE | flags.MOVED_TO)
        except OSError:
            watch.close()
            return
        self._inotify = watch
        self._names = {path.name, f"{path.name}-wal", f"{path.name}-journal"}

    def wait(self, timeout: float) -> bool:
        """Return once the store changed (True) or after ``timeout`` seconds (False)."""
        if self._inotify is None:
            time.sleep(min(timeout, POLL_INTERVAL))
            return False
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            events = self._inotify.read(timeout=max(1, int(left * 1000)))
            if any(event.name in self._names for event in events):
                return True
        return False

    def close(self) -> None:
        if self._inotify is not None:
            with contextlib.suppress(OSError):
                self._inotify.close()
            self._inotify = None

    def __enter__(self) -> StoreChanges:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class JobStore:
    """Create, read and move jobs through their statuses."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)

    def changes(self) -> StoreChanges:
        """What to :meth:`StoreChanges.wait` on to learn that a job moved."""
        sqlite = self.url.startswith("sqlite:///")
        return StoreChanges(Path(self.url.removeprefix("sqlite:///")) if sqlite else None)

    def create(self, spec: JobSpec, job_dir: Path) -> JobInfo:
        row = JobRow(
            id=spec.id,
            name=spec.name,
            status=JobStatus.queued.value,
            backend=spec.backend,
            nprocs=spec.nprocs,
            nnodes=spec.nnodes,
            max_restarts=spec.max_restarts,
            kind=spec.kind,
            target=spec.target,
            job_dir=str(job_dir),
            created_at=spec.created_at,
            exit_codes={},
            cancel_requested=False,
            gpus=spec.gpus,
            devices=spec.devices,
            dist_backend=spec.dist_backend,
        )
        with Session(self.engine) as session, session.begin():
            session.add(row)
            session.flush()
            return _info(row)

    def get(self, job_id: str) -> JobInfo:
        """The job ``job_id``; NotFound names the closest known ids."""
        with Session(self.engine) as session:
            row = session.get(JobRow, job_id)
            if row is None:
                known = list(session.scalars(select(JobRow.id)))
                raise NotFound(f"No job {job_id!r}." + did_you_mean(job_id, known))
            return _info(row)

    def list(
        self, status: JobStatus | None = None, limit: int | None = None, offset: int = 0
    ) -> list[JobInfo]:
        """Jobs, newest first: ``limit`` of them (all when None) after the ``offset`` newest."""
        query = self._where(select(JobRow), status)
        query = query.order_by(JobRow.created_at.desc(), JobRow.id.desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine) as session:
            return [_info(row) for row in session.scalars(query)]

    def count(self, status: JobStatus | None = None) -> int:
        with Session(self.engine) as session:
            return session.scalar(self._where(select(func.count(JobRow.id)), status)) or 0

    def active(self) -> list[JobInfo]:
        """Jobs queued or running, newest first."""
        query = select(JobRow).where(JobRow.status.in_(ACTIVE)).order_by(JobRow.created_at.desc())
        with Session(self.engine) as session:
            return [_info(row) for row in session.scalars(query)]

    @staticmethod
    def _where(query: Any, status: JobStatus | None) -> Any:
        return query if status is None else query.where(JobRow.status == status.value)

    def _update(self, job_id: str, only_active: bool, **values: Any) -> bool:
        statement = sql_update(JobRow).where(JobRow.id == job_id)
        if only_active:
            statement = statement.where(JobRow.status.in_(ACTIVE))
        with Session(self.engine) as session, session.begin():
            return session.execute(statement.values(**values)).rowcount > 0

    def set_detail(self, job_id: str, detail: str | None) -> None:
        """What the engine says about an active job (a Slurm pending reason, its nodes)."""
        self._update(job_id, only_active=True, detail=detail)

    def set_supervisor(self, job_id: str, pid: int) -> None:
        self._update(job_id, only_active=True, supervisor_pid=pid)

    def mark_running(self, job_id: str) -> bool:
        return self._update(
            job_id, only_active=True, status=JobStatus.running.value, started_at=utcnow()
        )

    def request_cancel(self, job_id: str) -> bool:
        return self._update(job_id, only_active=True, cancel_requested=True)

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        *,
        exit_codes: dict[int, int | None] | None = None,
        failed_rank: int | None = None,
        error: str | None = None,
    ) -> bool:
        """End the job with ``status`` unless it already ended; True when this call ended it."""
        values: dict[str, Any] = {
            "status": status.value,
            "ended_at": utcnow(),
            "failed_rank": failed_rank,
            "error": error,
        }
        if exit_codes is not None:
            values["exit_codes"] = {str(k): v for k, v in exit_codes.items()}
        return self._update(job_id, only_active=True, **values)
