"""Engines and sessions for SQLite (default) and PostgreSQL.

``make_engine(url)`` applies the settings each backend needs (SQLite: WAL journal, busy timeout,
foreign keys; PostgreSQL: pre-ping); ``make_session_factory(engine)`` returns the ``sessionmaker``
passed to services. There are no module-level engines. This module is NOT responsible for schema
changes (``migrate.py``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_S = 30


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
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def dialect_name(engine: Engine) -> str:
    return engine.dialect.name
