"""Security baseline: loopback by default, a key required off loopback, 401 without it on HTTP
and WebSocket, CORS off by default."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from helpers import LOOPBACK, make_settings
from interpstudio.api.app import create_app
from interpstudio.core.settings import SettingsError, get_settings
from interpstudio.db.migrate import upgrade

KEY = "s3cret-key-for-tests"


def test_non_loopback_host_without_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        get_settings(host="0.0.0.0", data_dir=tmp_path)
    assert "INTERPSTUDIO_API_KEY" in info.value.message
    assert get_settings(host="0.0.0.0", api_key=KEY, data_dir=tmp_path).host == "0.0.0.0"
    assert get_settings(data_dir=tmp_path).host == "127.0.0.1"


@pytest.fixture
def keyed_client(tmp_path: Path):
    settings = make_settings(tmp_path, api_key=KEY)
    upgrade(settings.resolved_database_url)
    with TestClient(base_url=LOOPBACK, app=create_app(settings)) as client:
        yield client


def test_http_requests_need_the_key(keyed_client: TestClient) -> None:
    missing = keyed_client.get("/api/v1/jobs")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    assert keyed_client.get("/api/v1/health", headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyed_client.get("/api/v1/jobs", headers={"X-API-Key": KEY}).status_code == 200
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert keyed_client.post("/api/v1/selftest", json={}, headers=bearer).status_code == 201


def test_http_requests_refuse_the_key_in_the_query_string(keyed_client: TestClient) -> None:
    """Found by a tester: ``GET /api/v1/models?api_key=KEY`` was a 200, though only the WebSocket
    may carry the key in its URL (a key in a URL leaks through history, proxies and logs)."""
    for path in ("/api/v1/models", "/api/v1/jobs", "/api/v1/health"):
        response = keyed_client.get(path, params={"api_key": KEY})
        assert response.status_code == 401, (path, response.text)
        assert "X-API-Key" in response.json()["error"]["message"]
    assert keyed_client.post("/api/v1/selftest", params={"api_key": KEY},
                             json={}).status_code == 401


def test_websocket_needs_the_key(keyed_client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as info, keyed_client.websocket_connect(
        "/api/v1/ws"
    ) as refused:
        refused.receive_json()  # accepted, then closed at once with a code a browser can read
    assert (info.value.code, info.value.reason) == (4401, "unauthorized")
    with keyed_client.websocket_connect(f"ws://127.0.0.1/api/v1/ws?api_key={KEY}") as ws:
        assert ws.receive_json()["type"] == "snapshot"


def test_ui_shell_loads_without_key_but_holds_no_data(keyed_client: TestClient) -> None:
    response = keyed_client.get("/")
    assert response.status_code == 200 and "Interp Studio" in response.text


def test_cors_is_off_by_default(client: TestClient) -> None:
    response = client.options("/api/v1/jobs", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in response.headers


def test_every_api_route_refuses_a_request_without_the_key(keyed_client: TestClient) -> None:
    """Walks the app's own OpenAPI document, so a route added later is covered too: every method
    of every ``/api`` path answers 401 without the key (path parameters filled with a plausible
    value; the key is checked before anything else, so no body is needed)."""
    import re

    paths = keyed_client.app.openapi()["paths"]
    checked = []
    for template, operations in paths.items():
        assert template.startswith("/api/"), template
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method in operations:
            response = keyed_client.request(method.upper(), path)
            assert response.status_code == 401, (method, template, response.status_code)
            assert response.json()["error"]["code"] == "unauthorized"
            checked.append(f"{method} {template}")
    assert len(checked) >= 40, checked  # the walk really found the API
