"""Queries and atomic state changes on the ``jobs`` table.

Every write bumps ``revision`` and ``updated_at`` so the API's job feed sees it. A job ended here
for want of a worker (interrupted by a sweep, cancelled while queued) also ends the records it
was making (``settle_owners``: models, datasets, tokenizations, extractions), and a job queued
again puts them back to queued (``requeue_owners``). State changes are
conditional updates (``WHERE state IN (...)``) so that two actors (a user cancelling, a worker
finishing) can never both win; claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and a
conditional update on SQLite. This module is NOT responsible for deciding which transitions a user
may ask for (``services/jobs.py``) or for running anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from interpstudio.core.errors import InvalidJobState, JobNotFound
from interpstudio.db.base import utcnow
from interpstudio.db.models import Dataset, Extraction, Job, Model, Tokenization


def liveness_clock(session: Session) -> datetime:
    """The clock heartbeats are written and judged by: the database server's on PostgreSQL,
    where workers, the API and every CLI run on machines whose clocks differ (a sweeper 15 s
    ahead, or a worker 15 s behind, interrupted healthy jobs at a 10 s timeout); on SQLite every
    process is on one machine, so its clock."""
    if session.get_bind().dialect.name == "postgresql":
        now: datetime = session.scalar(select(func.clock_timestamp()))
        return now.astimezone(UTC)
    return utcnow()


def create(session: Session, *, kind: str, params: dict[str, Any]) -> Job:
    now = utcnow()
    job = Job(kind=kind, params=params, state="queued", created_at=now, updated_at=now,
              cancel_requested=False, attempt=1, revision=0)
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise JobNotFound(job_id)
    return job


def list_jobs(
    session: Session,
    *,
    states: Sequence[str] = (),
    kinds: Sequence[str] = (),
    extraction_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """Newest first; ``extraction_id``: only jobs whose parameters name that extraction (its
    run, its exports), matched in the query (JSON_EXTRACT on SQLite, ->> on PostgreSQL) so
    that ``total`` and the pages count only those."""
    query = select(Job)
    if states:
        query = query.where(Job.state.in_(states))
    if kinds:
        query = query.where(Job.kind.in_(kinds))
    if extraction_id is not None:
        query = query.where(Job.params["extraction_id"].as_integer() == extraction_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Job.id.desc()).limit(limit).offset(offset)).all()
    return list(items), int(total)


def update_fields(session: Session, job_id: int, **values: Any) -> None:
    """Unconditional write of progress-like fields (the job's own worker owns them)."""
    session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(**values, updated_at=utcnow(), revision=Job.revision + 1)
    )


def transition(
    session: Session,
    job_id: int,
    *,
    action: str,
    from_states: Iterable[str],
    worker_id: str | None = None,
    **values: Any,
) -> Job:
    """Atomically move a job to new values if it is in one of ``from_states`` (else 409)."""
    allowed = list(from_states)
    query = update(Job).where(Job.id == job_id, Job.state.in_(allowed))
    if worker_id is not None:
        query = query.where(Job.worker_id == worker_id)
    result = session.execute(
        query.values(**values, updated_at=utcnow(), revision=Job.revision + 1)
    )
    job = get(session, job_id)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidJobState(job_id, job.state, action, allowed)
    return job


_ATTEMPT_PROGRESS = ("stage", "progress", "done", "total", "unit", "rate", "eta_s", "message")


