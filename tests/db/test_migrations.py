"""Migrations: the same Alembic files build the schema on SQLite and PostgreSQL, match the ORM
models exactly, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from interpstudio.db import models  # noqa: F401
from interpstudio.db.base import Base
from interpstudio.db.migrate import current_revision, downgrade, head_revision, upgrade
from interpstudio.db.session import make_engine


def test_upgrade_creates_jobs_table_on_each_backend(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        assert "jobs" in inspect(engine).get_table_names()
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_migrations_match_models_exactly(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        engine.dispose()


def test_downgrade_then_upgrade_round_trips(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url, "base")
    engine = make_engine(database_url)
    try:
        assert "jobs" not in inspect(engine).get_table_names()
        upgrade(database_url)
        assert "jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_processes_migrating_one_new_database_at_once_all_succeed(database_url: str) -> None:
    """Found while chasing a CI failure: two commands started together on a new data dir (the
    README's `make run` beside `interpstudio demo`; workers starting together on PostgreSQL)
    both created the tables, and one died on "table jobs already exists"."""
    import subprocess
    import sys

    code = "import sys; from interpstudio.db.migrate import upgrade; upgrade(sys.argv[1])"
    processes = [subprocess.Popen([sys.executable, "-c", code, database_url],
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [process.communicate(timeout=180)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, errors
    assert current_revision(make_engine(database_url)) == head_revision()
