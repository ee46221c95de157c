"""Request and response schemas of ``/api/v1/models`` (grammar: XCreate / XUpdate / XRead /
XList), and the ``ModelDep`` load-or-404 dependency.

Tokens arrive as ``SecretStr`` (never echoed, never in a repr or log) and no response schema has a
token field. This module is NOT responsible for validation rules of job parameters
(``services/model_params.py``) or for any use case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from interpstudio.api.deps import RowIdPath, SessionDep
from interpstudio.api.schemas import JobStageRead
from interpstudio.core.paths import DataPaths
from interpstudio.db.models import Model
from interpstudio.services import models as service
from interpstudio.services.model_params import PrecisionName
from interpstudio.services.tokenizer_identity import tokenizer_sha256_of

ModelStatus = Literal[service.MODEL_STATUSES]  # type: ignore[valid-type]  # unknown filter: 422

TokenField = Field(default=None, description="Hub access token; used for this request only.")


def _check_token(value: SecretStr) -> SecretStr:
    """A token becomes an HTTP header: printable ASCII without spaces, or it is refused (422)
    here rather than failing inside the HTTP client (found by schemathesis: a 500)."""
    text = value.get_secret_value()
    if not text or not all("!" <= ch <= "~" for ch in text):
        raise ValueError("a hub access token is printable ASCII without spaces")
    return value


HubToken = Annotated[SecretStr, AfterValidator(_check_token)]
DriftField = Field(default_factory=list, max_length=6,
                   description="More precisions whose drift vs fp32 the job measures.")


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class ModelPreflightRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo_id: str = Field(min_length=1, max_length=256, examples=["HuggingFaceTB/SmolLM2-135M"])
    revision: str = Field(default="main", min_length=1, max_length=256)
    token: HubToken | None = TokenField
    # the precisions the import will load it at: q4 / q2 keep packed layers on disk
    precision: PrecisionName = "fp32"
    drift_precisions: list[PrecisionName] = DriftField


class ModelCreate(ModelPreflightRequest):
    name: str | None = Field(default=None, max_length=256)


class ModelImportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096,
                      description="A checkpoint folder, a .safetensors file or a .gguf file.")
    config_path: str | None = Field(default=None, max_length=4096,
                                    description="config.json for a lone .safetensors file.")
    precision: PrecisionName = "fp32"
    drift_precisions: list[PrecisionName] = DriftField
    name: str | None = Field(default=None, max_length=256)


class ModelBundledCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    precision: PrecisionName = "fp32"
    drift_precisions: list[PrecisionName] = DriftField


class ModelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)


class ModelJobAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: HubToken | None = TokenField


class PreflightFile(BaseModel):
    path: str
    size: int
    sha256: str | None
    git_sha1: str | None


class ModelPreflightRead(BaseModel):
    key: str
    repo_id: str
    revision: str
    commit_sha: str
    endpoint: str
    gated: bool
    private: bool
    access_url: str
    files: list[PreflightFile]
    skipped_files: list[str]
    total_bytes: int
    model_type: str
    architectures: list[str]
    n_layers: int | None
    d_model: int | None
    vocab_size: int | None
    parameter_count: int | None
    safetensors_parameter_count: int | None
    memory_estimates: dict[str, int]
    disk_needed_bytes: int
    quantized_cache_bytes: int
    disk_free_bytes: int
    disk_path: str
    config: dict[str, Any]


class ModelJobRead(BaseModel):
    """The live part of the model's job (the same fields arrive in ``job.updated`` events)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    state: str
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
    attempt: int
    updated_at: datetime


