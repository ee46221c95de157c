"""Request/response schemas of ``/api/v1/datasets`` and ``/api/v1/tokenizations`` (XCreate /
XUpdate / XRead / XList), and the ``DatasetDep`` / ``TokenizationDep`` load-or-404 dependencies.

A hub token arrives as ``SecretStr`` (never echoed or logged) and no response has a token field.
This module is NOT responsible for any use case (``services/datasets.py``,
``services/tokenizations.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from interpstudio.api.deps import RowIdPath, SessionDep
from interpstudio.api.model_schemas import HubToken
from interpstudio.api.schemas import JobRead
from interpstudio.db.base import MAX_ID
from interpstudio.db.models import Dataset, Tokenization
from interpstudio.services import datasets as dataset_service
from interpstudio.services import tokenizations as tokenization_service
from interpstudio.services.dataset_params import ReadOptionsSpec, TokenizationPolicySpec


def _with_job(schema: type[BaseModel], row: Dataset | Tokenization,
              session: Any) -> dict[str, Any]:
    """The row's fields, its job, and its status/error corrected by the job's final state."""
    job = dataset_service.dataset_job(session=session, job_id=row.job_id)
    data = {name: getattr(row, name) for name in schema.model_fields
            if name not in ("job", "status", "error_message")}
    error = row.error_message or (job.error_message if job is not None
                                  and job.state in ("failed", "interrupted") else None)
    return {**data, "status": dataset_service.effective_status(row.status, job),
            "error_message": error, "job": JobRead.of_record(row, job)}


class DatasetCreate(BaseModel):
    """Add a dataset from the hub, from local files (inside the import roots) or the bundled
    text. Uploads go to ``POST /datasets/upload`` instead."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["hub", "local", "bundled"] = "hub"
    name: str | None = Field(default=None, max_length=256)
    repo_id: str | None = Field(default=None, max_length=256, pattern=r"^[\w.-]+(/[\w.-]+)?$",
                                description="hub: dataset id, e.g. org/name")
    revision: str = Field(default="main", min_length=1, max_length=256)
    config: str = Field(default="default", min_length=1, max_length=256,
                        description="hub: the config; 'default' is the repo's default config "
                                    "(refused, listing the configs, when it has several and "
                                    "none is the default); 'all': a repo without declared "
                                    "configs, every folder's files as one dataset")
    split: str = Field(default="train", min_length=1, max_length=128)
    token: HubToken | None = Field(default=None,
                                    description="Hub access token; used for this import only.")
    paths: list[str] = Field(default_factory=list, max_length=1000,
                             description="local: files or folders inside the import roots")
    read: ReadOptionsSpec = Field(default_factory=ReadOptionsSpec)


class DatasetUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)


class DatasetRead(BaseModel):
    id: int
    name: str
    source: str
    repo_id: str | None
    revision: str | None
    commit_sha: str | None
    config_name: str | None
    split: str | None
    text_column: str | None
    status: str
    path: str | None
    files: list[dict[str, Any]]
    rows: int | None
    bytes: int | None
    stats: dict[str, Any] | None
    info: dict[str, Any]
    error_message: str | None
    job_id: int | None
    job: JobRead | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Dataset, session: Any) -> DatasetRead:
        return cls(**_with_job(cls, row, session))


class DatasetList(BaseModel):
    items: list[DatasetRead]
    total: int


class DatasetDeleted(BaseModel):
    dataset_id: int
    removed: dict[str, list[dict[str, Any]]]


class PreviewRow(BaseModel):
    row: int
    text: str = Field(description="The row's text, its first max_chars characters when longer.")
    chars: int = Field(description="The row's whole length in characters.")
    truncated: bool = Field(description="Whether text is cut (chars > max_chars).")


class DatasetPreview(BaseModel):
    items: list[PreviewRow]
    total: int
    offset: int
    limit: int
    random: bool


class TokenizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: int = Field(ge=1, le=MAX_ID, description="The model whose tokenizer is used.")
    policy: TokenizationPolicySpec = Field(default_factory=TokenizationPolicySpec)
    batch_rows: int = Field(default=1024, ge=1, le=65_536)


class PolicyPreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_id: int = Field(ge=1, le=MAX_ID)
    policy: TokenizationPolicySpec = Field(default_factory=TokenizationPolicySpec)
    limit: int = Field(default=5, ge=1, le=50)


class TokenView(BaseModel):
    n_tokens: int
    ids: list[int]
    pieces: list[str | None]
    token_texts: list[str]


class PolicyPreviewRow(TokenView):
    source_row: int
    text: str
    dropped: bool
    truncated: bool


class PolicyPreview(BaseModel):
    policy: dict[str, Any]
    rows: list[PolicyPreviewRow]


class TokenizationRead(BaseModel):
    id: int
    dataset_id: int
    model_id: int | None
    tokenizer_key: str
    policy: dict[str, Any]
    policy_hash: str
    status: str
    path: str | None
    counts: dict[str, Any] | None
    stats: dict[str, Any] | None
    error_message: str | None
    job_id: int | None
    job: JobRead | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Tokenization, session: Any) -> TokenizationRead:
        return cls(**_with_job(cls, row, session))


class TokenizationList(BaseModel):
    items: list[TokenizationRead]
    total: int


class SequencePreview(TokenView):
    index: int
    source_row: int
    text: str | None


class TokenizationPreview(BaseModel):
    items: list[SequencePreview]
    total: int


def load_dataset(session: SessionDep, dataset_id: RowIdPath
                 ) -> Dataset:
    return dataset_service.get_dataset(session=session, dataset_id=dataset_id)


def load_tokenization(session: SessionDep,
                      tokenization_id: RowIdPath) -> Tokenization:
    return tokenization_service.get_tokenization(session=session,
                                                 tokenization_id=tokenization_id)


DatasetDep = Annotated[Dataset, Depends(load_dataset)]
TokenizationDep = Annotated[Tokenization, Depends(load_tokenization)]
