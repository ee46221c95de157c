"""SQLite engine settings under concurrency: the WAL switch never fails a new connection."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from interpstudio.db.migrate import upgrade
from interpstudio.db.session import make_engine


def _journal_mode(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]


def test_migrated_database_is_already_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    upgrade(f"sqlite:///{path}")
    assert _journal_mode(path) == "wal"  # so later connections never need the exclusive switch


def test_new_connection_waits_out_a_writer_instead_of_failing_the_wal_switch(
    tmp_path: Path,
) -> None:
    """A rollback-mode database with a writer holding its lock: switching to WAL is a deadlock
    SQLite answers at once with "database is locked" (no busy wait); this killed a worker thread
    in CI. The connection must retry until the writer is done."""
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x INTEGER)")
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO t VALUES (1)")
    outcome: dict[str, object] = {}

    def connect() -> None:
        try:
            with make_engine(f"sqlite:///{path}").connect() as connection:
                outcome["mode"] = connection.execute(text("PRAGMA journal_mode")).scalar()
        except Exception as exc:  # recorded for the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=connect)
    thread.start()
    time.sleep(0.3)
    writer.execute("COMMIT")
    writer.close()
    thread.join(40)
    assert outcome == {"mode": "wal"}


def test_a_bad_statement_is_not_retried_as_an_outage(tmp_path: Path) -> None:
    """Only an unreachable database is waited out; a statement that is wrong fails at once."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from interpstudio.db.session import retry_while_unreachable

    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    attempts = []

    def bad() -> None:
        attempts.append(1)
        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT * FROM no_such_table")

    with pytest.raises((OperationalError, ProgrammingError)):
        retry_while_unreachable(bad, what="a bad query", within_s=5)
    assert len(attempts) == 1


def test_a_postgresql_server_that_never_answers_is_given_up_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real silent server: a socket whose backlog completes the TCP handshake but which never
    answers the startup packet (a hung or firewalled server looks like this, or worse). libpq's
    default is to wait forever; the engine must give up after its connect timeout, so a write
    that waits out an outage gets its next try."""
    import socket

    from sqlalchemy.exc import OperationalError

    from interpstudio.db import session as db_session

    monkeypatch.setattr(db_session, "PG_CONNECT_TIMEOUT_S", 1)  # the default is 10 s
    silent = socket.create_server(("127.0.0.1", 0), backlog=8)
    port = silent.getsockname()[1]
    outcome: list[BaseException | None] = []

    def connect() -> None:
        engine = make_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none")
        try:
            with engine.connect():
                outcome.append(None)
        except OperationalError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(20)
    silent.close()
    assert not thread.is_alive(), "the connection attempt is still waiting for the server"
    assert isinstance(outcome[0], OperationalError)
    assert "timeout" in str(outcome[0]).lower()
