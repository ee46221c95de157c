"""Fixtures of the models capability: settings pointed at the local test hub, an app client on
them, hub repos of tiny real models (``org/tiny``; a ~10 MB ``org/big`` for resume tests), and a
tiny GGUF file written with the ``gguf`` package from the tiny llama's weights and vocabulary
(``tiny_gguf.write_tiny_gguf``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import LOOPBACK, make_settings
from hub_server import HubServer, build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from tiny_gguf import write_tiny_gguf

BIG_OVERRIDES = {"hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4,
                 "num_key_value_heads": 2}


@pytest.fixture(scope="session")
def big_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~10 MB llama checkpoint (2 layers, hidden 256): big enough to stop mid-file."""
    return build_tiny_model(tmp_path_factory.mktemp("big-llama"), "llama", **BIG_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_gguf_file(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_q4_gguf_file(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama as a Q4_1 GGUF, as the bundled SmolLM2 file is stored."""
    return write_tiny_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny-q4.gguf",
                           quantization="Q4_1")


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
    with TestClient(base_url=LOOPBACK, app=create_app(hub_settings, job_feed_interval_s=0.05,
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
    """Wait until a model reaches one of ``states``; returns its last JSON. At a final status
    (ready, failed, cancelled) it also waits for the job to end: the task sets the model's row
    before the runner records the job's outcome (its ``error_code``), so a read in between saw
    a failed model whose job was still running (a CI flake)."""
    from helpers import wait_for

    final = {"ready", "failed", "cancelled"}

    def wait(model_id: int, *states: str, timeout: float = 60.0) -> dict:
        def done() -> dict | None:
            model = hub_client.get(f"/api/v1/models/{model_id}").json()
            if model["status"] not in states:
                return None
            job = model.get("job")
            if model["status"] in final and job and job["state"] in ("queued", "running"):
                return None
            return model

        return wait_for(done, timeout=timeout)

    return wait
