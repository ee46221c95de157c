"""The job kinds the app knows, each with its parameter schema (torch-free).

The API validates parameters against these schemas before a job row exists, so a bad request is a
422 and never a failed job. The code that RUNS each kind is registered separately in
``jobs/registry.py`` (it may import torch; this module must not). This module is NOT responsible for
running anything.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from interpstudio.core.errors import InvalidInput, UnknownJobKind
from interpstudio.services import dataset_params, extraction_params, model_params
from interpstudio.services.job_params import JobParams, SelftestParams

JOB_KINDS: dict[str, type[JobParams]] = {
    "selftest": SelftestParams,
    **model_params.KINDS,
    **dataset_params.KINDS,
    **extraction_params.KINDS,
}


def validate_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    schema = JOB_KINDS.get(kind)
    if schema is None:
        raise UnknownJobKind(kind, list(JOB_KINDS))
    try:
        return schema.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        named = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
                          for e in errors[:3])
        raise InvalidInput(f"invalid parameters for a {kind} job ({named})",
                           details={"errors": errors}) from None
