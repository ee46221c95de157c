"""The job kinds the app knows, each with its parameter schema (torch-free).

The API validates parameters against these schemas before a job row exists, so a bad request is a
422 and never a failed job. The code that RUNS each kind is registered separately in
``jobs/registry.py`` (it may import torch; this module must not). This module is NOT responsible for
running anything.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from interpstudio.core.errors import InvalidInput, UnknownJobKind


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


JOB_KINDS: dict[str, type[JobParams]] = {"selftest": SelftestParams}


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    schema = JOB_KINDS.get(kind)
    if schema is None:
        raise UnknownJobKind(kind, list(JOB_KINDS))
    try:
        return schema.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidInput(
            f"invalid parameters for a {kind} job",
            details={"errors": exc.errors(include_url=False, include_context=False)},
        ) from None
