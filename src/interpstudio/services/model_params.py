"""Job parameter schemas for models (download, import); gathered by ``job_kinds.py``.

Parameters NEVER hold an access token: a token reaches its job through a short-lived file
(``services/model_files.py``). This module is NOT responsible for running the jobs
(``jobs/tasks/models.py``) or for the use cases (``services/model_sources.py``); it must stay
torch-free.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from interpstudio.services.job_params import JobParams

PrecisionName = Literal["fp32", "fp16", "bf16", "q8", "q4", "q2"]


class ModelDownloadParams(JobParams):
    """Download a hub repo at a resolved commit into the model's folder, then inspect it."""

    model_id: int = Field(ge=1)
    repo_id: str = Field(min_length=3, max_length=256)
    revision: str = Field(min_length=1, max_length=256)
    commit_sha: str = Field(min_length=7, max_length=64)
    precision: PrecisionName = "fp32"
    drift_precisions: list[PrecisionName] = Field(default_factory=list, max_length=6)


class ModelImportParams(JobParams):
    """Copy (or convert, for GGUF) a local checkpoint into the model's folder, then inspect it."""

    model_id: int = Field(ge=1)
    path: str = Field(min_length=1, max_length=4096)
    config_path: str | None = Field(default=None, max_length=4096)
    precision: PrecisionName = "fp32"
    drift_precisions: list[PrecisionName] = Field(default_factory=list, max_length=6)
    bundled: bool = False


KINDS: dict[str, type[JobParams]] = {
    "model_download": ModelDownloadParams,
    "model_import": ModelImportParams,
}
