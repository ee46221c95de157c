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
    with hub_client.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
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


def test_token_handoff_file_is_private_and_read_once(tmp_path: Path) -> None:
    import stat

    from interpstudio.core.paths import DataPaths
    from interpstudio.services.model_files import hand_token_to_job, take_token, token_file

    paths = DataPaths(tmp_path)
    hand_token_to_job(paths, 5, TOKEN)
    path = token_file(paths, 5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert take_token(paths, 5) == TOKEN
    assert not path.exists() and take_token(paths, 5) is None


def test_resume_of_a_gated_download_takes_the_token_again(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_llama_dir: Path,
        worker_thread, wait_model) -> None:
    from helpers import wait_for

    hub.add_model("org/gated-big", big_llama_dir, gated=True, token=TOKEN)
    hub.faults.set_throttle(2_000_000)
    model = hub_client.post(API, json={"repo_id": "org/gated-big", "token": TOKEN}).json()
    worker_thread(hub_settings)
    partial = (hub_settings.data_dir / "models" / str(model["id"]) / "checkpoint"
               / "model.safetensors.incomplete")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 1_000_000)
    hub_client.post(f"{API}/{model['id']}/cancel?keep_partial=true")
    assert wait_model(model["id"], "paused", "failed")["status"] == "paused"
    hub.faults.set_throttle(None)
    hub_client.post(f"{API}/{model['id']}/resume")  # no token: the hub refuses the weights
    refused = wait_model(model["id"], "failed", "ready")
    assert refused["status"] == "failed" and "gated" in refused["error_message"]
    assert partial.exists()  # nothing lost
    resumed = hub_client.post(f"{API}/{model['id']}/resume", json={"token": TOKEN})
    assert resumed.status_code == 200 and TOKEN not in resumed.text
    assert wait_model(model["id"], "ready", "failed")["status"] == "ready"
    assert _files_containing(hub_settings.data_dir, TOKEN.encode()) == []


@pytest.mark.parametrize("route", ["model", "job"])
def test_cancel_of_a_queued_gated_download_leaves_no_token(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, tiny_llama_dir: Path,
        worker_thread, wait_model, route: str) -> None:
    """A gated download cancelled before any worker took it kept its token file in the data
    dir (until another job took a token an hour later), and a resume without a token then
    downloaded the gated weights with it."""
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token=TOKEN)
    created = hub_client.post(API, json={"repo_id": "org/gated", "token": TOKEN}).json()
    assert _files_containing(hub_settings.data_dir, TOKEN.encode())  # handed, no worker yet
    path = (f"{API}/{created['id']}/cancel" if route == "model"
            else f"/api/v1/jobs/{created['job_id']}/cancel")
    cancelled = hub_client.post(path)
    assert cancelled.status_code == 200, cancelled.text
    assert _files_containing(hub_settings.data_dir, TOKEN.encode()) == []
    assert hub_client.post(f"{API}/{created['id']}/resume").status_code == 200  # no token
    worker_thread(hub_settings)
    refused = wait_model(created["id"], "failed", "ready")
    assert refused["status"] == "failed" and "gated" in refused["error_message"]


def test_a_job_that_never_takes_its_token_leaves_none(
        hub_client: TestClient, hub_settings: Settings, worker_thread) -> None:
    """A job that ends before its task takes the token (a failure or a cancel before the
    download; here a job kind that takes none) leaves no token file behind: the runner removes
    it as the job ends. The hand-off is called directly: no route hands a token to such a job."""
    from helpers import wait_for
    from interpstudio.core.paths import DataPaths
    from interpstudio.services.model_files import hand_token_to_job

    job = hub_client.post("/api/v1/selftest", json={}).json()
    hand_token_to_job(DataPaths(hub_settings.data_dir), job["id"], TOKEN)
    worker_thread(hub_settings)
    wait_for(lambda: hub_client.get(f"/api/v1/jobs/{job['id']}").json()["state"]
             in ("succeeded", "failed"))
    assert _files_containing(hub_settings.data_dir, TOKEN.encode()) == []
