"""``/api/v1/models`` end to end: a real app, a real worker (thread), the real local hub."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from fastapi.testclient import TestClient

from hub_server import HubServer
from interpstudio.core.settings import Settings

API = "/api/v1/models"


def test_preflight_endpoint_summarises_the_repo(hub_client: TestClient, tiny_repo: str) -> None:
    response = hub_client.post(f"{API}/preflight", json={"repo_id": "org/tiny"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key"] == f"org/tiny@{tiny_repo}" and body["n_layers"] == 2
    assert body["parameter_count"] > 0 and set(body["memory_estimates"]) >= {"fp32", "q2"}
    assert any(f["path"] == "model.safetensors" and f["sha256"] for f in body["files"])


def test_download_reaches_ready_with_badge_precision_and_architecture(
        hub_client: TestClient, hub_settings: Settings, tiny_repo: str, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    created = hub_client.post(API, json={"repo_id": "org/tiny", "precision": "q8",
                                         "drift_precisions": ["bf16", "q4", "q2"]})
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["status"] == "queued" and model["key"] == f"org/tiny@{tiny_repo}"
    assert model["job"]["kind"] == "model_download"
    worker_thread(hub_settings)
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert (ready["n_layers"], ready["d_model"], ready["vocab_size"]) == (2, 64, 1000)
    assert ready["param_count"] == model["param_count"] > 0
    assert ready["fidelity"]["exact"] and ready["fidelity"]["max_abs"] <= 1e-5
    assert ready["precision_requested"] == "q8" and ready["precision_used"] == "q8"
    drift = {p: d["min_layer_cosine"] for p, d in ready["info"]["drift"].items()}
    assert set(drift) == {"q8", "bf16", "q4", "q2"}  # the card shows drift per precision
    assert drift["bf16"] > 0.999 and drift["q8"] > 0.99 and drift["q2"] < drift["q8"]
    assert model["job"]["state"] == "queued" and "token" not in str(model["job"])
    assert ready["disk_bytes"] >= sum(f["size"] for f in ready["files"])
    assert {f["verified_with"] for f in ready["files"]} == {"sha256", "git-sha1"}
    arch = hub_client.get(f"{API}/{model['id']}/architecture").json()
    assert [layer["index"] for layer in arch["layers"]] == [0, 1]  # layers = config, not n+3
    assert arch["module_tree"]["parameter_count"] == ready["param_count"]
    points = {p["name"] for p in arch["layers"][1]["hook_points"] if p["module"]}
    assert points == {f"blocks.1.{k}" for k in
                      ("resid_pre", "attn_out", "mlp_act", "mlp_out", "resid_post")}
    again = hub_client.post(API, json={"repo_id": "org/tiny", "revision": tiny_repo})
    assert again.status_code == 200 and again.json()["id"] == model["id"]


def test_progress_arrives_over_the_websocket_and_increases(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_repo: str,
        worker_thread) -> None:
    hub.faults.set_throttle(8_000_000)
    with hub_client.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_json({"type": "subscribe", "job_ids": None, "system": False})
        model = hub_client.post(API, json={"repo_id": "org/big"}).json()
        worker_thread(hub_settings)
        updates = []
        while True:
            message = ws.receive_json()
            if message["type"] != "job.updated" or message["job"]["id"] != model["job_id"]:
                continue
            updates.append(message["job"])
            if message["job"]["state"] in ("succeeded", "failed"):
                break
    assert updates[-1]["state"] == "succeeded", updates[-1]["error_message"]
    download = [u for u in updates if u["stage"] == "download"]
    done = [u["done"] for u in download]
    assert len([b for a, b in pairwise(done) if b > a]) >= 3, done
    assert done == sorted(done) and download[-1]["unit"] == "bytes"
    # events are row snapshots, so the last byte count may be coalesced with the next stage's
    # write, which starts uncounted: the row keeps each finished stage's final count
    finished = {s["stage"]: s for s in updates[-1]["stages"]}
    assert finished["download"]["done"] == finished["download"]["total"] == download[-1]["total"]
    assert finished["download"]["unit"] == "bytes" and finished["download"]["seconds"] > 0
    inspect = [u for u in updates if u["stage"] == "inspect"]
    assert inspect and all(u["unit"] in (None, "steps") for u in inspect), inspect  # not bytes
    assert finished["inspect"]["done"] == finished["inspect"]["total"] == 2  # fp32: load, probe


def test_pause_keeps_partial_files_and_resume_refetches_little(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_repo: str,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    from helpers import wait_for

    hub.faults.set_throttle(2_000_000)
    model = hub_client.post(API, json={"repo_id": "org/big"}).json()
    worker_thread(hub_settings)
    checkpoint = hub_settings.data_dir / "models" / str(model["id"]) / "checkpoint"
    partial = checkpoint / "model.safetensors.incomplete"
    wait_for(lambda: partial.exists() and partial.stat().st_size > 2_000_000)
    assert hub_client.post(f"{API}/{model['id']}/cancel?keep_partial=true").status_code == 200
    paused = wait_model(model["id"], "paused", "cancelled", "failed")
    assert paused["status"] == "paused" and partial.exists()
    kept = partial.stat().st_size
    hub.faults.set_throttle(None)
    assert hub_client.post(f"{API}/{model['id']}/resume").json()["status"] == "queued"
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    size = next(f["size"] for f in ready["files"] if f["path"] == "model.safetensors")
    assert kept > 0 and hub.bytes_served("model.safetensors") - size < 0.1 * size


def test_cancel_removes_partial_files(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, big_repo: str,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    from helpers import wait_for

    hub.faults.set_throttle(2_000_000)
    model = hub_client.post(API, json={"repo_id": "org/big"}).json()
    worker_thread(hub_settings)
    partial = (hub_settings.data_dir / "models" / str(model["id"]) / "checkpoint"
               / "model.safetensors.incomplete")
    wait_for(lambda: partial.exists() and partial.stat().st_size > 1_000_000)
    hub_client.post(f"{API}/{model['id']}/cancel")
    cancelled = wait_model(model["id"], "cancelled", "paused", "failed")
    assert cancelled["status"] == "cancelled" and not partial.exists()


def test_corrupt_download_fails_naming_the_file(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, tiny_repo: str,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    hub.faults.corrupt("model.safetensors")
    model = hub_client.post(API, json={"repo_id": "org/tiny"}).json()
    worker_thread(hub_settings)
    failed = wait_model(model["id"], "failed", "ready")
    assert failed["status"] == "failed" and "model.safetensors is corrupt" in failed[
        "error_message"]
    assert failed["job"]["error_code"] == "corrupt_download"
    hub.faults.clear()
    retried = hub_client.post(f"{API}/{model['id']}/retry")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready" and ready["error_message"] is None
    # a ready model's job succeeded: nothing to retry or resume. Refused as any succeeded job
    # is, in words that fit (it read "cannot retry model 1 while its job 1 is ready; cancel it
    # first and wait for it to stop": nothing was running)
    again = hub_client.post(f"{API}/{model['id']}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_already_succeeded"
    assert f"delete model {model['id']} and create it anew" in again.json()["error"]["message"]
    resumed = hub_client.post(f"{API}/{model['id']}/resume")
    assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "invalid_job_state"
    assert "cancel it first" not in resumed.json()["error"]["message"]
    assert hub_client.get(f"{API}/{model['id']}").json()["status"] == "ready"


def test_same_basename_from_two_orgs_are_two_models(
        hub_client: TestClient, hub_settings: Settings, hub: HubServer, tiny_llama_dir: Path,
        tiny_gpt2_dir: Path, worker_thread, wait_model: Callable[..., dict]) -> None:
    hub.add_model("alice/x", tiny_llama_dir)
    hub.add_model("bob/x", tiny_gpt2_dir)
    first = hub_client.post(API, json={"repo_id": "alice/x"}).json()
    second = hub_client.post(API, json={"repo_id": "bob/x"}).json()
    assert first["id"] != second["id"] and first["key"] != second["key"]
    worker_thread(hub_settings)
    assert wait_model(first["id"], "ready", "failed")["model_type"] == "llama"
    assert wait_model(second["id"], "ready", "failed")["model_type"] == "gpt2"
    listed = hub_client.get(API).json()
    assert listed["total"] == 2 and {m["repo_id"] for m in listed["items"]} == {"alice/x",
                                                                                 "bob/x"}


def test_rename_and_delete_remove_row_and_files(
        hub_client: TestClient, hub_settings: Settings, tiny_repo: str, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    model = hub_client.post(API, json={"repo_id": "org/tiny"}).json()
    worker_thread(hub_settings)
    wait_model(model["id"], "ready")
    renamed = hub_client.patch(f"{API}/{model['id']}", json={"name": "my tiny"})
    assert renamed.json()["name"] == "my tiny"
    folder = hub_settings.data_dir / "models" / str(model["id"])
    assert folder.is_dir()
    assert hub_client.delete(f"{API}/{model['id']}").status_code == 204
    assert not folder.exists()
    assert hub_client.get(f"{API}/{model['id']}").json()["error"]["code"] == "model_not_found"
