"""An extraction's preflight run by a job worker instead of the API process.

A preflight loads the model on the requested device and times a batch there. An API in front of
GPU workers may have no GPU (it refused ``device: cuda`` before any job existed), and should not
hold a model's memory after each request. Where ``extractions.preflight_runs_on`` says
``worker`` (``INTERPSTUDIO_PREFLIGHT_ON=worker``, or ``auto`` when the requested device is not in
this process), the request queues an ``extract_preflight`` job, which a worker takes like any
other, and waits for its report: the UI and the CLI see the same synchronous answer either way.
A preflight no worker takes within ``INTERPSTUDIO_PREFLIGHT_WAIT_S`` is withdrawn (so it does
not run later for no one) and refused with what to do; a create does not wait for one at all
(``create_extraction`` queues the extraction and its job measures the run).

This module is NOT responsible for the preflight itself (``ml/extract_preflight.py``, run by
``jobs/tasks/extraction.py``) or for the rules of creating an extraction (``extractions.py``).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import InvalidJobState
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import FINISHED_STATES, Job
from interpstudio.db.repositories import jobs as job_repo
from interpstudio.services import jobs as job_service
from interpstudio.services.extraction_errors import PreflightFailedOnWorker, PreflightNotTaken
from interpstudio.services.extraction_params import ExtractionSpec
from interpstudio.services.extractions import remember_report, resolve_inputs

POLL_S = 0.25


def queue_preflight(*, session: Session, paths: DataPaths, spec: ExtractionSpec,
                    calibrate: bool) -> Job:
    """The ``extract_preflight`` job for ``spec``, after the checks that need no model (an
    unknown model or hook point is refused here, not as a failed job). The caller commits it."""
    resolve_inputs(session=session, paths=paths, spec=spec)
    return job_service.create_job(session=session, kind="extract_preflight",
                                  params={**spec.model_dump(mode="json"), "calibrate": calibrate})


def await_preflight(*, session_factory: sessionmaker[Session], settings: Settings,
                    spec: ExtractionSpec, job_id: int) -> dict[str, Any]:
    """The report of preflight job ``job_id`` once its worker has made it (kept for the create
    that follows, like a report made here); its failure as the worker's error; withdrawn and
    refused when no worker took it within ``settings.preflight_wait_s``."""
    deadline = time.monotonic() + settings.preflight_wait_s
    while True:
        with session_factory() as session:
            job = job_service.get_job(session=session, job_id=job_id)
            if job.state == "succeeded":
                report: dict[str, Any] = (job.result or {})["report"]
                remember_report(session=session, settings=settings, spec=spec, report=report)
                return report
            if job.state in FINISHED_STATES:
                raise PreflightFailedOnWorker(job_id, job.state, job.error_code,
                                              job.error_message, (job.result or {}).get("error"))
            if job.state == "queued" and time.monotonic() > deadline and _withdraw(session,
                                                                                   job_id):
                raise PreflightNotTaken(job_id, settings.preflight_wait_s, spec.device)
        time.sleep(POLL_S)


def _withdraw(session: Session, job_id: int) -> bool:
    """Cancel the job if it is still queued; False when a worker claimed it meanwhile (then its
    report is worth waiting for: the worker is on it)."""
    try:
        job_repo.transition(session, job_id, action="cancel", from_states=["queued"],
                            state="cancelled", finished_at=utcnow(), error_code="cancelled",
                            error_message="withdrawn: no worker took the preflight in time")
    except InvalidJobState:
        return False
    session.commit()
    return True
