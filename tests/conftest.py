"""Shared fixtures: settings on a temp data dir, real SQLite and PostgreSQL databases, app clients,
and a job worker running in a thread.

PostgreSQL tests use a throwaway database created per test on the server at
``INTERPSTUDIO_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and
dropped afterwards. When the server is unreachable they are skipped, unless
``INTERPSTUDIO_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), where that is an error.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from helpers import LOOPBACK, make_settings
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker

# a real local Hugging Face Hub (tests/hub_server); a Redis of the test's own (redis_server.py)
pytest_plugins = ["hub_server.fixtures", "redis_server"]

PG_ADMIN_URL = os.environ.get(
    "INTERPSTUDIO_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    url = make_url(PG_ADMIN_URL)
    return psycopg.connect(host=url.host, port=url.port or 5432, user=url.username,
                           dbname=url.database, autocommit=True, connect_timeout=3)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import psycopg

    try:
        admin = _pg_admin_connect()
    except psycopg.OperationalError as exc:
        if os.environ.get("INTERPSTUDIO_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    name = f"interpstudio_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with _pg_admin_connect() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each backend (tests using it run twice)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings on a migrated database of each backend."""
    result = make_settings(tmp_path, database_url)
    upgrade(result.resolved_database_url)
    return result


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings on a migrated SQLite database (for tests that need only one backend)."""
    result = make_settings(tmp_path)
    upgrade(result.resolved_database_url)
    return result


@pytest.fixture
def session_factory(settings: Settings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(sqlite_settings, job_feed_interval_s=0.05,
                               system_interval_s=0.2)) as test_client:
        yield test_client


@pytest.fixture
def worker_thread() -> Iterator[Callable[[Settings], Worker]]:
    """Start a real job worker in a background thread; stopped at teardown."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(settings: Settings) -> Worker:
        worker = Worker(settings, poll_interval_s=0.05)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.shutdown.set()
        thread.join(10)
