"""``/api/v1/extractions``: preflight, create, list, get, cancel, resume, retry, delete,
statistics, top-token samples and the SAELens export (in the request, or queued as a job)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.orm import Session

from interpstudio.api.deps import PathsDep, SessionDep, SettingsDep
from interpstudio.api.extraction_schemas import (
    ExportCreate,
    ExportRead,
    ExtractionCreate,
    ExtractionDep,
    ExtractionList,
    ExtractionPreflightRequest,
    ExtractionRead,
    ExtractionStatus,
    GroupQuery,
    HookQuery,
    PreflightPlacementRead,
    PreflightRead,
    SamplesRead,
    StatsRead,
)
from interpstudio.api.schemas import JobRead
from interpstudio.core.paths import DataPaths
from interpstudio.db.base import MAX_ID
from interpstudio.db.models import Extraction
from interpstudio.services import extraction_export as exports
from interpstudio.services import extraction_preflight as remote
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import Device, ExtractionSpec

router = APIRouter(tags=["extractions"])


def _read(paths: DataPaths, session: Session, row: Extraction) -> ExtractionRead:
    return ExtractionRead.from_row(row, service.extraction_job(session=session, row=row), paths)


@router.get("/extractions/preflight", response_model=PreflightPlacementRead)
def preflight_placement(
    settings: SettingsDep,
    device: Annotated[Device, Query()] = "auto",
) -> PreflightPlacementRead:
    """Where a preflight of `device` runs, so a client can say what it waits for. `auto` and
    `cpu` are answered without importing torch; a GPU device under `INTERPSTUDIO_PREFLIGHT_ON=auto`
    is looked for in this process, as the preflight itself would."""
    runs_on = service.preflight_runs_on(settings, device)
    return PreflightPlacementRead(device=device, runs_on=runs_on,
                                  wait_s=settings.preflight_wait_s if runs_on == "worker" else None)


@router.post("/extractions/preflight", response_model=PreflightRead)
def preflight(body: ExtractionPreflightRequest, session: SessionDep, settings: SettingsDep,
              paths: PathsDep, request: Request) -> PreflightRead:
    """Measured in the API process, or on a job worker where the API cannot use the requested
    device or is set to (`INTERPSTUDIO_PREFLIGHT_ON`); the request waits for the report either
    way. 503 `preflight_not_taken` when no worker takes it in time."""
    spec = ExtractionSpec(**body.model_dump(exclude={"calibrate"}))
    if service.preflight_runs_on(settings, spec.device) == "worker":
        job = remote.queue_preflight(session=session, paths=paths, spec=spec,
                                      calibrate=body.calibrate)
        session.commit()  # a worker can take it only once it is committed
        report = remote.await_preflight(session_factory=request.app.state.session_factory,
                                        settings=settings, spec=spec, job_id=job.id)
    else:
        report = service.preflight_extraction(session=session, settings=settings, spec=spec,
                                              calibrate=body.calibrate)
    return PreflightRead(**report)


@router.post("/extractions", response_model=ExtractionRead, status_code=status.HTTP_201_CREATED)
def create_extraction(body: ExtractionCreate, session: SessionDep,
                      settings: SettingsDep, paths: PathsDep) -> ExtractionRead:
    row = service.create_extraction(session=session, settings=settings,
                                    spec=ExtractionSpec(**body.model_dump()))
    return _read(paths, session, row)


@router.get("/extractions", response_model=ExtractionList)
def list_extractions(
    session: SessionDep,
    paths: PathsDep,
    status_: Annotated[list[ExtractionStatus], Query(alias="status", max_length=16)] = [],  # noqa: B006
    model_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    tokenization_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    q: Annotated[str | None, Query(max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> ExtractionList:
    rows, total = service.list_extractions(session=session, statuses=list(status_),
                                           model_id=model_id, tokenization_id=tokenization_id,
                                           search=q, limit=limit, offset=offset)
    return ExtractionList(items=[_read(paths, session, row) for row in rows], total=total)


@router.get("/extractions/{extraction_id}", response_model=ExtractionRead)
def get_extraction(row: ExtractionDep, session: SessionDep,
                   paths: PathsDep) -> ExtractionRead:
    return _read(paths, session, row)


@router.post("/extractions/{extraction_id}/cancel", response_model=ExtractionRead)
def cancel_extraction(row: ExtractionDep, session: SessionDep,
                      paths: PathsDep) -> ExtractionRead:
    return _read(paths, session, service.cancel_extraction(session=session, extraction_id=row.id))


@router.post("/extractions/{extraction_id}/resume", response_model=ExtractionRead)
def resume_extraction(row: ExtractionDep, session: SessionDep,
                      paths: PathsDep) -> ExtractionRead:
    return _read(paths, session, service.resume_extraction(session=session, extraction_id=row.id))


@router.post("/extractions/{extraction_id}/retry", response_model=ExtractionRead)
def retry_extraction(row: ExtractionDep, session: SessionDep,
                     paths: PathsDep) -> ExtractionRead:
    return _read(paths, session, service.retry_extraction(session=session, extraction_id=row.id))


@router.delete("/extractions/{extraction_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_extraction(row: ExtractionDep, session: SessionDep, paths: PathsDep) -> Response:
    service.delete_extraction(session=session, paths=paths,
                              extraction_id=row.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/extractions/{extraction_id}/stats", response_model=StatsRead)
def extraction_stats(row: ExtractionDep, paths: PathsDep,
                     per_dim: Annotated[bool, Query()] = False,
                     group: GroupQuery = "all") -> StatsRead:
    return StatsRead(**service.read_stats(paths=paths, row=row,
                                          per_dim=per_dim, group=group))


@router.get("/extractions/{extraction_id}/samples", response_model=SamplesRead)
def extraction_samples(row: ExtractionDep, paths: PathsDep, group: GroupQuery = "all",
                       hook: HookQuery = None) -> SamplesRead:
    """The highest-norm rows of each hook point among the rows of `group`, with their text;
    `hook`: of that point only. A `hook` the run does not have is a 404
    `hook_point_not_stored` whose `details.stored` lists the run's points; 409
    `extraction_results_not_ready` until the run is complete."""
    return SamplesRead(**service.read_samples(paths=paths, row=row, group=group, hook=hook))


@router.post("/extractions/{extraction_id}/export", response_model=ExportRead)
def export_extraction(row: ExtractionDep, body: ExportCreate, session: SessionDep,
                      paths: PathsDep) -> ExportRead:
    """The export in this request (minutes for a large store); `/export-job` queues it."""
    return ExportRead(**exports.export_now(session=session, paths=paths, row=row,
                                           options=body.options()))


@router.post("/extractions/{extraction_id}/export-job", response_model=JobRead,
             status_code=status.HTTP_202_ACCEPTED)
def start_export(row: ExtractionDep, body: ExportCreate, session: SessionDep,
                 paths: PathsDep) -> JobRead:
    """The export as an `extraction_export` job (progress in rows, cancellable; its `result` is
    this route's sync twin's answer). Refusals known up front answer at once, before a job."""
    job = exports.start_export(session=session, paths=paths, row=row, options=body.options())
    return JobRead.from_job(job, None)
