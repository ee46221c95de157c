"""The job runner: claim, run, heartbeat, cancel, finish — one job at a time per worker.

A ``Worker`` polls the jobs table, claims the oldest queued job atomically, and runs its task
function in its own process (never in the API's event loop). While the task runs, a monitor thread
writes heartbeats and the task's progress and watches ``cancel_requested``; when set (or when the
worker is shutting down) the task's ``should_stop()`` turns true and the task stops at its next
check. On start and periodically, a worker marks ``interrupted`` the running jobs of workers that
are gone (same host: process no longer exists; any host: heartbeat older than the timeout), so
nothing stays "running" forever. A job's final state, with its last stage, is one write that
waits out a database outage of up to ``DB_RETRY_S`` (the heartbeat and progress writes skip what
an outage costs them).
The broad ``except`` in ``_run_task`` is one of the two allowed in the codebase.

This module is NOT responsible for which states a user may request (``services/jobs.py``) or for
how progress is stored (``reporter.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psutil
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import AppError, InvalidJobState, JobCancelled
from interpstudio.core.logging import FailureStreak
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import Job
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import (
    make_engine,
    make_session_factory,
    refusal_reason,
    retry_while_unreachable,
)
from interpstudio.jobs.context import JobContext
from interpstudio.jobs.registry import TASKS, load_task
from interpstudio.jobs.reporter import ProgressReporter
from interpstudio.services.model_files import discard_token
from interpstudio.services.worker_sweep import process_scope, sweep_gone_workers

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.25


def make_worker_id() -> str:
    """``host:pid:process-start-time:random:scope``; enough for a process that shares this one's
    PID view (``process_scope``) to tell later whether it still lives."""
    start = int(psutil.Process().create_time())
    host = socket.gethostname()[:64]
    return f"{host}:{os.getpid()}:{start}:{uuid.uuid4().hex[:6]}:{process_scope()}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        *,
        session_factory: sessionmaker[Session] | None = None,
        kinds: Sequence[str] | None = None,
        poll_interval_s: float = 0.2,
    ) -> None:
        self.settings = settings
        if session_factory is None:
            session_factory = make_session_factory(make_engine(settings.resolved_database_url))
        self.session_factory = session_factory
        self.kinds = list(kinds or TASKS)
        self.poll_interval_s = poll_interval_s
        self.worker_id = make_worker_id()
        self.shutdown = threading.Event()
        self._last_sweep = float("-inf")

    # -- recovery -------------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """Interrupt running jobs whose workers are gone; return their ids."""
        self._last_sweep = time.monotonic()
        return sweep_gone_workers(self.session_factory, self.settings.heartbeat_timeout_s,
                                  paths=DataPaths(self.settings.data_dir))

    def _sweep_due(self) -> bool:
        return time.monotonic() - self._last_sweep > self.settings.heartbeat_timeout_s / 2

    # -- main loop ------------------------------------------------------------------------------
    def run(self) -> None:
        log.info("worker %s started (kinds: %s)", self.worker_id, ", ".join(self.kinds))
        self.recover()
        while not self.shutdown.is_set():
            try:
                if self._sweep_due():
                    self.recover()
                ran = self.run_one()
            except OperationalError:  # database briefly unreachable or locked: keep the worker
                log.exception("worker %s: database error; retrying", self.worker_id)
                ran = False
            if not ran:
                self.shutdown.wait(self.poll_interval_s)
        log.info("worker %s stopped", self.worker_id)

    def run_one(self, job_id: int | None = None) -> bool:
        """Claim and run one job (the oldest, or ``job_id``); False when there was none."""
        snapshot = self.claim(job_id)
        if snapshot is None:
            return False
        self.run_claimed(snapshot)
        return True

    def claim(self, job_id: int | None = None, *,
              session: Session | None = None) -> dict[str, Any] | None:
        """Claim one queued job (the oldest, or ``job_id``) for this worker; its snapshot for
        ``run_claimed``, or None when there was none (or another worker took it first). With a
        ``session``, inside the caller's transaction: the one that creates or re-queues the job,
        so it is committed already claimed and no other worker ever sees it queued."""
        if session is not None:
            job = repo.claim_next(session, worker_id=self.worker_id, kinds=self.kinds,
                                  job_id=job_id)
            return _snapshot(job) if job else None
        with self.session_factory.begin() as own:
            return self.claim(job_id, session=own)

    def run_claimed(self, job: dict[str, Any]) -> None:
        """Run a job ``claim`` gave this worker, to its final state."""
        self._execute(job)

    # -- one job --------------------------------------------------------------------------------
    def _execute(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        stop = threading.Event()
        cancel_requested = threading.Event()
        monitor_done = threading.Event()
        ctx = JobContext(job_id=job_id, kind=job["kind"], params=job["params"],
                         checkpoint=job["checkpoint"], settings=self.settings,
                         session_factory=self.session_factory, stop_event=stop)
        lost = threading.Event()  # a sweep took the job for gone: stop, it is no longer ours
        monitor = threading.Thread(
            target=self._monitor, args=(job_id, ctx.reporter, stop, cancel_requested,
                                        monitor_done, lost),
            name=f"job-{job_id}-monitor", daemon=True,
        )
        monitor.start()
        try:
            outcome = self._run_task(job, ctx, cancel_requested, lost)
        finally:
            # an access token handed to the job and not taken (it ended before its download)
            # waits for no one now: a resume or retry asks for one again
            discard_token(ctx.paths, job_id)
            monitor_done.set()
            monitor.join()  # no progress write may land after the final state
        # the last stage and any progress not yet written land with the final state, in one
        # write that waits out a database outage of up to DB_RETRY_S
        fields = ctx.reporter.closing_fields(succeeded=outcome["state"] == "succeeded")
        self._finish(job_id, {**fields, "rate": None, "eta_s": None, **outcome})

    def _run_task(self, job: dict[str, Any], ctx: JobContext,
                  cancel_requested: threading.Event, lost: threading.Event) -> dict[str, Any]:
        """Run the job's task; return the final state and the fields that go with it."""
        job_id = job["id"]
        try:
            result = load_task(job["kind"])(ctx)
        except JobCancelled:
            if lost.is_set():
                log.warning("job %s was marked interrupted by a sweep; stopped", job_id)
                return {"state": "interrupted", "error_code": "interrupted",
                        "error_message": "taken for gone (no heartbeat); resume to continue"}
            if cancel_requested.is_set() or not self.shutdown.is_set():
                return {"state": "cancelled", "error_code": "cancelled",
                        "error_message": "cancelled by user"}
            return {"state": "interrupted", "error_code": "interrupted",
                    "error_message": "worker shut down; resume to continue"}
        except AppError as exc:  # the stage it failed in, with its count, stays on the row
            log.warning("job %s failed: %s", job_id, exc.message)
            # its status and details too: who waits on the job (a preflight sent to a worker)
            # answers with the refusal itself, and the Jobs page shows its figures
            return {"state": "failed", "error_code": exc.code, "error_message": exc.message,
                    "result": {"error": {"status": exc.status, "details": exc.details}}}
        except OperationalError as exc:  # the database went away for longer than writes wait
            log.warning("job %s stopped: database unreachable: %s", job_id, exc.orig)
            return {"state": "failed", "error_code": "database_unavailable",
                    "error_message": "the database could not be reached while the job ran "
                                     f"({refusal_reason(exc)}); what it made so far is kept: "
                                     "resume the job once the database is back"}
        except Exception as exc:  # the runner is one of the two places a broad except belongs
            log.exception("job %s crashed", job_id)
            return {"state": "failed", "error_code": "internal_error",
                    "error_message": f"{type(exc).__name__}: {exc}"}
        return {"state": "succeeded", "result": result or {}, "progress": 1.0, "message": None}

    def _monitor(
        self,
        job_id: int,
        reporter: ProgressReporter,
        stop: threading.Event,
        cancel_requested: threading.Event,
        done: threading.Event,
        lost: threading.Event,
    ) -> None:
        """Every tick: heartbeat (every ``heartbeat_interval_s``), read ``cancel_requested`` and
        write the task's queued progress (so the task never waits for the database). A beat
        that finds the job no longer this worker's running job (a sweep marked it interrupted)
        stops the task: a resume may already run it elsewhere."""
        last_beat = time.monotonic()
        outage = FailureStreak(log)
        while not done.wait(CANCEL_POLL_S):
            beat = time.monotonic() - last_beat >= self.settings.heartbeat_interval_s
            try:
                with self.session_factory.begin() as session:
                    if beat:
                        reply = repo.heartbeat(session, job_id, worker_id=self.worker_id)
                        wants_cancel = reply.cancel_requested
                        if not reply.ours:
                            lost.set()
                        last_beat = time.monotonic()
                    else:
                        wants_cancel = bool(session.get(Job, job_id).cancel_requested)  # type: ignore[union-attr]
            except Exception:  # a transient DB error must not kill the job; try next tick
                outage.failed("monitor of job %s: database error", job_id, exc_info=True,
                              level=logging.ERROR)
                continue
            outage.ended("monitor of job %s: database works again after %d failed ticks", job_id)
            if self._sweep_due():  # a busy worker still finds the jobs of workers gone meanwhile
                with contextlib.suppress(DBAPIError):
                    self.recover()
            if wants_cancel:
                cancel_requested.set()
            if wants_cancel or lost.is_set() or self.shutdown.is_set():
                stop.set()
            with contextlib.suppress(DBAPIError):  # kept queued; any other error is the task's
                reporter.flush()

    def _finish(self, job_id: int, fields: dict[str, Any]) -> None:
        state = fields["state"]

        def write() -> None:
            with self.session_factory.begin() as session:
                repo.transition(session, job_id, action=f"finish as {state}",
                                from_states=["running"], worker_id=self.worker_id,
                                finished_at=utcnow(), cancel_requested=False, **fields)
                if state != "succeeded":  # a task that failed before it settled its record
                    repo.settle_owners(session, [job_id], state,
                                       fields.get("error_message") or state)

        try:
            retry_while_unreachable(write, what=f"job {job_id}'s final state ({state})")
        except InvalidJobState as exc:
            log.warning("job %s could not be finished as %s: %s", job_id, state, exc.message)


def _stop_when_orphaned(worker: Worker, parent_pid: int, interval_s: float = 0.5) -> None:
    while not worker.shutdown.wait(interval_s):
        if os.getppid() != parent_pid:
            log.warning("worker %s: parent %s is gone, stopping", worker.worker_id, parent_pid)
            worker.shutdown.set()


def _snapshot(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "params": dict(job.params or {}),
            "checkpoint": job.checkpoint}


def worker_main(settings: Settings, parent_pid: int | None = None) -> None:
    """Process entry point (``interpstudio worker`` and the embedded pool's children).

    With ``parent_pid`` (the pool's children), the worker also stops when that process is gone, so
    a ``serve`` killed with SIGKILL never leaves orphan workers polling the database.
    """
    from interpstudio.core.logging import configure_logging

    configure_logging(settings.log_level)
    worker = Worker(settings)
    if parent_pid is not None:
        threading.Thread(target=_stop_when_orphaned, args=(worker, parent_pid),
                         name="parent-watch", daemon=True).start()

    def _stop(signum: int, _frame: object) -> None:
        log.info("worker %s: signal %s, stopping after the current step", worker.worker_id, signum)
        worker.shutdown.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
