"""Property-based run of every operation in /openapi.json (schemathesis): no input may produce a
5xx, and responses must match their documented schemas and status codes."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpers import LOOPBACK, make_settings
from interpstudio.api.app import create_app
from interpstudio.db.migrate import upgrade


def _app():  # type: ignore[no-untyped-def]
    """The app on a temp data dir, talking to a real local hub (never the unreachable Hub, where
    every request would end in a legitimate 502)."""
    import tempfile

    from hub_server import HubServer

    hub = HubServer()
    hub.start()
    app_settings = make_settings(Path(tempfile.mkdtemp(prefix="interpstudio-fuzz-")),
                                 hf_endpoint=hub.url,
                                 allowed_hosts=["testserver"])  # the name schemathesis sends
    upgrade(app_settings.resolved_database_url)
    return create_app(app_settings), hub


APP, HUB = _app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(autouse=True, scope="module")
def _seed_jobs():  # type: ignore[no-untyped-def]
    """A few real jobs so id-based operations hit existing rows too."""
    from fastapi.testclient import TestClient

    with TestClient(base_url=LOOPBACK, app=APP) as client:
        for _ in range(3):
            client.post("/api/v1/selftest", json={})
        client.post("/api/v1/jobs/1/cancel")
    yield
    HUB.stop()


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_no_server_errors_and_documented_responses(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                   content_type_conformance, response_schema_conformance])
