"""Parameter schemas for activation extraction (torch-free); gathered by ``job_kinds.py``.

``ExtractionSpec`` is what a user asks for (API body, CLI options, stored on the extraction row
and, with the model and tokenization identities, in the store's manifest); ``ExtractParams`` is
the ``extract`` job's parameters (just the extraction row: the spec lives on the row);
``ExtractPreflightParams`` the ``extract_preflight`` job's (a request preflighted on a worker);
``ExportOptions`` what a SAELens export is asked for, and ``ExtractionExportParams`` the
``extraction_export`` job's (the row and those options).

This module is NOT responsible for running the jobs (``jobs/tasks/extraction.py``) or for the use
cases (``services/extractions.py``); it must stay torch-free.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from interpstudio.core.errors import MAX_COUNT
from interpstudio.db.base import MAX_ID
from interpstudio.services.job_params import JobParams

Precision = Literal["fp32", "fp16", "bf16", "q8", "q4", "q2"]
StorageDtype = Literal["float16", "bfloat16", "float32"]
Positions = Literal["all", "last", "every_k", "exclude_bos"]
# the row groups stats.json reports (``ml.stats.REPORTED_GROUPS``): every row, rows past the
# first position that are not BOS, and the first-position / BOS rows
RowGroup = Literal["all", "non_bos", "bos"]


DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"  # a device an extraction may ask for
DEVICES_IN_WORDS = "auto, cpu, cuda (the first GPU), cuda:N (GPU number N, e.g. cuda:1) or mps"


def check_device(value: str) -> str:
    """``value`` if an extraction may ask for it (``DEVICE_PATTERN``), else refused in words, the
    one wording of the API's 422 and the CLI's ``--device``: pydantic's own refusal showed the
    regular expression (``String should match pattern '^(auto|cpu|cuda(:\\d+)?|mps)$'``).
    Raises ``PydanticCustomError`` (a ``ValueError``) so pydantic reports the words as they are."""
    if not re.fullmatch(DEVICE_PATTERN, value):
        raise PydanticCustomError("device", f"{value!r} is not a device; give {DEVICES_IN_WORDS}")
    return value


# a device field or query parameter: checked in words, the pattern still in the OpenAPI schema
Device = Annotated[str, AfterValidator(check_device),
                   WithJsonSchema({"type": "string", "pattern": DEVICE_PATTERN})]


class ExtractionSpec(JobParams):
    """One extraction request; see docs of each field."""

    model_id: int = Field(ge=1, le=MAX_ID)
    tokenization_id: int = Field(ge=1, le=MAX_ID)
    hook_points: list[str] = Field(
        min_length=1, max_length=4096,
        description="Names or patterns, e.g. 'blocks.*.resid_post', 'blocks.{0-3}.attn_out'.",
    )
    name: str | None = Field(default=None, max_length=256)
    precision: Precision | None = Field(
        default=None, description="Load precision; default: the precision the model was set to."
    )
    batch_size: int = Field(default=8, ge=1, le=4096)
    positions: Positions = "all"
    every_k: int = Field(default=1, ge=1, le=1_000_000)
    dtype: StorageDtype = "float16"
    max_samples: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    shard_rows: int | None = Field(
        default=None, ge=1, le=100_000_000,
        description="Rows per shard; default: about 256 MB of activations per shard.",
    )
    device: Device = Field(
        default="auto",
        description="auto: the first CUDA device when there is one, else the CPU.",
    )


class ExtractParams(JobParams):
    """The ``extract`` job runs the extraction row ``extraction_id``."""

    extraction_id: int = Field(ge=1)


class ExtractPreflightParams(ExtractionSpec):
    """The ``extract_preflight`` job preflights this request on its worker (see
    ``services/extraction_preflight.py``)."""

    calibrate: bool = Field(default=True, description="Time a calibration batch on the model.")


ColumnNames = Literal["hook_points", "module_paths"]


class ExportOptions(JobParams):
    """A SAELens export of an extraction's store (``services/extraction_export.py``); the API's
    ``ExportCreate`` documents each field and keeps the deprecated ``hook_names`` alias."""

    hook_points: list[str] | None = Field(default=None, max_length=4096)
    context_size: int | None = Field(default=None, ge=1)
    dtype: Literal["float16", "float32"] | None = None
    column_names: ColumnNames = "hook_points"
    exclude_first_position: bool = False


class ExtractionExportParams(ExportOptions):
    """The ``extraction_export`` job exports the store of extraction ``extraction_id``."""

    extraction_id: int = Field(ge=1, le=MAX_ID)


KINDS: dict[str, type[JobParams]] = {"extract": ExtractParams,
                                     "extract_preflight": ExtractPreflightParams,
                                     "extraction_export": ExtractionExportParams}
