"""The one progress reporter: every job's progress goes through here.

``ProgressReporter.update`` computes the fraction, a smoothed rate and the ETA and queues them for
the job row; ``flush`` writes what is queued. Standalone (``writes="inline"``) ``update`` flushes
at most ``max_writes_per_s`` times a second (stage changes at once). In a worker
(``writes="background"``) ``update`` never touches the database: the runner's monitor thread
calls ``flush`` every tick, so a slow or hanging database (a commit's fsync, a connection
attempt during an outage) never holds up the task's own work (an extraction's forward pass).
A new stage starts uncounted (done/total/unit cleared: an indeterminate bar, not the last stage's
full one, nor on a resumed job's first stage the count of the attempt before) unless it brings its
own count; the stage it ends is appended to ``stages`` with its
final count and duration, and the last stage's final count is its own write, before the new
stage's. A count that a WebSocket client missed (events are row snapshots, and two writes in a
row may reach it as one) is still on the row. ``closing_fields()`` appends the last stage and
hands what is queued to the runner, which writes it with the job's final state in one
transaction. A progress write that finds the database unreachable is kept and merged into the
next one: a network blip costs the live view a few updates, not the job. The row write IS the
event: each API process tails the jobs table (``api/feeds.py``) and pushes ``job.updated`` to
WebSocket clients, whichever process or machine the worker runs on.
This module is NOT responsible for cancellation or heartbeats (``runner.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.logging import FailureStreak
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import is_unreachable

log = logging.getLogger(__name__)


WRITE_MODES = ("inline", "background")


class ProgressReporter:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        job_id: int,
        *,
        max_writes_per_s: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        writes: str = "inline",
    ) -> None:
        if writes not in WRITE_MODES:
            raise ValueError(f"writes must be one of {WRITE_MODES}, got {writes!r}")
        self._session_factory = session_factory
        self._job_id = job_id
        self._min_interval = 1.0 / max_writes_per_s
        self._clock = clock
        self._inline = writes == "inline"
        self._last_write = float("-inf")
        # fields not yet written, as consecutive writes: a stage change starts a new one, so the
        # last stage's final count lands before the new stage (merged again if a write fails)
        self._queued: list[dict[str, Any]] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()  # one flush at a time, so writes land in order
        self._write_error: DBAPIError | None = None  # a background write's, raised by update
        self._state: dict[str, Any] = {}
        # the row may still hold an earlier attempt's count (a resume keeps it on the queued
        # row): until this reporter's first stage clears it, it is not ours to show
        self._row_unknown = True
        self._rate_sample: tuple[float, float] | None = None  # (time, done) at last rate update
        self._rate: float | None = None
        self._stage_started: float | None = None
        self._stages: list[dict[str, Any]] = []
        self.writes = 0
        self._outage = FailureStreak(log)

    def update(
        self,
        *,
        done: float | None = None,
        total: float | None = None,
        unit: str | None = None,
        stage: str | None = None,
        message: str | None = None,
        force: bool = False,
        worked: float | None = None,
    ) -> None:
        """``worked``: what this attempt has processed in the stage, where the rate must follow
        that rather than ``done`` (a resumed extraction recomputes the batch holding its last
        stored row: ``done`` moves by the rows past it, the work was the whole batch)."""
        if self._write_error is not None:  # a background write failed for another reason
            raise self._write_error
        now = self._clock()
        new_stage = stage is not None and self._state.get("stage") != stage
        if new_stage:
            self._end_stage(now)  # the stage list goes with the last stage's final count,
            if self._inline:  # which is a write of its own, before the new stage's
                self.flush(now)
            self._stage_started = now
        changes: dict[str, Any] = {}
        for key, value in (("total", total), ("unit", unit), ("message", message)):
            if value is not None and self._state.get(key) != value:
                changes[key] = value
        if new_stage:
            changes["stage"] = stage
            self._rate_sample, self._rate = None, None  # a new stage has its own rate
            force = True
            # a stage starts uncounted unless it says otherwise (an indeterminate bar, not the
            # last stage's full one), and without the last stage's message
            cleared = ("message",) if done is not None or total is not None else (
                "done", "total", "unit", "message")
            for key in cleared:
                if (self._row_unknown or self._state.get(key) is not None) and key not in changes:
                    changes[key] = None
            self._row_unknown = False
        if done is not None:
            changes["done"] = float(done)
            self._update_rate(now, float(done if worked is None else worked))
        self._state.update(changes)
        self._queue({**changes, **self._derived()}, separate=new_stage)
        if self._inline and (force or now - self._last_write >= self._min_interval):
            self.flush(now)

    def closing_fields(self, *, succeeded: bool = False) -> dict[str, Any]:
        """End the current stage (appended to ``stages``) and return every field not yet written,
        for the caller to write with the job's final state (once nothing flushes any more). A job
        that ``succeeded`` in an uncounted stage (a summary after the counted work) shows the
        last counted stage's final count, not none."""
        now = self._clock()
        if self._end_stage(now):
            self._state["stage"] = None
        counted = [s for s in self._stages if s["total"] is not None]
        if succeeded and self._state.get("total") is None and counted:
            last = counted[-1]
            self._queue({"done": last["done"], "total": last["total"], "unit": last["unit"]})
        with self._queue_lock:
            queued, self._queued = self._queued, []
        return _merged(queued)

    def _queue(self, fields: dict[str, Any], *, separate: bool = False) -> None:
        """Add ``fields`` to the last queued write, or (``separate``) start a new one."""
        with self._queue_lock:
            if separate or not self._queued:
                self._queued.append(dict(fields))
            else:
                self._queued[-1].update(fields)

    def _end_stage(self, now: float) -> bool:
        name = self._state.get("stage")
        if name is None:
            return False
        started = self._stage_started if self._stage_started is not None else now
        self._stages.append({
            "stage": name, "done": self._state.get("done"), "total": self._state.get("total"),
            "unit": self._state.get("unit"), "seconds": round(max(now - started, 0.0), 3)})
        self._queue({"stages": list(self._stages)})
        return True

    def flush(self, now: float | None = None) -> bool:
        """Write what is queued, in order. False when the database is unreachable: the fields
        stay queued for the next write, and the job goes on. From any thread (one at a time)."""
        with self._write_lock:
            with self._queue_lock:
                queued, self._queued = self._queued, []
            if not queued:
                return True
            while queued:
                try:
                    with self._session_factory.begin() as session:
                        repo.update_fields(session, self._job_id, **queued[0])
                except DBAPIError as exc:
                    with self._queue_lock:  # back in front of what came meanwhile, as one write
                        self._queued[:0] = [_merged(queued)]
                    if not is_unreachable(exc):
                        if not self._inline:
                            self._write_error = exc
                        raise
                    self._outage.failed("job %s: progress not written (database unreachable); "
                                        "kept for the next write: %s", self._job_id, exc.orig)
                    self._last_write = self._clock() if now is None else now
                    return False
                queued.pop(0)
                self.writes += 1
            self._outage.ended("job %s: progress written again after %d failed writes",
                               self._job_id)
            self._last_write = self._clock() if now is None else now
            return True

    def _update_rate(self, now: float, done: float) -> None:  # done: the rate's count (worked)
        if self._rate_sample is None:
            self._rate_sample = (now, done)
            return
        then, done_then = self._rate_sample
        elapsed = now - then
        if elapsed < 0.2:
            return
        if self._rate is None and done <= done_then:
            # nothing counted yet in this stage: the rate starts from here, not at 0 (a resumed
            # extraction recomputes the batch holding its last stored sequence and reports the
            # stored count again after it: that 0 sample read '0.00 tokens/s', then 0.3x the real
            # rate, ETA 37 s for a 12 s rest)
            self._rate_sample = (now, done)
            return
        instant = max(done - done_then, 0.0) / elapsed
        self._rate = instant if self._rate is None else 0.7 * self._rate + 0.3 * instant
        self._rate_sample = (now, done)

    def _derived(self) -> dict[str, Any]:
        done, total = self._state.get("done"), self._state.get("total")
        derived: dict[str, Any] = {"rate": self._rate, "progress": None, "eta_s": None}
        if done is not None and total:
            derived["progress"] = min(max(done / total, 0.0), 1.0)
            remaining = max(total - done, 0.0)
            derived["eta_s"] = remaining / self._rate if self._rate else None
        return derived


def _merged(writes: list[dict[str, Any]]) -> dict[str, Any]:
    """Consecutive writes as one (later fields win)."""
    fields: dict[str, Any] = {}
    for write in writes:
        fields.update(write)
    return fields
