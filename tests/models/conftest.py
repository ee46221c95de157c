"""Fixtures of the models capability: settings pointed at the local test hub, an app client on
them, and hub repos of tiny real models (``org/tiny``; a ~10 MB ``org/big`` for resume tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import make_settings
from hub_server import HubServer, build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade

BIG_OVERRIDES = {"hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4,
                 "num_key_value_heads": 2}


@pytest.fixture(scope="session")
def big_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~10 MB llama checkpoint (2 layers, hidden 256): big enough to stop mid-file."""
    return build_tiny_model(tmp_path_factory.mktemp("big-llama"), "llama", **BIG_OVERRIDES)


@pytest.fixture
def hub_settings(tmp_path: Path, hub: HubServer) -> Settings:
    """SQLite settings whose hub endpoint is the local test hub; imports allowed from
    ``tmp_path / "imports"``."""
    (tmp_path / "imports").mkdir()
    settings = make_settings(tmp_path, hf_endpoint=hub.url, import_roots=[tmp_path / "imports"])
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def hub_client(hub_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hub_settings, job_feed_interval_s=0.05,
                               system_interval_s=0.5)) as client:
        yield client


@pytest.fixture
def tiny_repo(hub: HubServer, tiny_llama_dir: Path) -> str:
    """``org/tiny`` on the hub (the 0.9 MB tiny llama); returns its commit sha."""
    return hub.add_model("org/tiny", tiny_llama_dir)


@pytest.fixture
def big_repo(hub: HubServer, big_llama_dir: Path) -> str:
    return hub.add_model("org/big", big_llama_dir)


@pytest.fixture
def wait_model(hub_client: TestClient) -> Callable[..., dict]:
    """Wait until a model reaches one of ``states``; returns its last JSON."""
    from helpers import wait_for

    def wait(model_id: int, *states: str, timeout: float = 60.0) -> dict:
        def done() -> dict | None:
            model = hub_client.get(f"/api/v1/models/{model_id}").json()
            return model if model["status"] in states else None

        return wait_for(done, timeout=timeout)

    return wait
