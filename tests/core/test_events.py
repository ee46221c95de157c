"""Event buses: in-process fan-out with lag detection, and the Redis pub/sub implementation
against the real Redis server and against a Redis of the test's own that it stops and starts
(an outage for real); the broker check ``serve`` runs before anything starts."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interpstudio.core.errors import BrokerUnavailable
from interpstudio.core.events import RESYNC_TYPE, LocalEventBus, RedisEventBus, check_broker
from redis_server import RedisServer, free_port
from tcp_proxy import TcpProxy


def test_local_bus_fans_out_to_every_subscriber() -> None:
    async def scenario() -> list[dict]:
        bus = LocalEventBus()
        async with bus.subscribe() as first, bus.subscribe() as second:
            await bus.publish({"type": "job.updated", "n": 1})
            got = [await first.get(), await second.get()]
        assert bus.subscriber_count == 0
        return got

    assert asyncio.run(scenario()) == [{"type": "job.updated", "n": 1}] * 2


def test_slow_subscriber_is_marked_lagged_not_blocking() -> None:
    async def scenario() -> bool:
        bus = LocalEventBus(queue_size=2)
        async with bus.subscribe() as slow:
            for n in range(5):
                await bus.publish({"type": "x", "n": n})
            return slow.lagged

    assert asyncio.run(scenario()) is True


def test_redis_bus_delivers_between_two_buses() -> None:
    url = os.environ.get("INTERPSTUDIO_TEST_REDIS", "redis://127.0.0.1:6379/0")

    async def scenario() -> dict:
        publisher, receiver = RedisEventBus(url, "interpstudio:test"), RedisEventBus(
            url, "interpstudio:test")
        try:
            await publisher.start()
            await receiver.start()
        except (OSError, ConnectionError) as exc:
            pytest.skip(f"Redis not reachable at {url}: {exc}")
        try:
            async with receiver.subscribe() as subscription:
                await publisher.publish({"type": "job.updated", "job": {"id": 7}})
                return await asyncio.wait_for(subscription.get(), timeout=5)
        finally:
            await publisher.close()
            await receiver.close()

    assert asyncio.run(scenario()) == {"type": "job.updated", "job": {"id": 7}}


def _next_event(subscription, skip: str = RESYNC_TYPE) -> dict:  # type: ignore[no-untyped-def]
    async def get() -> dict:
        while (event := await subscription.get())["type"] == skip:
            pass
        return event

    return get()  # type: ignore[return-value]


def test_redis_bus_resubscribes_after_redis_comes_back(redis_server: RedisServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Found by the scale-out tester: the reader task ended on the first ConnectionError, so after
    a Redis restart nothing was subscribed (``PUBSUB NUMSUB`` 0) and open WebSockets got nothing
    forever. Now it reconnects with backoff, says so, and resyncs its subscribers."""
    caplog.set_level(logging.INFO, logger="interpstudio.core.events")
    channel = "interpstudio:test-outage:events"

    async def scenario() -> tuple[dict, bool, list[str]]:
        receiver = RedisEventBus(redis_server.url(), channel)
        publisher = RedisEventBus(redis_server.url(), channel)
        await receiver.start()
        await publisher.start()
        try:
            async with receiver.subscribe() as subscription:
                redis_server.stop()
                await asyncio.sleep(1.0)  # the reader meets the outage and retries
                states = [getattr(receiver, "broker_state", None)]
                redis_server.start()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:  # Redis is back: events flow again
                    await publisher.publish({"type": "job.deleted", "job_id": 3})
                    try:
                        event = await asyncio.wait_for(_next_event(subscription), timeout=0.25)
                    except TimeoutError:
                        continue
                    states.append(getattr(receiver, "broker_state", None))
                    return event, subscription.lagged, states
                raise AssertionError("no event reached the subscriber after Redis came back")
        finally:
            await publisher.close()
            await receiver.close()

    event, lagged, states = asyncio.run(scenario())
    assert event == {"type": "job.deleted", "job_id": 3}
    assert lagged  # the WebSocket re-sends a snapshot: what others published meanwhile is lost
    assert states == ["unreachable", "connected"]
    lines = [r.getMessage() for r in caplog.records if r.name == "interpstudio.core.events"]
    assert any("unreachable" in line and f"127.0.0.1:{redis_server.port}/0" in line
               for line in lines), lines
    assert any(" is back after " in line for line in lines), lines


