"""Inputs an exploratory tester found answered with a 500 or accepted when they should not be:
each is refused with a 422 in the one error shape, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from helpers import LOOPBACK
from interpstudio.api.app import create_app
from interpstudio.api.deps import SessionDep
from interpstudio.core.settings import Settings
from interpstudio.db.base import MAX_ID

TOO_BIG = MAX_ID + 1  # 2**31: what a 32-bit PostgreSQL Integer column cannot hold


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    """The app on a fresh database of each backend (tests using it run twice)."""
    with TestClient(base_url=LOOPBACK, app=create_app(settings)) as client:
        yield client


def test_an_id_above_what_the_database_holds_is_422_on_every_route(api: TestClient) -> None:
    """Found by a tester: on PostgreSQL any id above 2**31 - 1 was a 500 (the API allowed up to
    2**62, the columns are 32-bit). Walks the OpenAPI document, so a route added later is
    covered: every path id one past the limit is a 422, the largest one a 404 (or a 422 for a
    missing body), never a 5xx."""
    checked = []
    for template, operations in api.app.openapi()["paths"].items():
        if "{" not in template:
            continue
        for method in operations:
            too_big = api.request(method.upper(), re.sub(r"\{[^}]+\}", str(TOO_BIG), template))
            assert too_big.status_code == 422, (method, template, too_big.text)
            assert too_big.json()["error"]["code"] == "invalid_request"
            largest = api.request(method.upper(), re.sub(r"\{[^}]+\}", str(MAX_ID), template))
            assert largest.status_code in (404, 422), (method, template, largest.text)
            checked.append(f"{method} {template}")
    assert len(checked) >= 25, checked


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", f"/api/v1/extractions?model_id={TOO_BIG}", None),
    ("GET", f"/api/v1/extractions?tokenization_id={TOO_BIG}", None),
    ("POST", "/api/v1/extractions", {"model_id": TOO_BIG, "tokenization_id": 1,
                                     "hook_points": ["blocks.0.resid_post"]}),
    ("POST", "/api/v1/extractions/preflight", {"model_id": 1, "tokenization_id": TOO_BIG,
                                               "hook_points": ["blocks.0.resid_post"]}),
    ("POST", "/api/v1/datasets/1/tokenizations", {"model_id": TOO_BIG}),
    ("POST", "/api/v1/datasets/1/tokenize-preview", {"model_id": TOO_BIG}),
])
def test_an_id_too_big_in_a_query_or_body_is_422(api: TestClient, method: str, url: str,
                                                 body: dict | None) -> None:
    assert api.post("/api/v1/datasets", json={"source": "bundled"}).status_code == 201  # id 1
    response = api.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.postgres
def test_a_value_the_database_refuses_is_422_not_500(postgres_url: str, tmp_path) -> None:
    """The net under request validation: a ``DataError`` from the database (here a real
    out-of-range integer on PostgreSQL) is a 422 saying the database refused a value."""
    from helpers import make_settings
    from interpstudio.db.migrate import upgrade

    settings = make_settings(tmp_path, postgres_url)
    upgrade(settings.resolved_database_url)
    app = create_app(settings)

    @app.get("/api/v1/test-out-of-range")
    def out_of_range(session: SessionDep) -> dict:
        session.execute(text("SELECT CAST(:value AS integer)"), {"value": 2**40})
        return {}

    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the UI's catch-all
    with TestClient(base_url=LOOPBACK, app=app) as client:
        response = client.get("/api/v1/test-out-of-range")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "value_refused_by_database"
    assert "database refused a value" in error["message"]


@pytest.mark.parametrize(("url", "name", "valid"), [
    ("/api/v1/extractions", "status", ["complete", "partial"]),
    ("/api/v1/models", "status", ["ready", "downloading"]),
    ("/api/v1/jobs", "kind", ["selftest", "extract"]),
    ("/api/v1/jobs", "state", ["queued", "interrupted"]),
])
def test_an_unknown_filter_value_is_422_listing_the_valid_ones(client: TestClient, url: str,
                                                               name: str, valid: list[str]) -> None:
    """Found by a tester: ``/extractions?status=bogus`` and ``/jobs?kind=bogus`` answered 200
    with an empty list, while ``/jobs?state=bogus`` was a 422."""
    response = client.get(url, params=[(name, valid[0]), (name, "bogus")])
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["errors"][0]["loc"] == ["query", name, 1]
    assert all(f"'{value}'" in error["details"]["errors"][0]["msg"] for value in valid)
    assert client.get(url, params=[(name, value) for value in valid]).status_code == 200


DEVICE_IN_WORDS = ("'gpu' is not a device; give auto, cpu, cuda (the first GPU), cuda:N (GPU "
                   "number N, e.g. cuda:1) or mps")
SPEC = {"model_id": 1, "tokenization_id": 1, "hook_points": ["blocks.0.resid_post"]}


@pytest.mark.parametrize(("method", "url", "body", "loc"), [
    ("POST", "/api/v1/extractions", {**SPEC, "device": "gpu"}, ["body", "device"]),
    ("POST", "/api/v1/extractions/preflight", {**SPEC, "device": "gpu"}, ["body", "device"]),
    ("GET", "/api/v1/extractions/preflight?device=gpu", None, ["query", "device"]),
])
def test_an_unknown_device_is_422_in_words(client: TestClient, method: str, url: str,
                                           body: dict | None, loc: list[str]) -> None:
    """A tester: ``device: gpu`` was refused with pydantic's regular expression (``String should
    match pattern '^(auto|cpu|cuda(:\\d+)?|mps)$'``); the API now says what the CLI says."""
    response = client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["details"]["errors"] == [{"loc": loc, "msg": DEVICE_IN_WORDS, "type": "device"}]
    assert client.get("/api/v1/extractions/preflight?device=cpu").json()["device"] == "cpu"


def _refused_for_nul(response, field: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == {"field": field}
    assert "NUL" in error["message"] and "remove the NUL character" in error["message"]


@pytest.fixture
def rows(api: TestClient, session_factory) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """A model row and a dataset (the bundled text, its import queued) to rename."""
    from interpstudio.db.repositories import models

    with session_factory() as session:
        model = models.create_unless_key_exists(session, key="k", name="m", source="local")[0]
        session.commit()
        model_id = model.id
    dataset = api.post("/api/v1/datasets", json={"source": "bundled"})
    assert dataset.status_code == 201, dataset.text
    return {"model": model_id, "dataset": dataset.json()["id"]}


def test_a_nul_character_in_any_text_is_422_naming_the_field(api: TestClient,
                                                            rows: dict[str, int]) -> None:
    """Found by a tester: a NUL in a name, a search or a filter was a 500 on PostgreSQL (text and
    JSONB cannot hold it) and stored on SQLite; now a 422 on both, before any route runs."""
    spec = {"model_id": rows["model"], "tokenization_id": 1,
            "hook_points": ["blocks.0.resid_post"]}
    _refused_for_nul(api.get("/api/v1/extractions", params={"q": "\x00"}), "query parameter q")
    _refused_for_nul(api.get("/api/v1/extractions", params={"status": "\x00"}),
                     "query parameter status")
    _refused_for_nul(api.get("/api/v1/models", params={"search": "a\x00b"}),
                     "query parameter search")
    _refused_for_nul(api.patch(f"/api/v1/models/{rows['model']}", json={"name": "x\x00y"}),
                     "name")
    _refused_for_nul(api.patch(f"/api/v1/datasets/{rows['dataset']}", json={"name": "x\x00y"}),
                     "name")
    _refused_for_nul(api.post("/api/v1/datasets", json={"source": "local", "paths": ["a.txt"],
                                                        "name": "x\x00y"}), "name")
    _refused_for_nul(api.post("/api/v1/datasets", json={
        "source": "local", "paths": ["a.txt"], "read": {"text_column": "t\x00"}}),
        "read.text_column")
    _refused_for_nul(api.post("/api/v1/datasets", json={"source": "local",
                                                        "paths": ["ok", "a\x00.txt"]}),
                     "paths[1]")
    _refused_for_nul(api.post("/api/v1/extractions", json={**spec, "name": "a\x00b"}), "name")
    _refused_for_nul(api.post("/api/v1/extractions/preflight",
                              json={**spec, "hook_points": ["blocks.0\x00"]}), "hook_points[0]")
    # the six characters \u0000 (an escaped backslash) are ordinary text
    renamed = api.patch(f"/api/v1/models/{rows['model']}", json={"name": "x\\u0000y"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "x\\u0000y"


def test_an_upload_keeps_nul_bytes_in_files_but_refuses_them_in_its_fields(
        api: TestClient) -> None:
    text = b"first line\nwith a \x00 byte inside\n"
    uploaded = api.post("/api/v1/datasets/upload", files=[("files", ("nul.txt", text))],
                        data={"name": "binary-ish"})
    assert uploaded.status_code == 201, uploaded.text
    _refused_for_nul(api.post("/api/v1/datasets/upload", files=[("files", ("b.txt", text))],
                              data={"name": "x\x00y"}), "form field name")
    raw = (b'--B\r\nContent-Disposition: form-data; name="files"; filename="c\x00.txt"\r\n'
           b"Content-Type: text/plain\r\n\r\n" + text + b"\r\n--B--\r\n")  # httpx escapes it
    _refused_for_nul(api.post("/api/v1/datasets/upload", content=raw, headers={
        "content-type": "multipart/form-data; boundary=B"}), "an upload file name")


def test_a_json_body_past_16_mb_is_refused_not_read_whole(api: TestClient) -> None:
    """Found by a reviewer: the NUL check read every JSON (or untyped) body whole, an upload
    sent without its multipart content type included, before the upload's own 413."""
    big = b"x" * (17 << 20)
    for response in (api.post("/api/v1/datasets/upload", content=big),
                     api.post("/api/v1/selftest", content=b'{"a": "' + big + b'"}',
                              headers={"content-type": "application/json"})):
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "request_too_large"
