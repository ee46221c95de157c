"""Issue 3 item 10: after a gated download the access token is nowhere — not in the database
(file, WAL), job params, model rows, logs, WebSocket events, API responses or the data dir."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub_server import HubServer
from interpstudio.core.settings import Settings

TOKEN = "hf_SeCrEtToKeN_0123456789abcdef"
API = "/api/v1/models"


def _files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_gated_download_leaves_the_token_nowhere(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, tiny_llama_dir: Path,
        worker_thread, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token=TOKEN)
    responses: list[str] = []
    events: list[str] = []
    with hub_client.websocket_connect("/api/v1/ws") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_json({"type": "subscribe", "job_ids": None, "system": False})
        refused = hub_client.post(API, json={"repo_id": "org/gated", "token": "hf_wrong_one"})
        assert refused.status_code == 403
        responses.append(refused.text)
        preflight = hub_client.post(f"{API}/preflight",
                                    json={"repo_id": "org/gated", "token": TOKEN})
        responses.append(preflight.text)
        created = hub_client.post(API, json={"repo_id": "org/gated", "token": TOKEN})
        assert created.status_code == 201, created.text
        responses.append(created.text)
        worker_thread(hub_settings)
        while True:
            message = ws.receive_text()
            events.append(message)
            if '"succeeded"' in message or '"failed"' in message:
                break
    model_id = created.json()["id"]
    model = hub_client.get(f"{API}/{model_id}")
    assert model.json()["status"] == "ready", model.json()["error_message"]
    for path in (API, f"{API}/{model_id}", f"{API}/{model_id}/architecture", "/api/v1/jobs",
                 f"/api/v1/jobs/{created.json()['job_id']}"):
        responses.append(hub_client.get(path).text)
    authorized = [r for r in hub.requests if r.filename == "model.safetensors"]
    assert authorized and all(r.authorized for r in authorized)  # the token WAS used
    secret = TOKEN.encode()
    assert not any(TOKEN in text for text in responses)
    assert not any(TOKEN in event for event in events)
    assert TOKEN not in caplog.text
    assert _files_containing(hub_settings.data_dir, secret) == []  # token file deleted too
    assert _files_containing(tmp_path, secret) == []  # the SQLite database, its WAL, caches