class SourceQuantizationRead(BaseModel):
    """How a GGUF source stored the weights its import dequantized to float32."""

    format: str = Field(description="The source's file format (gguf).")
    type: str = Field(description="Its quantization as llama.cpp names it (Q4_1, Q4_K_M, F16).",
                      examples=["Q4_1"])
    bits: int | None = Field(description="Nominal bits per weight of that type (4 for Q4_1).")
    tensor_types: dict[str, int] = Field(description="Tensors of each ggml type in the file.")
    note: str = Field(description="One line saying what this means for the model's fp32.")


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    name: str
    source: str
    repo_id: str | None
    revision: str | None
    commit_sha: str | None
    status: str
    path: str | None
    model_type: str | None
    architecture: str | None
    n_layers: int | None
    d_model: int | None
    vocab_size: int | None
    param_count: int | None
    precision_requested: str | None
    precision_used: str | None
    precision_reason: str | None
    disk_bytes: int | None
    files: list[dict[str, Any]]
    fidelity: dict[str, Any] | None
    info: dict[str, Any]
    positions: int | None = Field(description=(
        "The most positions (tokens in a sequence) the model takes: its learned position "
        "table, else config.json's max_position_embeddings / n_positions, extended by a yarn "
        "rope scaling (original_max_position_embeddings x factor); null when neither says. A "
        "tokenization's max length may not exceed it."))
    positions_source: str | None = Field(description="Where ``positions`` comes from.")
    tokenizer_sha256: str | None = Field(description=(
        "Fingerprint of the model's tokenizer files (sha256 over their names and sha256s): "
        "models with equal fingerprints tokenize every text alike and share tokenizations. "
        "Recorded by the import (read from the files of a ready model imported before it was); "
        "null without tokenizer files or before the model is ready."))
    source_quantization: SourceQuantizationRead | None = Field(description=(
        "For a model imported from a quantized GGUF (the bundled SmolLM2: Q4_1), how the file "
        "stored its weights: the checkpoint holds them dequantized to float32, so its fp32, "
        "fidelity badge and drift vs fp32 are of that copy, not of the original weights. Null "
        "for other sources."))
    error_message: str | None
    job_id: int | None
    job: ModelJobRead | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, model: Model, session: Any, paths: DataPaths) -> ModelRead:
        job = service.model_job(session=session, model=model)
        data = {name: getattr(model, name) for name in cls.model_fields
                if name not in ("job", "status", "error_message", "positions",
                                "positions_source", "tokenizer_sha256", "source_quantization")}
        error = model.error_message or (job.error_message if job is not None
                                        and job.state in ("failed", "interrupted") else None)
        limit, source = service.positions_of(model=model, paths=paths) or (None, None)
        status = service.effective_status(model, job)
        fingerprint = (tokenizer_sha256_of(model=model, paths=paths)
                       if model.tokenizer_sha256 is not None or status == "ready" else None)
        return cls(**data, status=status, error_message=error,
                   positions=limit, positions_source=source, tokenizer_sha256=fingerprint,
                   source_quantization=(model.info or {}).get("source_quantization"),
                   job=ModelJobRead.model_validate(job) if job is not None else None)


class ModelList(BaseModel):
    items: list[ModelRead]
    total: int


class ParameterRead(BaseModel):
    name: str
    shape: list[int]
    dtype: str
    count: int
    stored_shape: list[int] | None = None


class ModuleNodeRead(BaseModel):
    name: str
    class_name: str
    role: str | None
    parameter_count: int
    parameters: list[ParameterRead]
    children: list[ModuleNodeRead]


class HookPointRead(BaseModel):
    name: str
    kind: str
    module: str | None
    phase: str | None = None
    description: str | None = None
    unavailable: str | None = None


class LayerRead(BaseModel):
    index: int
    path: str
    class_name: str
    attention: str | None
    mlp: str | None
    norms: list[str]
    parallel_residual: bool
    moe: bool
    hook_points: list[HookPointRead]


class ModelArchitectureRead(BaseModel):
    n_layers: int
    d_model: int
    blocks_path: str
    final_norm: str | None
    parallel_residual: bool
    moe: bool
    layers: list[LayerRead]
    module_tree: ModuleNodeRead


def load_model(session: SessionDep, model_id: RowIdPath) -> Model:
    return service.get_model(session=session, model_id=model_id)


ModelDep = Annotated[Model, Depends(load_model)]
