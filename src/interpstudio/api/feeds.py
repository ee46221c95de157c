"""Background producers of events in the API process.

``JobFeed`` tails the jobs table (every ``interval_s``, an indexed query on ``updated_at``) and
delivers ``job.updated`` for every row whose ``revision`` it has not delivered yet. Workers thus
need no channel to the API: whichever process or machine they run on, their throttled row writes
become events. Both feeds deliver to this process's clients only (``EventBus.deliver``), never
through the broker: every API process runs its own JobFeed on the one database, so publishing its
events too made each arrive once per API process, and a Redis outage lost them. ``SystemFeed``
delivers this host's ``system.metrics`` (named by ``host``) every few seconds while anyone listens.
``WorkerSweep`` marks interrupted the jobs of workers that are gone, as workers do, so that with
``serve --workers 0`` and every worker killed no job stays "running" (and uncancellable) forever.
Blocking work runs in threads so the event loop never waits on the database or psutil. This module
is NOT responsible for WebSocket connections (``ws.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.api.schemas import JobRead, SystemRead
from interpstudio.core.events import EventBus
from interpstudio.core.logging import FailureStreak
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.repositories import jobs as repo
from interpstudio.services.system import CpuSampler, system_metrics
from interpstudio.services.worker_sweep import sweep_gone_workers

log = logging.getLogger(__name__)

OVERLAP = timedelta(seconds=5)  # re-read window: tolerates commit order vs timestamp order


class PeriodicTask(ABC):
    """An asyncio task calling ``tick()`` every ``interval_s`` until stopped; a failing tick is
    logged (once per run of failures: an outage is not four tracebacks a second) and the loop
    goes on (a transient database error must not end the feed)."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=type(self).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        name = type(self).__name__
        streak = FailureStreak(log)
        while True:
            try:
                await self.tick()
            except Exception:  # logged once per run of failures; the next tick tries again
                streak.failed("%s failed; retrying every %s s", name, self._interval_s,
                              exc_info=True, level=logging.ERROR)
            else:
                streak.ended("%s works again after %d failed ticks", name)
            await asyncio.sleep(self._interval_s)

    @abstractmethod
    async def tick(self) -> None: ...


def job_events(session: Session, jobs: list[Any]) -> list[dict[str, Any]]:
    """``job.updated`` events of ``jobs``, each with its owner (one query per record table)."""
    return [{"type": "job.updated", "job": read.model_dump(mode="json")}
            for read in JobRead.of_jobs(session, jobs)]


class JobFeed(PeriodicTask):
    def __init__(self, session_factory: sessionmaker[Session], bus: EventBus,
                 interval_s: float = 0.25) -> None:
        super().__init__(interval_s)
        self._session_factory = session_factory
        self._bus = bus
        self._seen: dict[int, tuple[int, datetime]] = {}  # id -> (revision, updated_at)
        self._cursor = utcnow() - OVERLAP

    async def tick(self) -> None:
        await self.poll()

    async def poll(self) -> int:
        events = await asyncio.to_thread(self._changes)
        for event in events:
            self._bus.deliver(event)
        return len(events)

    def _changes(self) -> list[dict[str, Any]]:
        with self._session_factory() as session:
            jobs = repo.changed_since(session, self._cursor - OVERLAP)
            fresh = []
            for job in jobs:
                seen = self._seen.get(job.id)
                if seen is None or job.revision > seen[0]:
                    self._seen[job.id] = (job.revision, job.updated_at)
                    fresh.append(job)
                self._cursor = max(self._cursor, job.updated_at)
            events = job_events(session, fresh)
        horizon = self._cursor - 2 * OVERLAP
        self._seen = {k: v for k, v in self._seen.items() if v[1] >= horizon}
        return events


class SystemFeed(PeriodicTask):
    def __init__(self, bus: EventBus, data_dir: Any, cpu: CpuSampler,
                 interval_s: float = 2.0) -> None:
        super().__init__(interval_s)
        self._bus = bus
        self._data_dir = data_dir
        self._cpu = cpu

    async def tick(self) -> None:
        if self._bus.subscriber_count:
            self._bus.deliver(await self.snapshot())

    async def snapshot(self) -> dict[str, Any]:
        metrics = await asyncio.to_thread(system_metrics, data_dir=self._data_dir,
                                          cpu=self._cpu)
        return {"type": "system.metrics", "host": metrics["host"],
                "system": SystemRead.model_validate(metrics).model_dump(mode="json")}


class WorkerSweep(PeriodicTask):
    """Every half heartbeat timeout: ``services.worker_sweep.sweep_gone_workers``."""

    def __init__(self, session_factory: sessionmaker[Session], settings: Settings) -> None:
        super().__init__(settings.heartbeat_timeout_s / 2)
        self._session_factory = session_factory
        self._settings = settings

    async def tick(self) -> None:
        await asyncio.to_thread(sweep_gone_workers, self._session_factory,
                                self._settings.heartbeat_timeout_s,
                                paths=DataPaths(self._settings.data_dir))
