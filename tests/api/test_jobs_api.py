"""REST API for jobs through the real ASGI app: create, list with filters and pagination, get,
cancel, resume, retry, delete; errors in one JSON shape with the right status."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import wait_for
from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset
from interpstudio.db.session import make_engine, make_session_factory


def _selftest(client: TestClient, **body) -> dict:
    response = client.post("/api/v1/selftest", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_selftest_returns_queued_job(client: TestClient) -> None:
    job = _selftest(client, iterations=3)
    assert job["state"] == "queued" and job["kind"] == "selftest"
    assert job["params"] == {"iterations": 3, "step_delay_s": 0.0, "fail_at": None}
    assert client.get(f"/api/v1/jobs/{job['id']}").json()["id"] == job["id"]


def test_list_filters_by_state_and_kind_and_paginates(client: TestClient) -> None:
    ids = [_selftest(client)["id"] for _ in range(5)]
    client.post(f"/api/v1/jobs/{ids[0]}/cancel")
    page = client.get("/api/v1/jobs", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and [j["id"] for j in page["items"]] == ids[3:1:-1]
    queued = client.get("/api/v1/jobs", params={"state": "queued", "kind": "selftest"}).json()
    assert queued["total"] == 4
    both = client.get("/api/v1/jobs", params=[("state", "queued"), ("state", "cancelled")]).json()
    assert both["total"] == 5
    assert client.get("/api/v1/jobs", params={"kind": "extract"}).json()["total"] == 0
    assert client.get("/api/v1/jobs", params={"kind": "nothing"}).status_code == 422


def test_list_filters_by_extraction(client: TestClient, sqlite_settings: Settings) -> None:
    """``extraction_id=`` gives the jobs of one extraction (the export box asked for every
    running export and matched ``params.extraction_id`` itself); an id no row can have is a
    422."""
    from interpstudio.services import jobs as service

    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:
        ids = {(kind, extraction): service.create_job(
                   session=session, kind=kind, params={"extraction_id": extraction}).id
               for kind in ("extract", "extraction_export") for extraction in (3, 30)}
    _selftest(client)
    mine = client.get("/api/v1/jobs", params={"extraction_id": 3}).json()
    assert mine["total"] == 2 and [j["id"] for j in mine["items"]] == [
        ids["extraction_export", 3], ids["extract", 3]]
    export = client.get("/api/v1/jobs", params=[
        ("kind", "extraction_export"), ("state", "queued"), ("state", "running"),
        ("extraction_id", "30")]).json()
    assert [j["id"] for j in export["items"]] == [ids["extraction_export", 30]]
    for refused in (0, 2**31):
        assert client.get("/api/v1/jobs", params={"extraction_id": refused}).status_code == 422


def test_unknown_job_is_404_in_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/jobs/424242")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "job_not_found",
                                         "message": "job 424242 does not exist",
                                         "details": {"resource": "job", "id": "424242"}}}
    for action in ("cancel", "resume", "retry"):
        assert client.post(f"/api/v1/jobs/424242/{action}").status_code == 404
    assert client.delete("/api/v1/jobs/424242").status_code == 404


@pytest.mark.parametrize("body", [
    {"iterations": 0}, {"iterations": "many"}, {"step_delay_s": -1}, {"unknown": 1}, [],
])
def test_invalid_selftest_bodies_are_422(client: TestClient, body) -> None:
    response = client.post("/api/v1/selftest", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"


def test_malformed_json_and_bad_ids_are_422_not_500(client: TestClient) -> None:
    response = client.post("/api/v1/selftest", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert client.get("/api/v1/jobs/abc").status_code == 422
    assert client.get("/api/v1/jobs/0").status_code == 422
    assert client.get("/api/v1/jobs", params={"limit": 0}).status_code == 422
    assert client.get("/api/v1/jobs", params={"state": "exploded"}).status_code == 422


def test_wrong_state_actions_are_409_naming_allowed_states(client: TestClient) -> None:
    job = _selftest(client)
    response = client.post(f"/api/v1/jobs/{job['id']}/resume")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_job_state"
    assert error["details"]["state"] == "queued"
    assert "interrupted" in error["details"]["allowed"]
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 409
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 200
    again = client.post(f"/api/v1/jobs/{job['id']}/cancel").json()["error"]
    # found by a tester: the refusal said "allowed from: running" though queued jobs cancel too
    assert again["details"]["allowed"] == ["queued", "running"]
    assert "allowed from: queued, running" in again["message"]


def test_a_retry_of_a_succeeded_job_is_refused_saying_what_to_do(
        client: TestClient, sqlite_settings: Settings, worker_thread) -> None:
    """Found by a browser walk: a succeeded job offered Retry, and the API took it (for a job
    that made a record, its finished results were deleted to compute the same again). A retry
    is for a stopped job; a succeeded one is refused (409), the message saying what instead."""
    job = _selftest(client, iterations=1)
    worker_thread(sqlite_settings)
    done = wait_for(lambda: (j := client.get(f"/api/v1/jobs/{job['id']}").json())["state"]
                    in ("succeeded", "failed") and j, timeout=60)
    assert done["state"] == "succeeded", done
    refused = client.post(f"/api/v1/jobs/{job['id']}/retry")
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "job_already_succeeded"
    assert error["details"]["allowed"] == ["interrupted", "cancelled", "failed"]
    assert "start a new selftest job" in error["message"]
    after = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert after["state"] == "succeeded" and after["attempt"] == done["attempt"]
    assert after["result"] == done["result"]  # nothing was reset


def test_cancel_retry_delete_flow(client: TestClient) -> None:
    job = _selftest(client)
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel").json()
    assert cancelled["state"] == "cancelled"
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 409
    retried = client.post(f"/api/v1/jobs/{job['id']}/retry").json()
    assert retried["state"] == "queued" and retried["attempt"] == 2
    client.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404


def test_job_runs_to_success_with_a_worker(client: TestClient, sqlite_settings, worker_thread):
    worker_thread(sqlite_settings)
    job = _selftest(client, iterations=3)
    done = wait_for(lambda: (j := client.get(f"/api/v1/jobs/{job['id']}").json())["state"]
                    in ("succeeded", "failed") and j)
    assert done["state"] == "succeeded"
    assert done["progress"] == 1.0


def test_health_and_unknown_routes(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    missing = client.get("/api/v1/does-not-exist")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert client.put("/api/v1/health").status_code == 405


def test_a_job_names_the_record_that_made_it_by_the_rule_delete_follows(
        client: TestClient, sqlite_settings: Settings) -> None:
    """The Jobs page guessed a job's owner from its params, so a job no record points at any
    more (its record's ``job_id`` now names another) showed no Delete, though the server
    deletes it. ``owner`` is the server's own rule (``job_has_owner``), in every job it sends:
    get, list, actions, a record's embedded job and the WebSocket."""
    dataset = client.post("/api/v1/datasets", json={"source": "bundled"})
    assert dataset.status_code == 201, dataset.text
    dataset_id, job_id = dataset.json()["id"], dataset.json()["job_id"]
    selftest = _selftest(client)
    made_by = {"kind": "dataset", "id": dataset_id}
    assert client.get(f"/api/v1/jobs/{job_id}").json()["owner"] == made_by
    assert dataset.json()["job"]["owner"] == made_by
    listed = {j["id"]: j["owner"] for j in client.get("/api/v1/jobs").json()["items"]}
    assert listed == {job_id: made_by, selftest["id"]: None}
    with client.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
        snapshot = ws.receive_json()
    assert {j["id"]: j["owner"] for j in snapshot["jobs"]} == listed
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").json()["owner"] == made_by
    assert client.delete(f"/api/v1/jobs/{job_id}").json()["error"]["code"] == "job_has_owner"

    with make_session_factory(make_engine(sqlite_settings.resolved_database_url)).begin() as s:
        s.get(Dataset, dataset_id).job_id = None  # type: ignore[union-attr]
    orphan = client.get(f"/api/v1/jobs/{job_id}").json()
    assert orphan["owner"] is None and orphan["params"]["dataset_id"] == dataset_id
    assert client.delete(f"/api/v1/jobs/{job_id}").status_code == 204
