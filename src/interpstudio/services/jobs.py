"""Use cases on jobs: create, inspect, cancel, resume, retry, delete.

The rules of which action is allowed from which state live here (``ALLOWED``); the atomic writes
live in ``db/repositories/jobs.py``. Every function takes keyword-only arguments and a session it
does not commit: the caller (API dependency or CLI) owns the transaction. This module is NOT
responsible for running jobs (``jobs/``) or for publishing events (the API's job feed sees every
write; the jobs a session deletes are collected here, ``deleted_jobs``, and the API publishes
them after the commit).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.errors import InvalidJobState, JobAlreadySucceeded, JobHasOwner
from interpstudio.core.paths import DataPaths
from interpstudio.db.base import utcnow
from interpstudio.db.models import FINISHED_STATES, Extraction, Job
from interpstudio.db.repositories import extractions as extraction_repo
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.repositories import models as model_repo
from interpstudio.services.extraction_errors import ExtractionAlreadyUnderway
from interpstudio.services.job_kinds import validate_params
from interpstudio.services.model_files import discard_token

ALLOWED: dict[str, tuple[str, ...]] = {
    "cancel": ("queued", "running"),
    "resume": ("interrupted", "cancelled", "failed"),
    # a succeeded job is refused by name (``JobAlreadySucceeded``): its retry deleted finished
    # results (an extraction's complete store) to compute the same again
    "retry": ("interrupted", "cancelled", "failed"),
    "delete": FINISHED_STATES,
}
_RESET_PROGRESS: dict[str, Any] = {
    "stage": None, "progress": None, "done": None, "total": None, "unit": None, "rate": None,
    "eta_s": None, "message": None, "stages": None, "error_code": None, "error_message": None,
    "result": None,
    "cancel_requested": False, "worker_id": None, "started_at": None, "finished_at": None,
    "heartbeat_at": None,
}


def create_job(*, session: Session, kind: str, params: dict[str, Any]) -> Job:
    return repo.create(session, kind=kind, params=validate_params(kind, params))


def get_job(*, session: Session, job_id: int) -> Job:
    return repo.get(session, job_id)


def list_jobs(
    *, session: Session, states: list[str], kinds: list[str], extraction_id: int | None = None,
    limit: int, offset: int,
) -> tuple[list[Job], int]:
    return repo.list_jobs(session, states=states, kinds=kinds, extraction_id=extraction_id,
                          limit=limit, offset=offset)


# a record as ``job_owners`` names it: ("extraction", 7)
record_name = repo.record_name


def job_owners(*, session: Session, job_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """The record each job made (``{job_id: ("extraction", 7)}``), by the rule ``delete_job``
    refuses by: a job a record points at is deleted with it, never alone. Jobs without one are
    left out."""
    return repo.owners_of(session, job_ids)


def cancel_job(*, session: Session, job_id: int, paths: DataPaths | None) -> Job:
    """Queued jobs stop at once; running ones are asked to stop and their worker confirms.
    ``paths``: the data dir, where a queued gated download's access token waits for its job
    (``model_files.hand_token_to_job``); a queued job cancelled here never takes it, so it is
    removed (a resume asks for the token again). Required, so that no caller forgets it (two CLI
    cancels did); None only for a kind of job handed no token."""
    job = repo.get(session, job_id)
    if job.state not in ALLOWED["cancel"]:  # the refusal names both states a cancel is for
        raise InvalidJobState(job_id, job.state, "cancel", list(ALLOWED["cancel"]))
    if job.state == "queued":
        try:
            cancelled = repo.transition(session, job_id, action="cancel", from_states=["queued"],
                                        state="cancelled", finished_at=utcnow(),
                                        error_code="cancelled", error_message="cancelled by user")
            repo.settle_owners(session, [job_id], "cancelled", "cancelled by user")
            if paths is not None:
                discard_token(paths, job_id)
            return cancelled
        except InvalidJobState:
            job = repo.get(session, job_id)  # claimed in the meantime: ask the worker instead
    return repo.transition(session, job_id, action="cancel", from_states=["running"],
                           cancel_requested=True, message="cancelling")


def _refuse_extraction_copy(session: Session, job_id: int) -> None:
    """An extraction's job is not queued again while another extraction of the same
    configuration is queued or running, nor while an export of it is (from the extraction's
    page or the Jobs page alike)."""
    owner = repo.owner_of(session, job_id)
    if owner is None or owner[0] != "extraction":
        return
    # its export reads the store a run queued again would rewrite (a retry removes it)
    from interpstudio.services.extraction_export import refuse_while_exporting  # imports this

    refuse_while_exporting(session=session, extraction_id=owner[1], action="queued again")
    row = session.get(Extraction, owner[1])
    underway = (extraction_repo.underway_with_config(session, row.config_hash, exclude_id=row.id)
                if row is not None else None)
    if underway is not None:
        raise ExtractionAlreadyUnderway(underway.id, underway.status, underway.config_hash)


def resume_job(*, session: Session, job_id: int) -> Job:
    """Re-queue with the checkpoint kept, so the task continues where it stopped."""
    _refuse_extraction_copy(session, job_id)
    job = repo.get(session, job_id)
    values = {**_RESET_PROGRESS, "stage": job.stage, "progress": job.progress, "done": job.done,
              "total": job.total, "unit": job.unit}
    resumed = repo.transition(session, job_id, action="resume", from_states=ALLOWED["resume"],
                              state="queued", attempt=job.attempt + 1, **values)
    repo.requeue_owners(session, job_id, from_statuses=("interrupted", "cancelled", "failed",
                                                        "paused"))
    _end_pause_request(session, job_id)
    return resumed


def retry_job(*, session: Session, job_id: int) -> Job:
    """Re-queue a stopped job from scratch: checkpoint and outputs of the previous attempt are
    dropped. A succeeded job is refused (``JobAlreadySucceeded``, naming what to do instead):
    nothing of it is to be tried again, and its retry deleted its finished results."""
    job = repo.get(session, job_id)
    if job.state == "succeeded":
        raise JobAlreadySucceeded(job_id, job.kind, repo.owner_of(session, job_id),
                                  list(ALLOWED["retry"]))
    _refuse_extraction_copy(session, job_id)
    retried = repo.transition(session, job_id, action="retry", from_states=ALLOWED["retry"],
                              state="queued", attempt=job.attempt + 1, checkpoint=None,
                              **_RESET_PROGRESS)
    repo.requeue_owners(session, job_id, from_statuses=None)
    _end_pause_request(session, job_id)
    return retried


def _end_pause_request(session: Session, job_id: int) -> None:
    """A pause (``services.models.cancel_model(keep_partial=True)``) asks one run to stop and
    keep its partial files; the model keeps the request in ``info["pause_requested"]``, where
    its task reads it when a cancel lands. A re-queued run was not asked to pause, from
    whichever page it is resumed or retried: without this, a later cancel of it from the Jobs
    page ended it "paused" with its partial files kept. Only model jobs can be paused."""
    owner = repo.owner_of(session, job_id)
    if owner is None or owner[0] != "model":
        return
    model = model_repo.get(session, owner[1])
    if model is not None and (model.info or {}).get("pause_requested"):
        model_repo.merge_info(session, model, pause_requested=False)


def delete_jobs_of_removed(*, session: Session, paths: DataPaths,
                           job_ids: Iterable[int | None]) -> None:
    """Delete the jobs of rows a forced delete just removed (their tokenizations' and
    extractions' jobs would stay listed, and a retry could only fail): callers refuse first
    while any is queued or running. A job already gone is skipped."""
    for job_id in job_ids:
        job = session.get(Job, job_id) if job_id is not None else None
        if job is not None:
            repo.delete(session, job)
            shutil.rmtree(paths.job_dir(job.id), ignore_errors=True)
            deleted_jobs(session).append(job.id)


def delete_job(*, session: Session, job_id: int, paths: DataPaths) -> None:
    """Delete a finished job's row and its working folder; a job a record still refers to is
    deleted with that record, not alone."""
    job = repo.get(session, job_id)
    if job.state not in ALLOWED["delete"]:
        raise InvalidJobState(job_id, job.state, "delete", list(ALLOWED["delete"]))
    owner = repo.owner_of(session, job_id)
    if owner is not None:
        raise JobHasOwner(job_id, *owner)
    repo.delete(session, job)
    shutil.rmtree(paths.job_dir(job_id), ignore_errors=True)
    deleted_jobs(session).append(job_id)


def deleted_jobs(session: Session) -> list[int]:
    """The ids of the jobs this session deleted: the API announces them (``job.deleted``) once
    the transaction commits, whichever use case removed them (a job, an extraction, a forced
    delete of a model or dataset with what used it)."""
    deleted: list[int] = session.info.setdefault("deleted_job_ids", [])
    return deleted
