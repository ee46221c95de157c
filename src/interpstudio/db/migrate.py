"""Apply Alembic migrations programmatically (no alembic.ini needed).

``upgrade(url)`` brings any SQLite or PostgreSQL database to the newest revision; the same
migration files serve both. ``interpstudio serve`` and ``interpstudio db upgrade`` call it. This
module is NOT responsible for creating engines used by the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x696E7370  # "insp": the PostgreSQL advisory lock that serialises upgrades


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate, one process at a time: every command, server and worker migrates as it starts,
    and two of them at once on a new database (``make run`` and ``interpstudio demo`` side by
    side; workers starting together) both created the tables, and one died on "table jobs
    already exists". The later one waits, then finds the database current."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)  # first run: no data dir
    with _one_migration_at_a_time(url):
        command.upgrade(alembic_config(url), revision)


@contextmanager
def _one_migration_at_a_time(url: str) -> Iterator[None]:
    """An exclusive lock per database: a ``flock`` on a file beside a SQLite file, a session
    advisory lock on PostgreSQL (held by a connection of its own, released when it closes)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            yield
            return
        import fcntl

        database = Path(parsed.database)  # type: ignore[arg-type]
        with open(database.with_name(database.name + ".migrate-lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
            yield
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
