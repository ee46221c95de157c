"""A page on another site cannot drive the local server through the user's browser (found by a
tester: with CORS off, a foreign page's bodyless POST cancelled a running job, a multipart form
uploaded a dataset, its WebSocket read every job event, and a DNS-rebinding name read the whole
API). Requests are the ones such a page makes a browser send: an ``Origin`` header, or a ``Host``
that is the attacker's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from helpers import LOOPBACK, make_settings
from interpstudio.api.app import create_app
from interpstudio.api.origin_guard import same_origin
from interpstudio.db.migrate import upgrade

EVIL = {"Origin": "http://evil.example"}


def client_for(tmp_path: Path, base_url: str = LOOPBACK, **overrides: Any) -> TestClient:
    settings = make_settings(tmp_path, workers=0, **overrides)
    upgrade(settings.resolved_database_url)
    return TestClient(create_app(settings), base_url=base_url)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with client_for(tmp_path) as test_client:
        yield test_client


def queued_job(client: TestClient) -> int:
    created = client.post("/api/v1/selftest", json={"iterations": 1})  # no Origin: a script
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_a_foreign_page_cannot_cancel_a_job_but_the_apps_own_page_can(client: TestClient) -> None:
    job_id = queued_job(client)
    refused = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=EVIL)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "cross_origin_refused"
    assert "evil.example" in refused.json()["error"]["message"]
    assert client.get(f"/api/v1/jobs/{job_id}").json()["state"] == "queued"
    for origin in ("null", "http://127.0.0.1:9999", "http://127.0.0.1.evil.example"):
        refused = client.post(f"/api/v1/jobs/{job_id}/cancel", headers={"Origin": origin})
        assert refused.status_code == 403, origin
    own = client.post(f"/api/v1/jobs/{job_id}/cancel", headers={"Origin": "http://127.0.0.1"})
    assert own.status_code == 200 and own.json()["state"] == "cancelled"


def test_a_foreign_multipart_form_uploads_nothing(client: TestClient) -> None:
    refused = client.post("/api/v1/datasets/upload", headers=EVIL, data={"name": "csrf"},
                          files={"files": ("a.txt", b"hello\n", "text/plain")})
    assert refused.status_code == 403
    assert client.get("/api/v1/datasets").json()["total"] == 0


def test_a_foreign_page_cannot_open_the_event_websocket(client: TestClient) -> None:
    for url, headers, code in (("ws://127.0.0.1/api/v1/ws", EVIL, "cross_origin_refused"),
                               ("ws://attacker.example/api/v1/ws", {}, "host_not_allowed")):
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect(
                url, headers=headers) as refused:
            refused.receive_json()  # accepted, then closed at once: nothing is sent
        assert (info.value.code, info.value.reason) == (4403, code)
    own = {"Origin": "http://127.0.0.1"}
    with client.websocket_connect("ws://127.0.0.1/api/v1/ws", headers=own) as ws:
        assert ws.receive_json()["type"] == "snapshot"


def test_a_dns_rebinding_host_is_refused_unless_listed(tmp_path: Path) -> None:
    with client_for(tmp_path, base_url="http://attacker.example:8000") as rebound:
        refused = rebound.get("/api/v1/models")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "host_not_allowed"
        assert "INTERPSTUDIO_ALLOWED_HOSTS" in refused.json()["error"]["message"]
        assert rebound.get("/").status_code == 200  # the UI shell holds no data
    for name in ("http://localhost:8000", "http://[::1]:8000", "http://127.0.0.2"):
        with client_for(tmp_path, base_url=name) as local:
            assert local.get("/api/v1/models").status_code == 200, name
    with client_for(tmp_path, base_url="http://box.lan:8000", allowed_hosts=["box.lan"]) as lan:
        assert lan.get("/api/v1/models").status_code == 200


def test_with_an_api_key_any_host_may_be_named_and_listed_origins_may_write(
        tmp_path: Path) -> None:
    key = {"X-API-Key": "k" * 16}
    with client_for(tmp_path, base_url="http://studio.example.org", api_key="k" * 16,
                    cors_origins=["http://notebook.example.org"]) as keyed:
        assert keyed.get("/api/v1/models", headers=key).status_code == 200
        assert keyed.post("/api/v1/selftest", json={"iterations": 1},
                          headers={**key, "Origin": "http://notebook.example.org"}
                          ).status_code == 201
        assert keyed.post("/api/v1/selftest", json={"iterations": 1},
                          headers={**key, **EVIL}).status_code == 403


def test_same_origin_compares_host_and_port_with_default_ports() -> None:
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000", "http")
    assert same_origin("http://LOCALHOST", "localhost:80", "http")
    assert same_origin("https://studio.example.org", "studio.example.org", "https")
    # behind a TLS-terminating proxy the server sees http (found by a reviewer: every write of
    # the app's own pages was refused there)
    assert same_origin("https://studio.example.org", "studio.example.org", "http")
    assert not same_origin("https://studio.example.org", "studio.example.org:80", "http")
    assert not same_origin("http://127.0.0.1:8001", "127.0.0.1:8000", "http")
    assert not same_origin("http://evil.example", "127.0.0.1:8000", "http")
    assert not same_origin("null", "127.0.0.1:8000", "http")
    assert not same_origin("http://127.0.0.1:notaport", "127.0.0.1:8000", "http")


def test_a_listed_origin_can_use_the_api_with_a_key_from_a_browser(tmp_path: Path) -> None:
    """Found by a tester: with a key, the browser's CORS preflight (it never carries the key)
    was a 401 without CORS headers, so no listed origin could call the API at all."""
    page = "http://notebook.example.org"
    with client_for(tmp_path, base_url="http://studio.example.org", api_key="k" * 16,
                    cors_origins=[page]) as keyed:
        preflight = keyed.options("/api/v1/models", headers={
            "Origin": page, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-api-key"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == page
        refused = keyed.get("/api/v1/models", headers={"Origin": page})  # no key: readable 401
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == page
