"""``/api/v1/jobs``: list, get, cancel, resume, retry, delete; ``POST /api/v1/selftest``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from interpstudio.api.deps import JobDep, PathsDep, SessionDep
from interpstudio.api.schemas import JobKind, JobList, JobRead, JobState, SelftestCreate
from interpstudio.db.base import MAX_ID
from interpstudio.services import jobs as service

router = APIRouter(tags=["jobs"])


@router.get("/jobs", response_model=JobList)
def list_jobs(
    session: SessionDep,
    state: Annotated[list[JobState], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    kind: Annotated[list[JobKind], Query(max_length=64)] = [],  # noqa: B006
    extraction_id: Annotated[int | None, Query(
        ge=1, le=MAX_ID, description="Only the jobs of this extraction (its run, its exports)."
    )] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> JobList:
    items, total = service.list_jobs(session=session, states=list(state), kinds=list(kind),
                                     extraction_id=extraction_id, limit=limit, offset=offset)
    return JobList(items=JobRead.of_jobs(session, items), total=total)


@router.get("/jobs/{job_id}", response_model=JobRead)
def get_job(job: JobDep, session: SessionDep) -> JobRead:
    return JobRead.of_job(session, job)


@router.post("/jobs/{job_id}/cancel", response_model=JobRead)
def cancel_job(job: JobDep, session: SessionDep, paths: PathsDep) -> JobRead:
    return JobRead.of_job(session, service.cancel_job(session=session, job_id=job.id,
                                                      paths=paths))


@router.post("/jobs/{job_id}/resume", response_model=JobRead)
def resume_job(job: JobDep, session: SessionDep) -> JobRead:
    return JobRead.of_job(session, service.resume_job(session=session, job_id=job.id))


@router.post("/jobs/{job_id}/retry", response_model=JobRead)
def retry_job(job: JobDep, session: SessionDep) -> JobRead:
    return JobRead.of_job(session, service.retry_job(session=session, job_id=job.id))


@router.delete("/jobs/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_job(job: JobDep, session: SessionDep, paths: PathsDep) -> Response:
    service.delete_job(session=session, job_id=job.id, paths=paths)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/selftest", response_model=JobRead, status_code=status.HTTP_201_CREATED)
def create_selftest(body: SelftestCreate, session: SessionDep) -> JobRead:
    job = service.create_job(session=session, kind="selftest", params=body.model_dump())
    return JobRead.from_job(job, None)  # no record makes a selftest
