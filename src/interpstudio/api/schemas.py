"""Response and request schemas of the REST API (one grammar: XCreate / XRead / XList).

These are the contract the frontend's generated TypeScript types come from. This module is NOT
responsible for validation rules of job parameters (``services/job_kinds.py`` owns those; the
selftest body reuses its schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from interpstudio.services import jobs as job_service
from interpstudio.services.job_kinds import JOB_KINDS
from interpstudio.services.job_params import SelftestParams

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
JobKind = Literal[tuple(JOB_KINDS)]  # type: ignore[valid-type]  # a filter value: unknown is 422


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorBody


class HealthRead(BaseModel):
    status: Literal["ok"]
    version: str
    database: str
    broker: Literal["connected", "unreachable"] | None = Field(
        default=None, description="The Redis event broker's state now; null: none configured.")


class JobStageRead(BaseModel):
    """A finished stage of the job's current attempt: its final count and how long it took."""

    stage: str
    done: float | None
    total: float | None
    unit: str | None
    seconds: float


class JobOwnerRead(BaseModel):
    """The record a job made (a model, dataset, tokenization or extraction row whose ``job_id``
    is that job)."""

    kind: Literal["model", "dataset", "tokenization", "extraction"]
    id: int


class JobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    params: dict[str, Any]
    state: JobState
    stage: str | None
    progress: float | None
    done: float | None
    total: float | None
    unit: str | None
    rate: float | None
    eta_s: float | None
    message: str | None
    stages: list[JobStageRead] | None
    error_code: str | None
    error_message: str | None
    result: dict[str, Any] | None
    cancel_requested: bool
    attempt: int
    has_checkpoint: bool
    worker_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    heartbeat_at: datetime | None
    owner: JobOwnerRead | None = Field(
        description="The record this job made; such a job is deleted with it, never alone "
                    "(DELETE answers 409 job_has_owner). Null for a job no record points at")

    @classmethod
    def from_job(cls, job: Any, owner: tuple[str, int] | None) -> JobRead:
        """``owner`` as ``services.jobs.job_owners`` gives it (the caller may know it: a record's
        own job is owned by that record)."""
        data = {name: getattr(job, name) for name in cls.model_fields
                if name not in ("has_checkpoint", "owner")}
        return cls(**data, has_checkpoint=job.checkpoint is not None,
                   owner=JobOwnerRead(kind=owner[0], id=owner[1]) if owner else None)

    @classmethod
    def of_jobs(cls, session: Session, jobs: Sequence[Any]) -> list[JobRead]:
        """Each job with its owner, read in one query per record table."""
        owners = job_service.job_owners(session=session, job_ids=[job.id for job in jobs])
        return [cls.from_job(job, owners.get(job.id)) for job in jobs]

    @classmethod
    def of_job(cls, session: Session, job: Any) -> JobRead:
        return cls.of_jobs(session, [job])[0]

    @classmethod
    def of_record(cls, record: Any, job: Any | None) -> JobRead | None:
        """``record``'s own job (the one its ``job_id`` names), owned by it; None for none."""
        return cls.from_job(job, job_service.record_name(record)) if job is not None else None


class JobList(BaseModel):
    items: list[JobRead]
    total: int


class SelftestCreate(SelftestParams):
    pass


class CpuRead(BaseModel):
    percent: float
    count: int


class MemoryRead(BaseModel):
    total: int
    available: int
    used: int
    percent: float


class DiskRead(BaseModel):
    path: str
    total: int
    used: int
    free: int
    percent: float


class GpuRead(BaseModel):
    index: int
    name: str
    memory_total: int
    memory_used: int
    utilization_percent: float | None


class SystemRead(BaseModel):
    timestamp: datetime
    host: str = Field(description="the machine measured (its host name): each API process "
                                  "reports its own")
    cpu: CpuRead
    memory: MemoryRead
    disk: DiskRead
    gpus: list[GpuRead]
