"""Every bad input of issue 3 item 12 through the API: a clear error with its code, and nothing
else lost (no model row, no job, no file); plus delete-in-use and traversal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub_server import HubServer
from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset, Extraction, Job, Model, Tokenization
from interpstudio.db.session import make_engine, make_session_factory

API = "/api/v1/models"


def _rows(settings: Settings) -> tuple[int, int]:
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory() as session:
        return (len(session.scalars(select(Model)).all()),
                len(session.scalars(select(Job)).all()))


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"repo_id": "not a repo"}, 422, "invalid_repo_id"),
    ({"repo_id": "org/missing"}, 404, "repo_not_found"),
    ({"repo_id": "org/tiny", "revision": "nope"}, 404, "revision_not_found"),
    ({"repo_id": "org/gated"}, 401, "gated_repo"),
    ({"repo_id": "org/gated", "token": "hf_wrong"}, 403, "gated_repo"),
    ({"repo_id": "org/bert"}, 422, "unsupported_architecture"),
    ({"repo_id": "org/noconfig"}, 422, "missing_config"),
    ({"repo_id": "org/tiny", "precision": "q3"}, 422, "invalid_request"),
])
def test_bad_download_requests_fail_clearly_and_create_nothing(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, tiny_repo: str,
        tiny_llama_dir: Path, body: dict, status: int, code: str) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token="hf_right")
    hub.add_model("org/noconfig", {"model.safetensors": tiny_llama_dir / "model.safetensors"})
    hub.add_model("org/bert", {"config.json": json.dumps({"model_type": "bert"}),
                               "model.safetensors": tiny_llama_dir / "model.safetensors"})
    requests = [(API, body)]
    if "precision" not in body:  # the preflight takes no precision
        requests.append((f"{API}/preflight", body))
    for endpoint, payload in requests:
        response = hub_client.post(endpoint, json=payload)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code and error["message"]
    if code == "gated_repo":
        assert error["details"]["access_url"].endswith("/org/gated")
    if code == "unsupported_architecture":
        assert "llama" in error["message"]
    assert _rows(hub_settings) == (0, 0)
    assert hub.bytes_served("model.safetensors") == 0


def _make_checkpoint(folder: Path, source: Path) -> Path:
    folder.mkdir(parents=True)
    for item in source.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    return folder


def test_import_outside_roots_and_traversal_are_refused(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path,
        tmp_path: Path) -> None:
    outside = _make_checkpoint(tmp_path / "elsewhere" / "m", tiny_llama_dir)
    inside = tmp_path / "imports"
    (inside / "link").symlink_to(outside)
    for path in (str(outside), f"{inside}/../elsewhere/m", str(inside / "link"), "/etc"):
        response = hub_client.post(f"{API}/import", json={"path": path})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == "path_outside_root"
    assert _rows(hub_settings) == (0, 0)


def test_bad_local_checkpoints_fail_clearly(hub_client: TestClient, hub_settings: Settings,
                                            tiny_llama_dir: Path, tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    no_config = _make_checkpoint(imports / "no-config", tiny_llama_dir)
    (no_config / "config.json").unlink()
    truncated = _make_checkpoint(imports / "truncated", tiny_llama_dir)
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    garbage = _make_checkpoint(imports / "garbage", tiny_llama_dir)
    (garbage / "model.safetensors").write_bytes(b"\xff" * 64)
    cases = [(no_config, 422, "missing_config"), (truncated, 422, "corrupt_checkpoint"),
             (garbage, 422, "corrupt_checkpoint"), (imports / "absent", 404, "not_found"),
             (truncated / "model.safetensors", 422, "corrupt_checkpoint"),
             (truncated / "config.json", 422, "invalid_input")]
    for path, status, code in cases:
        response = hub_client.post(f"{API}/import", json={"path": str(path)})
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
            path, response.text)
    assert "truncated" in hub_client.post(
        f"{API}/import", json={"path": str(truncated)}).json()["error"]["message"]
    assert _rows(hub_settings) == (0, 0)


def test_unknown_model_ids_are_404(hub_client: TestClient) -> None:
    for method, path in (("get", f"{API}/999"), ("delete", f"{API}/999"),
                         ("post", f"{API}/999/cancel"), ("post", f"{API}/999/resume"),
                         ("get", f"{API}/999/architecture")):
        response = getattr(hub_client, method)(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == (
            "model_not_found")


def test_delete_in_use_is_409_listing_dependents_and_force_removes_them(
        hub_client: TestClient, hub_settings: Settings, worker_thread, wait_model,
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    _make_checkpoint(tmp_path / "imports" / "m", tiny_llama_dir)
    model = hub_client.post(f"{API}/import", json={"path": str(tmp_path / "imports" / "m")})
    assert model.status_code == 201, model.text
    model_id = model.json()["id"]
    worker_thread(hub_settings)
    assert wait_model(model_id, "ready", "failed")["status"] == "ready"
    activations = hub_settings.data_dir / "extractions" / "1"
    activations.mkdir(parents=True)
    (activations / "manifest.json").write_text("{}")
    factory = make_session_factory(make_engine(hub_settings.resolved_database_url))
    with factory.begin() as session:
        dataset = Dataset(name="d", source="local", files=[], info={})
        session.add(dataset)
        session.flush()
        tokenization = Tokenization(dataset_id=dataset.id, model_id=model_id, tokenizer_key="t",
                                    policy={}, policy_hash="h")
        session.add(tokenization)
        session.flush()
        running = Job(kind="extract", params={}, state="running")
        session.add(running)
        session.flush()
        running_job_id = running.id
        session.add(Extraction(name="acts", model_id=model_id, tokenization_id=tokenization.id,
                               spec={}, config_hash="c", path="extractions/1", info={},
                               job_id=running_job_id))
    refused = hub_client.delete(f"{API}/{model_id}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "model_in_use" and "?force=true in the API" in error["message"]
    assert "--force in the CLI" in error["message"]  # found by a tester: the CLI said force=true
    assert [e["name"] for e in error["details"]["extractions"]] == ["acts"]
    assert len(error["details"]["tokenizations"]) == 1
    assert hub_client.get(f"{API}/{model_id}").status_code == 200
    still_running = hub_client.delete(f"{API}/{model_id}?force=true")  # never under a live job
    assert still_running.status_code == 409
    assert still_running.json()["error"]["code"] == "model_dependents_running"
    with factory.begin() as session:
        session.get(Job, running_job_id).state = "succeeded"
    assert hub_client.delete(f"{API}/{model_id}?force=true").status_code == 204
    assert not activations.exists()
    assert hub_client.get(f"/api/v1/jobs/{running_job_id}").status_code == 404  # its job too
    assert not (hub_settings.data_dir / "models" / str(model_id)).exists()
    with factory() as session:
        assert session.scalars(select(Extraction)).all() == []
