"""The API through a real database outage: the app reaches a real PostgreSQL through a real TCP
proxy that drops every connection and refuses new ones. Requests meanwhile answer 503 with
``Retry-After`` (retry, not a bug report), the job feed logs the outage once, not every tick, and
both work again when the database is back."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import LOOPBACK, make_settings, wait_for
from interpstudio.api.app import create_app
from interpstudio.db.migrate import upgrade
from tcp_proxy import database_proxy

pytestmark = pytest.mark.postgres


def test_requests_during_an_outage_are_503_and_work_again_after(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upgrade(postgres_url)
    with database_proxy(postgres_url) as (proxy, proxied_url):
        settings = make_settings(tmp_path, proxied_url)
        app = create_app(settings, job_feed_interval_s=0.05)
        with TestClient(base_url=LOOPBACK, app=app) as client:
            created = client.post("/api/v1/selftest", json={"iterations": 1})
            assert created.status_code == 201
            proxy.outage(2.0)
            response = client.get("/api/v1/jobs")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "2"
            assert response.json()["error"]["code"] == "database_unavailable"
            assert "retry" in response.json()["error"]["message"]
            wait_for(lambda: client.get("/api/v1/jobs").status_code == 200, timeout=30,
                     interval=0.2)
            assert client.get("/api/v1/jobs").json()["total"] == 1
    assert proxy.refused > 0
    feed_errors = [r for r in caplog.records
                   if r.levelno >= logging.ERROR and "JobFeed failed" in r.getMessage()]
    assert len(feed_errors) == 1  # one traceback for the whole outage, not one per tick
