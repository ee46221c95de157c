"""Event buses: in-process fan-out with lag detection, and the Redis pub/sub implementation
against the real Redis server."""

from __future__ import annotations

import asyncio
import os

import pytest

from interpstudio.core.events import LocalEventBus, RedisEventBus


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
