"""Base of every job's parameter schema, and the built-in ``selftest`` parameters.

Parameter schemas are torch-free pydantic models: the API validates a request against them (422)
before a job row exists. Each capability declares its kinds in its own ``*_params.py`` module;
``job_kinds.py`` gathers them. This module is NOT responsible for running jobs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JobParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelftestParams(JobParams):
    """A diagnostic: torch import, disk write/read, and ``iterations`` tiny forward passes."""

    iterations: int = Field(default=20, ge=1, le=10_000)
    step_delay_s: float = Field(
        default=0.0, ge=0.0, le=10.0, description="Pause after each pass (to watch progress)."
    )
    fail_at: int | None = Field(
        default=None, ge=1, description="Fail on purpose at this iteration (tests error paths)."
    )
