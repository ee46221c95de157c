"""A rotary model with rope scaling, imported for real, holds tokenizations to the context its
scaling makes (``services/models.read_positions``), not to its config's
``max_position_embeddings``: past those but within the scaled context is accepted, past the
scaled context is refused, naming where the limit comes from."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import LOOPBACK, wait_for
from hub_server import build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings

# the tiny llama's 256 positions with yarn factor 4 (transformers records 256 as the original)
SCALED = 1024
SOURCE = "original_max_position_embeddings 256 x yarn factor 4 in its config.json"


@pytest.fixture(scope="module")
def yarn_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama-yarn"), "llama",
                            rope_scaling={"rope_type": "yarn", "factor": 4.0})


@pytest.fixture
def api(ds_settings: Settings) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(ds_settings, job_feed_interval_s=0.05,
                               system_interval_s=0.2)) as client:
        yield client


def _wait(api: TestClient, url: str, *statuses: str) -> dict:
    def done() -> dict | None:
        body = api.get(url).json()
        return body if body["status"] in statuses else None

    return wait_for(done, timeout=120)


def test_a_yarn_scaled_model_takes_max_lengths_to_its_scaled_context(
        api: TestClient, ds_settings: Settings, import_root: Path, yarn_llama_dir: Path,
        worker_thread: Callable[[Settings], object]) -> None:
    """A tester: a Qwen2.5 with yarn (max_position_embeddings 32768, factor 4: 131072) was
    refused every max length past 32768. Here the tiny llama: 256 positions, yarn factor 4."""
    config = json.loads((yarn_llama_dir / "config.json").read_text())
    assert config["max_position_embeddings"] == 256
    assert config["rope_parameters"]["rope_type"] == "yarn"
    source = shutil.copytree(yarn_llama_dir, import_root / "yarn-llama")
    created = api.post("/api/v1/models/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    worker_thread(ds_settings)
    model = _wait(api, f"/api/v1/models/{created.json()['id']}", "ready", "failed")
    assert model["status"] == "ready", model["error_message"]
    assert (model["positions"], model["positions_source"]) == (SCALED, SOURCE)
    model_id = model["id"]

    dataset = api.post("/api/v1/datasets", json={"source": "bundled"}).json()
    assert _wait(api, f"/api/v1/datasets/{dataset['id']}", "ready", "failed")["status"] == "ready"
    url = f"/api/v1/datasets/{dataset['id']}/tokenizations"
    asked = SCALED + 1
    refused = api.post(url, json={"model_id": model_id, "policy": {"max_length": asked}})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "sequence_too_long"
    assert error["message"] == (
        f"max length {asked} is more than model {model_id}'s {SCALED:,} positions ({SOURCE}); "
        f"give max length {SCALED} or less")
    assert (error["details"]["model_context"], error["details"]["source"]) == (SCALED, SOURCE)

    within = 600  # past max_position_embeddings (256), within the scaled context
    made = api.post(url, json={"model_id": model_id,
                               "policy": {"mode": "pack", "max_length": within}})
    assert made.status_code == 201, made.text
    done = _wait(api, f"/api/v1/tokenizations/{made.json()['id']}", "ready", "failed")
    assert done["status"] == "ready", done["error_message"]
    assert done["policy"]["max_length"] == within

    from interpstudio.ml.token_store import open_tokenized

    lengths = open_tokenized(ds_settings.data_dir / done["path"]).lengths
    assert int(lengths.max()) == within  # full windows past the unscaled 256

    # an extraction takes it: one past the model's positions would be passed over as absent
    from interpstudio.core.paths import DataPaths
    from interpstudio.db.session import make_engine, make_session_factory
    from interpstudio.services.extractions import find_tokenization_for

    engine = make_engine(ds_settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            found = find_tokenization_for(session=session, paths=DataPaths(ds_settings.data_dir),
                                          dataset_id=dataset["id"], model_id=model_id)
            assert found is not None and found.id == done["id"]
    finally:
        engine.dispose()
