"""The event bus: typed JSON events fanned out to subscribers (WebSocket clients).

One interface, two implementations: ``LocalEventBus`` (in-process asyncio queues; the embedded
default) and ``RedisEventBus`` (Redis pub/sub, so several API processes share events in scale-out).
Events are plain dicts with a ``type`` (``job.updated``, ``system.metrics``). A subscriber whose
queue overflows is marked ``lagged`` instead of blocking publishers; the WebSocket then re-sends a
snapshot. This module is NOT responsible for producing events (``api/feeds.py``) or for WebSockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

Event = dict[str, Any]


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.lagged = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus(Protocol):
    async def publish(self, event: Event) -> None: ...

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]: ...

    @property
    def subscriber_count(self) -> int: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LocalEventBus:
    """Fan-out inside one process."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscriptions: set[Subscription] = set()
        self._queue_size = queue_size

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self._queue_size)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)


class RedisEventBus:
    """Publishes to a Redis channel; one reader task fans messages out to local subscribers."""

    def __init__(self, url: str, channel: str = "interpstudio:events") -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._channel = channel
        self._local = LocalEventBus()
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="redis-event-reader")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _read(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._channel)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._local.deliver(json.loads(message["data"]))
        finally:
            await pubsub.aclose()

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, json.dumps(event, default=str))

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose()


def make_event_bus(broker_url: str | None) -> EventBus:
    return RedisEventBus(broker_url) if broker_url else LocalEventBus()
