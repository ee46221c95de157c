"""Request and response schemas of ``/api/v1/extractions`` (grammar: XCreate / XRead / XList),
and the ``ExtractionDep`` load-or-404 dependency.

This module is NOT responsible for the validation rules of a spec (``ExtractionSpec`` in
``services/extraction_params.py`` is reused as the create body) or for any use case.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from interpstudio.api.deps import RowIdPath, SessionDep
from interpstudio.api.schemas import JobRead
from interpstudio.core.paths import DataPaths
from interpstudio.db.models import Extraction, Job
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import (
    ExportOptions,
    ExtractionSpec,
    ExtractPreflightParams,
    RowGroup,
)

ExtractionStatus = Literal[service.EXTRACTION_STATUSES]  # type: ignore[valid-type]


class ExtractionCreate(ExtractionSpec):
    """The extraction to run; the server runs the preflight again before queueing it, unless
    one was made for this same request in the last 5 minutes (it reuses that one)."""


class ExtractionPreflightRequest(ExtractPreflightParams):
    """An extraction to preflight; ``calibrate``: time a calibration batch on the model."""


class ProjectedRead(BaseModel):
    compute_s: float | None
    disk_s: float | None
    finish_s: float | None  # the statistics summary after the last shard, in total_s
    total_s: float | None
    bound: Literal["compute", "disk"] | None


class PreflightPlacementRead(BaseModel):
    """Where ``POST /extractions/preflight`` measures a run on ``device``."""

    device: str
    runs_on: Literal["api", "worker"] = Field(
        description="api: this API process loads the model and times a batch; worker: a job "
                    "worker does (INTERPSTUDIO_PREFLIGHT_ON), and the request first waits for "
                    "one to be free")
    wait_s: float | None = Field(
        description="how long the request waits for a worker to take the preflight before a "
                    "503 preflight_not_taken (INTERPSTUDIO_PREFLIGHT_WAIT_S); null on the API")


class PreflightRead(BaseModel):
    hook_points: list[str]
    widths: dict[str, int]
    dtype: str
    plan: dict[str, int]
    shard_rows: int
    shards: int
    bytes: dict[str, int] = Field(
        description="activations, tokens, norms, headers, shard_files (exact), stats_estimate, "
                    "total")
    free_disk_bytes: int
    disk_ok: bool
    memory: dict[str, int | None] = Field(
        description="model, workspace, captured_batch, held_norms, writer (held_norms included), "
                    "stagings (CPU memory batches are cast into where the writer lends no shard "
                    "rows), staging_batches (how many planned batches use one on the CPU; null "
                    "on an accelerator), runtime (Python, torch and libraries), ram_needed, "
                    "vram_needed (bytes)")
    calibration: dict[str, Any] | None
    disk_write_bytes_per_s: float | None
    projected: ProjectedRead
    model: dict[str, Any] = Field(description="precision requested / used, resident bytes, device")
    notes: list[str] = Field(default_factory=list,
                             description="What the plan does that a user may not expect.")


class ExtractionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    model_id: int
    tokenization_id: int
    spec: dict[str, Any]
    config_hash: str
    status: ExtractionStatus | str
    path: str | None
    precision_requested: str | None
    precision_used: str | None
    counts: dict[str, Any] | None
    preflight: dict[str, Any] | None
    info: dict[str, Any]
    error_message: str | None
    job_id: int | None
    job: JobRead | None
    store_abs_path: str | None = Field(
        description="The activation store's absolute folder on the server (open_activations), "
                    "once it exists; null before")
    store_empty: bool = Field(
        description="The store exists without a whole shard (a run stopped before its first): "
                    "no rows, statistics, samples or export yet; a resume starts from the "
                    "beginning")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Extraction, job: Job | None, paths: DataPaths) -> ExtractionRead:
        fields = {name: getattr(row, name) for name in cls.model_fields
                  if name not in ("job", "status", "store_abs_path", "store_empty")}
        store, empty = service.store_state(paths, row)
        return cls(**fields, status=service.effective_status(row, job),
                   job=JobRead.of_record(row, job),
                   store_abs_path=None if store is None else str(store), store_empty=empty)


class ExtractionList(BaseModel):
    items: list[ExtractionRead]
    total: int


class LayerNormPoint(BaseModel):
    layer: int
    norm_mean: float | None
    norm_std: float | None


class StatsRead(BaseModel):
    status: str
    rows: int
    shards: int
    dtype: str
    hooks: dict[str, dict[str, Any]] = Field(
        description="per hook point: d, rows, config, groups {all, non_bos, bos} of statistics")
    group: RowGroup = Field(description="the row group of layer_norms")
    layer_norms: dict[str, list[LayerNormPoint]] = Field(
        description="per hook kind: mean L2 norm per layer, over the rows of group")


class SampleRead(BaseModel):
    norm: float
    row: int
    sequence: int
    position: int
    token_id: int
    token: str
    before: str
    after: str


class SamplesRead(BaseModel):
    group: RowGroup = Field(description="the row group the top-norm rows were taken from")
    hooks: dict[str, list[SampleRead]]
    context: dict[str, int]


class ExportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hook_points: list[str] | None = Field(
        default=None, description="Stored hook points to export (as in the create body's "
                                  "`hook_points`). Default: every stored point.")
    hook_names: list[str] | None = Field(
        default=None, json_schema_extra={"deprecated": True},
        description="Deprecated alias of `hook_points`, accepted for one release (removed in "
                    "the next); giving both with different lists is a 422.")
    context_size: int | None = Field(default=None, ge=1)
    dtype: Literal["float16", "float32"] | None = None
    column_names: Literal["hook_points", "module_paths"] = Field(
        default="hook_points",
        description="How the activation columns are named: `hook_points` (`blocks.3.resid_post`) "
                    "or `module_paths` (`model.layers.3`, the module whose output the point is), "
                    "the names SAELens hooks with model_class_name=\"AutoModelForCausalLM\", so "
                    "it trains without override_model. Only points read at a module's output "
                    "(resid_post, attn_out, mlp_out) have one; others are refused (422).")
    exclude_first_position: bool = Field(
        default=False,
        description="Leave out every row at position 0 (each sequence's first token: BOS / "
                    "attention sinks, whose norm can be many times the rest's and would "
                    "dominate an SAE's MSE), from every column and `token_ids` alike; a BOS "
                    "token further in is kept. The default context size is then the "
                    "sequences' length less one. A store with no row past position 0 is "
                    "refused (422).")

    @model_validator(mode="after")
    def _alias_hook_names(self) -> ExportCreate:
        # the export said `hook_names` where the create body says `hook_points`; the old name
        # stays readable for a release, and one list is what the service gets
        if self.hook_names is not None:
            if self.hook_points is not None and self.hook_points != self.hook_names:
                raise ValueError("give hook_points only (hook_names is its deprecated alias), "
                                 "not two different lists")
            self.hook_points, self.hook_names = self.hook_names, None
        return self

    def options(self) -> ExportOptions:
        return ExportOptions(**self.model_dump(exclude={"hook_names"}))


class ExportRead(BaseModel):
    path: str = Field(description="relative to the data dir")
    abs_path: str = Field(description="absolute, on the server (datasets.load_from_disk)")
    hook_points: list[str]
    hook_names: list[str] = Field(
        json_schema_extra={"deprecated": True},
        description="Deprecated: the same list as `hook_points`, kept for one release.")
    context_size: int
    rows: int
    tokens_exported: int
    tokens_dropped: int
    dtype: str
    replaced: bool = Field(description="an earlier export at this path was replaced by this one")
    partial: bool = Field(
        default=False,
        description="the extraction was stopped (cancelled or interrupted): the export holds the "
                    "whole shards it kept, not the whole run (the first warning says so)")
    warnings: list[str] = Field(
        default_factory=list,
        description="what SAELens would take wrongly: a store extracted under positions 'last', "
                    "'every_k' or 'exclude_bos' does not hold consecutive tokens, and each says "
                    "what its rows are instead")
    column_names: Literal["hook_points", "module_paths"] = "hook_points"
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="dataset column -> the hook point it holds (also in the export's "
                    "interpstudio_export.json)")
    exclude_first_position: bool = Field(
        default=False, description="the rows at position 0 were left out (also in the "
                                   "export's interpstudio_export.json)")
    first_positions_excluded: int = Field(
        default=0, description="store rows at position 0 left out (not in `rows`, "
                               "`tokens_exported` or `tokens_dropped`)")


def load_extraction(session: SessionDep,
                    extraction_id: RowIdPath) -> Extraction:
    return service.get_extraction(session=session, extraction_id=extraction_id)


ExtractionDep = Annotated[Extraction, Depends(load_extraction)]
GroupQuery = Annotated[RowGroup, Query(
    description="all rows; non_bos: rows past the first position that are not BOS (attention "
                "sinks left out); bos: the first-position / BOS rows")]
HookQuery = Annotated[str | None, Query(
    description="one hook point of the run, as the store names it (`blocks.3.resid_post`): "
                "only its rows; default every point. One the run does not have is a 404 "
                "listing those it has", examples=["blocks.3.resid_post"])]
