"""A download survives ``kill -9`` of a real ``interpstudio worker`` process: a restarted worker
marks the job interrupted, resume continues from the bytes on disk (re-fetching < 10 %)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from helpers import start_worker_process, wait_for
from hub_server import HubServer
from interpstudio.core.settings import Settings

API = "/api/v1/models"



def test_kill_9_worker_then_resume_continues_from_disk(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_repo: str,
        tmp_path: Path, wait_model: Callable[..., dict]) -> None:
    hub.faults.set_throttle(1_500_000)
    model = hub_client.post(API, json={"repo_id": "org/big"}).json()
    partial = (hub_settings.data_dir / "models" / str(model["id"]) / "checkpoint"
               / "model.safetensors.incomplete")
    first = start_worker_process(hub_settings, tmp_path / "worker.log")
    try:
        wait_for(lambda: partial.exists() and partial.stat().st_size > 3_000_000, timeout=90)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    kept = partial.stat().st_size
    hub.faults.set_throttle(None)
    second = start_worker_process(hub_settings, tmp_path / "worker.log")
    try:
        interrupted = wait_model(model["id"], "interrupted", timeout=30)
        assert "died" in interrupted["error_message"]
        assert hub_client.post(f"{API}/{model['id']}/resume").status_code == 200
        ready = wait_model(model["id"], "ready", "failed", timeout=120)
        assert ready["status"] == "ready", ready["error_message"]
    finally:
        second.terminate()
        second.wait(15)
    size = next(f["size"] for f in ready["files"] if f["path"] == "model.safetensors")
    resumed = [r.range for r in hub.requests
               if r.filename == "model.safetensors" and r.method == "GET"][-1]
    assert resumed == f"bytes={kept}-"
    assert hub.bytes_served("model.safetensors") - size < 0.1 * size
