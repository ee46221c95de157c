"""FastAPI dependencies: settings, the data dir's paths, a transactional session, and
load-or-404 helpers.

``SessionDep`` commits when the route returns and rolls back on error; a GET's session reads one
snapshot of the database (``db.session.begin_snapshot``). This module is NOT
responsible for authentication (``auth.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from anyio import from_thread
from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import MAX_ID
from interpstudio.db.models import Job
from interpstudio.db.session import begin_snapshot
from interpstudio.services import jobs as job_service


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_paths(request: Request) -> DataPaths:
    return request.app.state.paths


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request, committed before the response is sent; then the jobs it
    deleted are announced (``job.deleted``), so open pages drop them and what they made.

    A GET (which writes nothing) reads one snapshot: its record and the record's job were read
    in two SELECTs, and a task's last write (record and job in one transaction) falling between
    them answered a job ``succeeded`` beside its record still ``running``."""
    with request.app.state.session_factory() as session:
        if request.method == "GET":
            begin_snapshot(session)
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()
        for job_id in job_service.deleted_jobs(session):
            from_thread.run(request.app.state.bus.publish, {"type": "job.deleted",
                                                            "job_id": job_id})


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PathsDep = Annotated[DataPaths, Depends(get_paths)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ID)]  # a row id in the URL: above MAX_ID is a 422


def load_job(session: SessionDep, job_id: RowIdPath) -> Job:
    return job_service.get_job(session=session, job_id=job_id)


JobDep = Annotated[Job, Depends(load_job)]
