"""Scale-out events, found by its tester: several API processes (apps) on one database and a Redis
of the test's own, which the tests stop and start again for a real outage.

Each job event reaches a client once whatever the number of APIs (each delivers its own feed's),
system metrics stay per host, a Redis outage neither loses job events nor fails a committed
delete, the bus resubscribes when Redis is back, and two deployments on one Redis server (other
database indexes) never see each other's events.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import LOOPBACK, make_settings, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from redis_server import RedisServer

WS = "ws://127.0.0.1/api/v1/ws"


def scale_out_settings(path: Path, broker_url: str) -> Settings:
    settings = make_settings(path, broker_url=broker_url)
    upgrade(settings.resolved_database_url)
    return settings


def api(settings: Settings, system_interval_s: float = 60.0) -> TestClient:
    """One API process (its own feeds and bus); metrics only when asked, so they are told apart."""
    return TestClient(base_url=LOOPBACK, app=create_app(
        settings, job_feed_interval_s=0.05, system_interval_s=system_interval_s))


def connect(ws: Any, system: bool = False) -> None:
    assert ws.receive_json()["type"] == "snapshot"
    ws.send_json({"type": "subscribe", "job_ids": None, "system": system})


def drain(ws: Any) -> list[dict]:
    """Everything the socket has for us now (up to the answer to a ping)."""
    ws.send_json({"type": "ping"})
    messages = []
    while (message := ws.receive_json())["type"] != "pong":
        messages.append(message)
    return messages


def receive_within(ws: Any, predicate: Callable[[dict], bool], timeout: float = 15) -> list[dict]:
    """Messages up to the first matching ``predicate``; fails (never hangs) after ``timeout``."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in drain(ws):
            seen.append(message)
            if predicate(message):
                return seen
        time.sleep(0.05)
    raise AssertionError(f"nothing matched within {timeout} s; got {seen}")


def queued_job(client: TestClient) -> int:
    return client.post("/api/v1/selftest", json={}).json()["id"]


def test_with_two_apis_a_job_event_arrives_once_and_metrics_are_the_hosts_own(
        tmp_path: Path, redis_server: RedisServer, worker_thread) -> None:
    """Each API published its feed's job events to the shared bus and delivered everything, so
    with two APIs each event arrived twice; the other host's metrics were interleaved."""
    settings = scale_out_settings(tmp_path, redis_server.url())
    with api(settings) as first, api(settings, system_interval_s=0.05) as second, \
            first.websocket_connect(WS) as ws, second.websocket_connect(WS) as other_ws:
        connect(ws, system=True)
        connect(other_ws, system=True)
        worker_thread(settings)
        job = first.post("/api/v1/selftest", json={"iterations": 5}).json()["id"]
        seen = receive_within(ws, lambda m: m.get("job", {}).get("state") == "succeeded")
        time.sleep(1.0)  # the other API's feed has seen the same rows by now
        seen += drain(ws)
        other_metrics = receive_within(other_ws, lambda m: m["type"] == "system.metrics")[-1]
    finished = [m for m in seen if m["type"] == "job.updated" and m["job"]["id"] == job
                and m["job"]["state"] == "succeeded"]
    assert len(finished) == 1, finished
    updates = [m["job"] for m in seen if m["type"] == "job.updated"]
    assert len(updates) == len({repr(u) for u in updates})  # no update twice
    assert not [m for m in seen if m["type"] == "system.metrics"]  # only the other host sends
    assert other_metrics["host"] == platform.node()


def test_job_events_reach_clients_during_and_after_a_redis_outage(
        tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """The reader ended on the outage and never resubscribed; JobFeed's cursor advanced before
    its publish failed, so changes made meanwhile were dropped; /health said ok; the feed log
    said "works again" while Redis was still down."""
    caplog.set_level(logging.INFO)
    settings = scale_out_settings(tmp_path, redis_server.url())
    with api(settings) as first, api(settings) as second, first.websocket_connect(WS) as ws:
        connect(ws)
        jobs = [queued_job(first), queued_job(first)]
        redis_server.stop()
        time.sleep(0.5)  # the buses meet the outage
        second.post(f"/api/v1/jobs/{jobs[0]}/cancel")  # another API changes a row meanwhile
        receive_within(ws, lambda m: m["type"] == "job.updated" and m["job"]["id"] == jobs[0]
                       and m["job"]["state"] == "cancelled")
        assert first.get("/api/v1/health").json()["broker"] == "unreachable"

        redis_server.start()
        wait_for(lambda: first.get("/api/v1/health").json()["broker"] == "connected", 15)
        receive_within(ws, lambda m: m["type"] == "snapshot")  # what it missed: refetched
        wait_for(lambda: second.get("/api/v1/health").json()["broker"] == "connected", 15)
        [channel] = redis_server.channels()
        assert redis_server.subscribers(channel) == 2  # both APIs subscribed again
        second.delete(f"/api/v1/jobs/{jobs[0]}")  # an event only the other API knows of
        receive_within(ws, lambda m: m == {"type": "job.deleted", "job_id": jobs[0]})
    lines = [r.getMessage() for r in caplog.records]
    assert any("Redis event bus at" in line and "unreachable" in line for line in lines)
    assert any("Redis event bus at" in line and " is back after " in line for line in lines)
    assert not [line for line in lines if "JobFeed" in line]  # it never depended on Redis


def test_a_delete_during_a_redis_outage_is_done_not_a_500(
        tmp_path: Path, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """``get_session`` committed the delete, then its ``job.deleted`` publish raised: a 500."""
    settings = scale_out_settings(tmp_path, redis_server.url())
    with api(settings) as client, client.websocket_connect(WS) as ws:
        connect(ws)
        job = queued_job(client)
        client.post(f"/api/v1/jobs/{job}/cancel")
        redis_server.stop()
        assert client.delete(f"/api/v1/jobs/{job}").status_code == 204
        assert client.get(f"/api/v1/jobs/{job}").status_code == 404
        receive_within(ws, lambda m: m == {"type": "job.deleted", "job_id": job})  # ours: told
    assert "job.deleted not sent to the other API processes" in caplog.text


def test_two_deployments_on_one_redis_never_see_each_others_events(
        tmp_path: Path, redis_server: RedisServer) -> None:
    """Pub/sub ignores the database index: on the fixed channel ``interpstudio:events`` a second
    deployment (Redis db 1, its own database) received the first one's events. The channel is
    now the deployment's, read from its database, so an API of the same deployment naming the
    same Redis by another host name (``localhost``) is on it too."""
    ours = scale_out_settings(tmp_path / "ours", redis_server.url(0))
    ours_elsewhere = ours.model_copy(
        update={"broker_url": f"redis://localhost:{redis_server.port}/0"})
    theirs = scale_out_settings(tmp_path / "theirs", redis_server.url(1))
    with api(ours) as ours_a, api(ours_elsewhere) as ours_b, api(theirs) as other, \
            ours_b.websocket_connect(WS) as sibling, other.websocket_connect(WS) as stranger:
        connect(sibling)
        connect(stranger)
        job = queued_job(ours_a)
        ours_a.post(f"/api/v1/jobs/{job}/cancel")
        ours_a.delete(f"/api/v1/jobs/{job}")
        receive_within(sibling, lambda m: m == {"type": "job.deleted", "job_id": job})
        time.sleep(0.5)
        assert [m for m in drain(stranger) if m["type"] == "job.deleted"] == []
        assert len(redis_server.channels()) == 2
