"""One way to open a SQLite database for lepton's stores: WAL (readers never wait behind a
writer), a busy timeout (concurrent writers queue instead of failing), its folder made."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # SQLAlchemy loads with the first engine: a kernel that only reads
    from sqlalchemy import Engine  # the stat cache (sqlite3) or a remote registry never does

#: Seconds a connection waits for another's write lock before "database is locked".
BUSY_TIMEOUT = 60.0


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL; '' or ':memory:' for an in-memory database."""
    return url.split("///", 1)[-1] if url.startswith("sqlite") else ""


def _ensure_folder(path: str) -> None:
    if path and path != ":memory:" and "mode=memory" not in path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _pragmas(connection: Any, foreign_keys: bool) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if foreign_keys:
        cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_engine(url: str, *, begin: str | None = None, foreign_keys: bool = False) -> Engine:
    """A SQLAlchemy engine on the SQLite database at ``url``.

    ``begin`` ("BEGIN IMMEDIATE" or "BEGIN"): SQLAlchemy issues it itself at the start of
    each transaction, so writers can take the write lock up front; None leaves pysqlite's
    own (deferred) transactions.
    """
    from sqlalchemy import create_engine, event

    _ensure_folder(sqlite_path(url))
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        if begin is not None:
            dbapi_connection.isolation_level = None
        _pragmas(dbapi_connection, foreign_keys)

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql(begin)

    return engine


def sqlite_connection(path: Path | str) -> sqlite3.Connection:
    """A plain sqlite3 connection (autocommit) with the same settings as ``sqlite_engine``."""
    _ensure_folder(str(path))
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    _pragmas(connection, foreign_keys=False)
    return connection
