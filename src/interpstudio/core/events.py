"""The event bus: typed JSON events fanned out to subscribers (WebSocket clients).

One interface, two implementations: ``LocalEventBus`` (in-process asyncio queues; the embedded
default) and ``RedisEventBus`` (Redis pub/sub, so several API processes share events in scale-out).
Events are plain dicts with a ``type`` (``job.updated``, ``system.metrics``). Two verbs:
``deliver`` reaches this process's subscribers only (events every API process makes for itself:
job changes, which each one reads from the database, and its own host's metrics); ``publish``
reaches every API process of the deployment (events only one process knows of: ``job.deleted``).

A subscriber whose queue overflows is marked ``lagged`` instead of blocking publishers; the
WebSocket then re-sends a snapshot. After a Redis outage the bus marks every subscriber lagged and
wakes it with a ``RESYNC`` marker, so events published elsewhere meanwhile are caught up the same
way. This module is NOT responsible for producing events (``api/feeds.py``), for WebSockets, or for
what identifies a deployment (its channel name is given; ``api/app.py`` makes it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from interpstudio.core.errors import BrokerUnavailable
from interpstudio.core.logging import FailureStreak

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger(__name__)

Event = dict[str, Any]
RESYNC_TYPE = "bus.resync"  # not sent to clients: "events may have been missed, re-snapshot"


class Subscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.lagged = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True

    def resync(self) -> None:
        """Events may have been missed: ``lagged``, and a marker wakes the reader up."""
        self.lagged = True
        self.offer({"type": RESYNC_TYPE})

    async def get(self) -> Event:
        return await self.queue.get()


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """To the subscribers of every API process of the deployment; never raises for a broker
        outage (the event is then logged as not sent; this process's subscribers still get it)."""

    def deliver(self, event: Event) -> None:
        """To this process's subscribers only."""

    @property
    def broker_state(self) -> str | None:
        """``None`` without a broker, else ``"connected"`` or ``"unreachable"``."""

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

    @property
    def broker_state(self) -> str | None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    def resync(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.resync()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription(self._queue_size)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


def _where(client: redis.asyncio.Redis) -> str:
    """``host:port/db`` (or the socket path) of a client: for messages, without credentials."""
    kwargs = client.connection_pool.connection_kwargs
    place = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return f"{place}/{kwargs.get('db', 0)}"


def _cause(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


class RedisEventBus:
    """Publishes to a Redis channel; one reader task fans messages out to local subscribers.

    The channel is the deployment's (``events_channel``): Redis pub/sub ignores the database
    index, so a fixed name let two deployments on one server read each other's events. Each
    message carries this bus's ``origin``, and the reader drops its own: ``publish`` has already
    delivered it here, which keeps this process's subscribers served while Redis is down.

    The reader survives outages: on an error it closes its connection, retries with backoff
    (``backoff_s`` doubling up to ``max_backoff_s``) and, once subscribed again, logs the outage's
    end and resyncs every subscriber (what other processes published meanwhile is lost).

    A Redis host that vanishes without closing the connection (powered off, a network that drops
    packets) sends no error: a subscribed connection just hears nothing, which is also what a quiet
    channel sounds like, so the reader heard nothing for the OS's TCP timeout (minutes to hours).
    So the reader PINGs its own connection after ``ping_interval_s`` of silence and counts the
    connection dead when no reply (nor anything else) arrives within ``reply_timeout_s``: gone
    within about 20 s by default, then the usual reconnect. TCP keepalive (idle 10 s, then 3
    probes 5 s apart) is a second line under it, also for the publishing connections, whose
    commands time out after ``socket_timeout`` (5 s).
    """

    def __init__(self, url: str, channel: str, *, backoff_s: float = 0.25,
                 max_backoff_s: float = 4.0, ping_interval_s: float = 10.0,
                 reply_timeout_s: float = 10.0) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url, socket_connect_timeout=5, socket_timeout=5,
                                     socket_keepalive=True,
                                     socket_keepalive_options=_keepalive_options())
        self._liveness = (ping_interval_s, reply_timeout_s)
        self._channel = channel
        self._origin = uuid.uuid4().hex
        self._local = LocalEventBus()
        self._reader: asyncio.Task[None] | None = None
        self._connected = False
        self._backoff = (backoff_s, max_backoff_s)
        self.where = _where(self._redis)

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    @property
    def broker_state(self) -> str | None:
        return "connected" if self._connected else "unreachable"

    async def start(self) -> None:
        """Subscribe, or raise ``BrokerUnavailable`` (a one-line cause naming the variable)."""
        try:
            await self._redis.ping()
            pubsub = await self._subscribe()
        except _redis_errors() as exc:
            await self._redis.aclose()
            raise BrokerUnavailable(self.where, _cause(exc)) from None
        self._connected = True
        self._reader = asyncio.create_task(self._read(pubsub), name="redis-event-reader")

    async def _subscribe(self) -> Any:
        """A pub/sub connection whose subscription the server has confirmed (so an event
        published after this returns is received)."""
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self._channel)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message.get("type") == "subscribe":
                    return pubsub
            raise TimeoutError("no subscription confirmation within 5 s")
        except BaseException:
            await _close_quietly(pubsub)
            raise

    async def _read(self, pubsub: Any) -> None:
        streak = FailureStreak(log)
        delay, outage_started = self._backoff[0], 0.0
        while True:
            try:
                if pubsub is None:
                    pubsub = await self._subscribe()
                    self._connected = True
                    delay = self._backoff[0]
                    streak.ended("Redis event bus at %s is back after %.1f s (%d reconnect "
                                 "attempts); live clients get a fresh snapshot", self.where,
                                 time.monotonic() - outage_started)
                    self._local.resync()
                await self._listen(pubsub)
            except _redis_errors() as exc:
                if not streak.failures:
                    outage_started = time.monotonic()
                self._connected = False
                streak.failed("Redis event bus at %s unreachable (%s): events of other API "
                              "processes are missed until it is back; reconnecting with backoff "
                              "up to %s s", self.where, _cause(exc), self._backoff[1])
                if pubsub is not None:
                    await _close_quietly(pubsub)
                pubsub = None
                await asyncio.sleep(delay)
                delay = min(2 * delay, self._backoff[1])

    async def _listen(self, pubsub: Any) -> None:
        """Read messages until the connection fails; raise ``TimeoutError`` for one that has gone
        silent: no reply to our PING within ``reply_timeout_s``."""
        ping_interval_s, reply_timeout_s = self._liveness
        heard, pinged = time.monotonic(), None
        while True:
            wait = min(1.0, ping_interval_s, reply_timeout_s)
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait)
            now = time.monotonic()
            if message is not None:  # an event or a pong: the connection is alive
                heard, pinged = now, None
                if message.get("type") == "message":
                    self._receive(message["data"])
            elif pinged is not None and now - pinged > reply_timeout_s:
                raise TimeoutError(f"no reply from Redis for {now - heard:.0f} s (a PING "
                                   f"unanswered for {reply_timeout_s:g} s)")
            elif pinged is None and now - heard >= ping_interval_s:
                await pubsub.ping()  # on a subscribed connection its reply is a "pong" message
                pinged = now

    def _receive(self, data: bytes) -> None:
        try:
            message = json.loads(data)
            origin, event = message["origin"], message["event"]
        except (ValueError, KeyError, TypeError):
            log.warning("Redis event bus: ignored a message that is not an event: %.200r", data)
            return
        if origin != self._origin:
            self._local.deliver(event)

    async def publish(self, event: Event) -> None:
        self._local.deliver(event)
        message = json.dumps({"origin": self._origin, "event": event}, default=str)
        try:
            await self._redis.publish(self._channel, message)
        except _redis_errors() as exc:
            log.warning("%s not sent to the other API processes: Redis at %s unreachable (%s); "
                        "their clients see it when they next refetch", event.get("type"),
                        self.where, _cause(exc))

    def deliver(self, event: Event) -> None:
        self._local.deliver(event)

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]:
        return self._local.subscribe()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._redis.aclose()