def claim_next(
    session: Session, *, worker_id: str, kinds: Sequence[str], job_id: int | None = None
) -> Job | None:
    """Take the oldest queued job of the given kinds (or exactly ``job_id``), or None."""
    candidates = select(Job.id).where(Job.state == "queued", Job.kind.in_(kinds))
    if job_id is not None:
        candidates = candidates.where(Job.id == job_id)
    candidates = candidates.order_by(Job.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    job_id = session.scalar(candidates)
    if job_id is None:
        return None
    now = liveness_clock(session)
    # a resumed job's queued row keeps the last attempt's stage and count ("reached by the last
    # attempt"); running, they read as this attempt's until its first report (a fresh worker
    # imports the task first: 'extract 8,192 / 16,384 tokens' for 2 s before 'load model')
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(state="running", worker_id=worker_id, started_at=now, heartbeat_at=now,
                finished_at=None, updated_at=now, revision=Job.revision + 1,
                **dict.fromkeys(_ATTEMPT_PROGRESS))
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None  # another worker won the race (SQLite); try again next poll
    return get(session, job_id)


class Beat(NamedTuple):
    """What a heartbeat learns: the job is still this worker's running job (else a sweep took it
    for gone: stop, a resume may run it elsewhere), and whether the user asked it to stop."""

    ours: bool
    cancel_requested: bool


def heartbeat(session: Session, job_id: int, *, worker_id: str) -> Beat:
    """Record liveness."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.worker_id == worker_id, Job.state == "running")
        .values(heartbeat_at=liveness_clock(session))
    )
    cancel = bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
    return Beat(ours=result.rowcount == 1, cancel_requested=cancel)  # type: ignore[attr-defined]


def interrupt_stale(
    session: Session, *, timeout: timedelta, now: datetime | None = None,
    alive: Iterable[str] = (),
) -> list[int]:
    """Mark running jobs whose heartbeat is older than ``timeout`` as interrupted, except those
    of the workers in ``alive`` (seen running on this host: a late beat, a laptop waking up, a
    write lock held a while, is no death). The update checks the heartbeat again, so a beat that
    lands after the select keeps its job."""
    deadline = (now or liveness_clock(session)) - timeout
    spared = list(alive)
    query = select(Job.id).where(Job.state == "running", Job.heartbeat_at < deadline)
    if spared:
        query = query.where(Job.worker_id.not_in(spared))
    return _interrupt(session, list(session.scalars(query)),
                      "worker stopped sending heartbeats; resume to continue",
                      Job.heartbeat_at < deadline)


def interrupt_workers(session: Session, worker_ids: Iterable[str], reason: str) -> list[int]:
    """Mark the running jobs of workers known to be gone as interrupted."""
    ids = list(
        session.scalars(
            select(Job.id).where(Job.state == "running", Job.worker_id.in_(list(worker_ids)))
        )
    )
    return _interrupt(session, ids, reason)


def running_worker_ids(session: Session) -> list[str]:
    return [w for w in session.scalars(
        select(Job.worker_id).where(Job.state == "running").distinct()
    ) if w]


def _interrupt(session: Session, ids: list[int], reason: str, *still: Any) -> list[int]:
    """Interrupt the jobs among ``ids`` still running (and matching ``still``)."""
    done = []
    for job_id in ids:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "running", *still)
            .values(state="interrupted", finished_at=utcnow(), error_code="interrupted",
                    error_message=reason, rate=None, eta_s=None, updated_at=utcnow(),
                    revision=Job.revision + 1)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            done.append(job_id)
    settle_owners(session, done, "interrupted", reason)  # each reason says to resume already
    return done


# the records a job makes (each keeps its latest job in ``job_id``)
OWNERS = (Model, Dataset, Tokenization, Extraction)
# the statuses a record's task writes when it stops; any other status is "under way"
SETTLED_STATUSES = ("ready", "complete", "failed", "cancelled", "paused", "interrupted",
                    "partial")


def record_name(row: Model | Dataset | Tokenization | Extraction) -> tuple[str, int]:
    """A record as a job's owner is named: (table name in the singular, id)."""
    return _singular(type(row)), int(row.id)


def _singular(table: type[Model | Dataset | Tokenization | Extraction]) -> str:
    return table.__tablename__.removesuffix("s")


def owners_of(session: Session, job_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """The record each of ``job_ids`` made, as ``record_name`` gives it; jobs no record points
    at (a selftest, a job its record has since replaced) are left out. One query per table."""
    owners: dict[int, tuple[str, int]] = {}
    if not job_ids:
        return owners
    for table in OWNERS:
        rows = session.execute(select(table.job_id, table.id)
                               .where(table.job_id.in_(list(set(job_ids)))))
        for job_id, row_id in rows:
            owners.setdefault(int(job_id), (_singular(table), int(row_id)))
    return owners


def owner_of(session: Session, job_id: int) -> tuple[str, int] | None:
    """The record ``job_id`` made, as (table name in the singular, id), or None."""
    return owners_of(session, [job_id]).get(job_id)


def settle_owners(session: Session, job_ids: list[int], status: str, message: str) -> None:
    """Give the records made by ``job_ids`` (models, datasets, tokenizations, extractions) the
    job's end, for an end no task could write: a killed worker's job marked interrupted, a queued
    job cancelled. Records the task already settled keep their status."""
    if not job_ids:
        return
    for table in OWNERS:
        session.execute(
            update(table)
            .where(table.job_id.in_(job_ids), table.status.not_in(SETTLED_STATUSES))
            .values(status=status, error_message=message, updated_at=utcnow()))


def requeue_owners(session: Session, job_id: int, *, from_statuses: Sequence[str] | None) -> None:
    """The records made by ``job_id`` back to ``queued`` as the job is queued again (resume:
    those whose status is in ``from_statuses``; retry, None: all), so that a resumed
    tokenization does not read "cancelled" until a worker starts it."""
    for table in OWNERS:
        query = update(table).where(table.job_id == job_id, table.status != "queued")
        if from_statuses is not None:
            query = query.where(table.status.in_(list(from_statuses)))
        session.execute(query.values(status="queued", error_message=None, updated_at=utcnow()))


def changed_since(session: Session, since: datetime) -> list[Job]:
    return list(
        session.scalars(select(Job).where(Job.updated_at >= since).order_by(Job.updated_at))
    )


def delete(session: Session, job: Job) -> None:
    session.delete(job)
