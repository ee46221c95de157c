"""Fixtures for the datasets capability: settings pointed at the test hub with an import root,
a tiny model registered as a ready model row (its tokenizer is what tokenizations use; 4,096
positions, so sequences up to that length are within them), and helpers to run service calls
and wait for rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dataset_helpers import register_model_row
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from helpers import LOOPBACK, make_settings, wait_for
from hub_server import HubServer, build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.models import Dataset, Tokenization
from interpstudio.db.session import make_engine, make_session_factory


@pytest.fixture
def import_root(tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    return root


@pytest.fixture
def ds_settings(tmp_path: Path, hub: HubServer, import_root: Path) -> Settings:
    settings = make_settings(tmp_path, hf_endpoint=hub.url, import_roots=[import_root],
                             max_upload_bytes=2_000_000)
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def api(ds_settings: Settings) -> Iterator[TestClient]:
    """The app on ``ds_settings``, in process (its job and system feeds ticking fast)."""
    with TestClient(base_url=LOOPBACK, app=create_app(ds_settings, job_feed_interval_s=0.05,
                               system_interval_s=0.2)) as client:
        yield client


@pytest.fixture
def factory(ds_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(ds_settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def long_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama (same weights and tokenizer) with 4,096 rotary positions instead of 256:
    a tokenization is refused past the model's positions, and these tests tokenize at the
    default 1,024 and at up to 4,096."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-4k"), "llama",
                            max_position_embeddings=4096)


@pytest.fixture
def llama_model_id(ds_settings: Settings, long_llama_dir: Path) -> int:
    return register_model_row(ds_settings, long_llama_dir)


@pytest.fixture
def call(factory: sessionmaker[Session]) -> Callable[..., Any]:
    """Run ``fn(session=..., **kwargs)`` in a committed transaction; return plain values."""

    def run(fn: Callable[..., Any], **kwargs: Any) -> Any:
        with factory.begin() as session:
            result = fn(session=session, **kwargs)
            if isinstance(result, (Dataset, Tokenization)):
                return {c.name: getattr(result, c.name) for c in type(result).__table__.columns}
            return result

    return run


@pytest.fixture
def wait_row(factory: sessionmaker[Session]) -> Callable[..., dict[str, Any]]:
    def wait(model: type[Any], row_id: int, *statuses: str, timeout: float = 60) -> dict:
        def check() -> dict[str, Any] | None:
            with factory() as session:
                row = session.get(model, row_id)
                values = {c.name: getattr(row, c.name) for c in model.__table__.columns}
                return values if row is not None and row.status in statuses else None

        return wait_for(check, timeout=timeout)

    return wait


@pytest.fixture
def wait_job(factory: sessionmaker[Session]) -> Callable[..., Any]:
    """Wait for a job's final state (a task marks its row a moment before the runner the job)."""
    from interpstudio.db.models import Job

    def wait(job_id: int, *states: str, timeout: float = 60) -> Job:
        def check() -> Job | None:
            with factory() as session:
                job = session.get(Job, job_id)
                return job if job is not None and job.state in states else None

        return wait_for(check, timeout=timeout)

    return wait