async def _close_quietly(pubsub: Any) -> None:
    # bounded: closing a connection to a host that vanished must not hold up the reconnect
    with contextlib.suppress(*_redis_errors()):
        await asyncio.wait_for(pubsub.aclose(), timeout=5)


def _keepalive_options() -> dict[int, int]:
    """TCP keepalive after 10 s idle, 3 probes 5 s apart (Linux names; elsewhere the OS's)."""
    import socket

    wanted = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3}
    return {getattr(socket, name): value for name, value in wanted.items()
            if hasattr(socket, name)}


def events_channel(deployment_key: str) -> str:
    """The Redis channel of one deployment (its key: ``db.repositories.deployment``)."""
    return f"interpstudio:{deployment_key}:events"


def make_event_bus(broker_url: str | None, deployment_key: str | None = None) -> EventBus:
    if broker_url is None:
        return LocalEventBus()
    if deployment_key is None:
        raise ValueError("a Redis event bus needs the deployment's key for its channel")
    return RedisEventBus(broker_url, events_channel(deployment_key))


def check_broker(broker_url: str | None) -> None:
    """Raise ``BrokerUnavailable`` unless the broker answers (``serve`` calls it before starting
    anything, so a wrong ``INTERPSTUDIO_BROKER_URL`` is one line, not uvicorn's traceback)."""
    if broker_url is None:
        return

    async def ping() -> None:
        import redis.asyncio as redis

        client = redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            await client.ping()
        except _redis_errors() as exc:
            raise BrokerUnavailable(_where(client), _cause(exc)) from None
        finally:
            await client.aclose()

    asyncio.run(ping())
