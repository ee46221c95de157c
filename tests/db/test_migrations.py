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


def test_rows_recorded_from_config_before_rope_scaling_counted_are_read_again(
        database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A tester: a Qwen2.5 with yarn imported before rope scaling counted kept its recorded
    32768 positions (its config's max_position_embeddings) of 131072 after the fix. 0008 clears
    the positions of rows recorded from config.json, so ``positions_of`` reads its files again;
    a learned table's and a row without positions are left as they are."""
    import json

    from interpstudio.core.paths import DataPaths
    from interpstudio.db.models import Model
    from interpstudio.db.session import make_session_factory
    from interpstudio.services.models import positions_of

    upgrade(database_url, "0007")
    checkpoint = tmp_path / "data" / "models" / "qwen"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text(json.dumps({
        "max_position_embeddings": 32768,
        "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768,
                         "type": "yarn"}}))
    rows = [("qwen", 32768, "max_position_embeddings in its config.json"),
            ("gptj", 2048, "n_positions in its config.json"),
            ("gpt2", 1024, "its learned position table"),
            ("old", None, None)]
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine).begin() as session:  # 0007's schema is the head's
            session.add_all([Model(key=key, name=key, source="local", status="ready",
                                   path=f"models/{key}", files=[], info={}, positions=positions,
                                   positions_source=source) for key, positions, source in rows])
        upgrade(database_url)
        with make_session_factory(engine)() as session:
            found = {model.key: (model.positions, model.positions_source)
                     for model in session.query(Model)}
            assert found == {"qwen": (None, None), "gptj": (None, None),
                             "gpt2": (1024, "its learned position table"),
                             "old": (None, None)}
            qwen = session.query(Model).filter_by(key="qwen").one()
            assert positions_of(model=qwen, paths=DataPaths(tmp_path / "data")) == (
                131072, "original_max_position_embeddings 32768 x yarn factor 4 in its "
                "config.json")
    finally:
        engine.dispose()