def test_a_redis_host_that_vanishes_silently_is_noticed_and_reconnected(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """A Redis host that vanished without closing its connections (a real proxy in between
    drops every byte) sent no error: the subscribed reader heard nothing, as on a quiet channel,
    until the OS's TCP timeout. Now it PINGs after a silence and reconnects when no reply comes;
    here with 1 s intervals (the defaults, 10 + 10 s, notice within about 20 s)."""
    caplog.set_level(logging.INFO, logger="interpstudio.core.events")
    channel = "interpstudio:test-vanished:events"
    proxy = TcpProxy("127.0.0.1", redis_server.port)

    async def scenario() -> tuple[list[str], float, dict]:
        receiver = RedisEventBus(f"redis://127.0.0.1:{proxy.port}/0", channel,
                                 ping_interval_s=1.0, reply_timeout_s=1.0)
        publisher = RedisEventBus(redis_server.url(), channel)  # not behind the proxy
        await receiver.start()
        await publisher.start()
        try:
            async with receiver.subscribe() as subscription:
                await asyncio.sleep(2.5)  # quiet but alive: pings answered, still connected
                states = [receiver.broker_state]
                proxy.blackhole()
                vanished = time.monotonic()
                while receiver.broker_state == "connected":
                    assert time.monotonic() - vanished < 10, "a vanished Redis went unnoticed"
                    await asyncio.sleep(0.1)
                noticed = time.monotonic() - vanished
                states.append(receiver.broker_state)
                proxy.restore()
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:  # reconnected through the proxy
                    await publisher.publish({"type": "job.deleted", "job_id": 4})
                    try:
                        event = await asyncio.wait_for(_next_event(subscription), timeout=0.25)
                    except TimeoutError:
                        continue
                    return [*states, receiver.broker_state], noticed, event
                raise AssertionError("no event reached the subscriber after the host came back")
        finally:
            await publisher.close()
            await receiver.close()
            proxy.close()

    states, noticed, event = asyncio.run(scenario())
    assert states == ["connected", "unreachable", "connected"]
    assert noticed < 5  # 1 s of silence + 1 s without a reply, and the reader's 1 s reads
    assert event == {"type": "job.deleted", "job_id": 4}
    assert "no reply from Redis" in caplog.text


def test_a_publish_while_redis_is_down_reaches_this_process_and_does_not_raise(
        redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """``get_session`` publishes ``job.deleted`` after its commit: a broker outage must not turn
    the done request into a 500, and this process's own clients still hear of it."""

    async def scenario() -> dict:
        bus = RedisEventBus(redis_server.url(), "interpstudio:test-down:events")
        await bus.start()
        try:
            async with bus.subscribe() as subscription:
                redis_server.stop()
                await bus.publish({"type": "job.deleted", "job_id": 5})
                return await asyncio.wait_for(_next_event(subscription), timeout=5)
        finally:
            await bus.close()

    assert asyncio.run(scenario()) == {"type": "job.deleted", "job_id": 5}
    assert "job.deleted not sent to the other API processes" in caplog.text


def test_a_broker_it_cannot_use_is_one_line_naming_the_variable(
        redis_server: RedisServer) -> None:
    check_broker(redis_server.url(3))  # answers: nothing raised
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    for url, cause in ((unreachable, "onnect"), (redis_server.url(99), "out of range")):
        with pytest.raises(BrokerUnavailable) as info:
            check_broker(url)
        assert info.value.message.startswith("INTERPSTUDIO_BROKER_URL: cannot use Redis at ")
        assert cause in info.value.message and "\n" not in info.value.message


def test_serve_with_a_broker_it_cannot_use_stops_in_one_line(tmp_path: Path) -> None:
    """Found by the scale-out tester: an unreachable broker or ``redis://.../99`` was a ~110-line
    traceback ending in "Application startup failed"; a URL without scheme the same."""
    for url in (f"redis://127.0.0.1:{free_port()}/0", "127.0.0.1:6379"):
        env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
               "INTERPSTUDIO_BROKER_URL": url}
        result = subprocess.run([sys.executable, "-m", "interpstudio", "serve", "--port",
                                 str(free_port()), "--workers", "0"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "INTERPSTUDIO_BROKER_URL" in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr
