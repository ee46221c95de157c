"""The preflight where the API process cannot (or should not) run the model: sent to a job worker
(a real worker thread, the real app over HTTP, SQLite, the tiny llama), its report returned to
the same request; withdrawn and refused when no worker takes it; a worker's refusal passed on;
a create that no preflight preceded is queued at once and its job measures the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from extraction_world import ExtractionWorld
from helpers import LOOPBACK, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.services.extractions import preflight_runs_on

API = "/api/v1/extractions"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.fixture
def client_for(world: ExtractionWorld) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def start(**settings: Any) -> TestClient:
        world.settings = world.settings.model_copy(update=settings)
        client = TestClient(base_url=LOOPBACK, app=create_app(world.settings,
                                                              job_feed_interval_s=0.05))
        clients.append(client.__enter__())
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def body(world: ExtractionWorld, **overrides: Any) -> dict[str, Any]:
    return {"model_id": world.model_id, "tokenization_id": world.tokenization(),
            "hook_points": ["blocks.*.resid_post"], "batch_size": 2, "device": "cpu",
            **overrides}


def preflight_jobs(api: TestClient) -> list[dict[str, Any]]:
    return api.get("/api/v1/jobs", params={"kind": "extract_preflight"}).json()["items"]


@NO_CUDA
def test_auto_sends_only_a_device_this_process_lacks_to_a_worker(
        sqlite_settings: Settings) -> None:
    assert preflight_runs_on(sqlite_settings, "cuda") == "worker"
    assert preflight_runs_on(sqlite_settings, "cuda:1") == "worker"
    assert preflight_runs_on(sqlite_settings, "cpu") == "api"
    assert preflight_runs_on(sqlite_settings, "auto") == "api"
    for where in ("api", "worker"):
        assert preflight_runs_on(sqlite_settings.model_copy(update={"preflight_on": where}),
                                 "cuda") == where


@NO_CUDA
def test_a_client_can_ask_where_a_preflight_runs_and_how_long_it_waits_for_a_worker(
        sqlite_settings: Settings) -> None:
    """The form said only "Measuring…" while its request waited up to 120 s for a busy worker;
    this is what lets it say so (and only when it is so)."""
    cases = [("auto", "auto", "api", None), ("auto", "cpu", "api", None),
             ("auto", "cuda", "worker", 120.0), ("worker", "auto", "worker", 45.0),
             ("api", "cuda", "api", None)]
    for setting, device, runs_on, wait_s in cases:
        settings = sqlite_settings.model_copy(update={"preflight_on": setting,
                                                      "preflight_wait_s": wait_s or 120.0})
        with TestClient(base_url=LOOPBACK, app=create_app(settings)) as api:
            answer = api.get(f"{API}/preflight", params={"device": device})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"device": device, "runs_on": runs_on, "wait_s": wait_s}, setting
    with TestClient(base_url=LOOPBACK, app=create_app(sqlite_settings)) as api:
        assert api.get(f"{API}/preflight").json()["device"] == "auto"  # the form's device
        assert api.get(f"{API}/preflight", params={"device": "tpu"}).status_code == 422


def test_a_preflight_runs_on_a_worker_and_the_create_after_it_reuses_its_report(
    world: ExtractionWorld, client_for: Callable[..., TestClient],
    worker_thread: Callable[[Settings], Any],
) -> None:
    api = client_for(preflight_on="worker")
    worker = worker_thread(world.settings)
    request = body(world)
    answer = api.post(f"{API}/preflight", json=request)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["calibration"]["tokens_per_s"] > 0 and report["disk_ok"]
    [job] = preflight_jobs(api)
    assert job["state"] == "succeeded" and job["worker_id"] == worker.worker_id
    assert job["result"]["report"]["bytes"] == report["bytes"]
    assert "calibrate" in job["params"] and job["params"]["device"] == "cpu"

    created = api.post(API, json=request)  # the report just made, not a second preflight
    assert created.status_code == 201, created.text
    assert created.json()["preflight"]["calibration"] == report["calibration"]
    assert len(preflight_jobs(api)) == 1


def test_a_preflight_no_worker_takes_is_withdrawn_and_refused_with_what_to_do(
    world: ExtractionWorld, client_for: Callable[..., TestClient],
) -> None:
    api = client_for(preflight_on="worker", preflight_wait_s=0.3)
    answer = api.post(f"{API}/preflight", json=body(world, device="auto"))
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "preflight_not_taken"
    assert "start `interpstudio worker`)" in error["message"]  # not "with device 'auto'"
    [job] = preflight_jobs(api)  # not left queued for a worker to run later for no one
    assert job["state"] == "cancelled" and job["id"] == error["details"]["job_id"]


@NO_CUDA
def test_by_default_a_device_the_api_lacks_is_asked_of_the_workers_not_refused(
    world: ExtractionWorld, client_for: Callable[..., TestClient],
) -> None:
    api = client_for(preflight_wait_s=0.3)  # auto, and no worker is running
    answer = api.post(f"{API}/preflight", json=body(world, device="cuda"))
    assert answer.status_code == 503, answer.text  # was device_unavailable from the API itself
    assert answer.json()["error"]["details"]["device"] == "cuda"
    assert "on a machine with device 'cuda'" in answer.json()["error"]["message"]


@NO_CUDA
def test_a_refusal_on_the_worker_reaches_the_request_as_that_refusal(
    world: ExtractionWorld, client_for: Callable[..., TestClient],
    worker_thread: Callable[[Settings], Any],
) -> None:
    api = client_for(preflight_on="worker")
    worker_thread(world.settings)  # a worker without CUDA, like this machine
    answer = api.post(f"{API}/preflight", json=body(world, device="cuda"))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "device_unavailable" and error["details"]["device"] == "cuda"
    assert "CUDA is not available" in error["message"] and "job worker" in error["message"]
    [job] = preflight_jobs(api)
    assert job["state"] == "failed" and job["result"]["error"]["status"] == 422


def test_a_create_without_a_preflight_is_queued_at_once_and_its_job_measures_the_run(
    world: ExtractionWorld, client_for: Callable[..., TestClient],
    worker_thread: Callable[[Settings], Any],
) -> None:
    api = client_for(preflight_on="worker")
    created = api.post(API, json=body(world, hook_points=["blocks.1.resid_post"]))
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["preflight"] is None and not preflight_jobs(api)
    assert row["name"] == "tiny llama: 1 hook point"  # not "1 hook points"
    worker_thread(world.settings)
    done = wait_for(lambda: (e := api.get(f"{API}/{row['id']}").json())["job"]["state"]
                    in ("succeeded", "failed") and e, timeout=120)
    assert done["job"]["state"] == "succeeded", done["job"]["error_message"]
    report = done["preflight"]
    assert report["calibration"]["tokens_per_s"] > 0
    assert report["model"]["precision_used"] == "fp32"
    assert done["counts"]["tokens_total"] == done["counts"]["tokens"] == report["plan"]["tokens"]
    assert done["counts"]["bytes_total"] == report["bytes"]["total"]
    assert done["info"]["bound"] == report["projected"]["bound"]
    assert "preflight" in [stage["stage"] for stage in done["job"]["stages"]]
