"""Engines and sessions for SQLite (default) and PostgreSQL.

``make_engine(url)`` applies the settings each backend needs (SQLite: WAL journal, busy timeout,
foreign keys; PostgreSQL: pre-ping, a connect timeout); ``make_session_factory(engine)`` returns
the ``sessionmaker`` passed to services; ``begin_snapshot(session)`` makes all of a read-only
transaction's SELECTs see one moment of the database. ``retry_while_unreachable`` re-runs a
write that must land (a job's final state, its checkpoint) through a database outage of up to
``DB_RETRY_S``. There are no module-level engines. This module is NOT responsible for schema changes
(``migrate.py``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.logging import FailureStreak

BUSY_TIMEOUT_S = 30
DB_RETRY_S = 30.0  # how long a write that must land waits out an unreachable database
PG_CONNECT_TIMEOUT_S = 10  # PostgreSQL: give up on a connection attempt (unless the URL says)

log = logging.getLogger(__name__)
T = TypeVar("T")


def _ensure_wal(cursor: sqlite3.Cursor) -> None:
    """Switch a file database to WAL once; later connections only read the (persistent) mode.

    Switching needs an exclusive lock. In rollback mode, a connection asking for it while another
    holds a write lock is a deadlock SQLite answers with an immediate "database is locked" (the
    busy timeout is not consulted), which killed a worker thread in CI; so the switch is retried
    until the other writer is done.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        (mode,) = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode.lower() in ("wal", "memory"):  # an in-memory database has no WAL
            return
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            _ensure_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # a server that drops packets (down, or behind a firewall) would otherwise hold every new
    # connection for the kernel's SYN retries (~2 min), longer than a write waits out an outage
    timeout = ({} if "connect_timeout" in parsed.query
               else {"connect_timeout": PG_CONNECT_TIMEOUT_S})
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20,
                         connect_args=timeout)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def begin_snapshot(session: Session) -> None:
    """Begin ``session``'s transaction as one snapshot: every SELECT in it sees the database as
    of the first one. Call it before the session's first statement.

    Without it each SELECT sees its own moment (PostgreSQL's READ COMMITTED takes a snapshot per
    statement; pysqlite issues no BEGIN before a SELECT, so each one is a transaction of its
    own), and a record read beside its job can show half of a task's last write: the job
    ``succeeded`` beside the record still ``running``. For reads only: PostgreSQL refuses a write
    in it, and on SQLite a write fails at once (``SQLITE_BUSY_SNAPSHOT``) when another
    connection wrote since the snapshot was taken.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")  # deferred: the first SELECT takes the snapshot
    else:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")


def dialect_name(engine: Engine) -> str:
    return engine.dialect.name


def is_unreachable(exc: BaseException) -> bool:
    """The database could not be reached or answered with a transient fault (a dropped or refused
    connection, a server restart, SQLite locked past its busy timeout), not a bad statement.
    sqlite3 raises its OperationalError for both ("no such table" too), so its message decides."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if isinstance(exc.orig, sqlite3.OperationalError):
        message = str(exc.orig).lower()
        return any(word in message for word in ("locked", "busy", "disk i/o error"))
    return isinstance(exc, OperationalError)


def retry_while_unreachable(work: Callable[[], T], *, what: str,
                            within_s: float = DB_RETRY_S) -> T:
    """Run ``work`` (one whole transaction), again while the database is unreachable, for up to
    ``within_s`` seconds; then the last error is raised. ``what`` names the write in the log."""
    deadline = time.monotonic() + within_s
    delay = 0.1
    outage = FailureStreak(log)
    while True:
        try:
            result = work()
        except DBAPIError as exc:
            if not is_unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            outage.failed("database unreachable writing %s; retrying for up to %.0f s: %s",
                          what, within_s, exc.orig)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        outage.ended("%s written after %d failed attempts", what)
        return result


def insert_if_absent(session: Session, entity: type[Any], values: dict[str, Any],
                     unique: Sequence[str]) -> bool:
    """``INSERT ... ON CONFLICT (unique) DO NOTHING``; True when this call inserted the row. A
    transaction inserting the same key concurrently makes this one wait for it, then skip, so a
    check-then-insert never fails on the unique key: two clicks on Import (or two demos in two
    tabs) were a 500 ``IntegrityError`` when the second check ran before the first commit."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = entity.__table__
    inserted = session.execute(insert(table).values(**values)
                               .on_conflict_do_nothing(index_elements=list(unique))
                               .returning(*table.primary_key.columns)).first()
    return inserted is not None  # rowcount is not reliable here on PostgreSQL (1 either way)


def refusal_reason(error: DBAPIError) -> str:
    """The first line of the driver's message for a value the database refused (``DataError``:
    a number out of its range, a NUL character on PostgreSQL), for the API's 422 and the CLI."""
    text = str(error.orig).strip()
    return text.splitlines()[0] if text else ""
