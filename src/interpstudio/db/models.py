"""Database tables (SQLAlchemy 2.0 typed mappings).

One class per table; behaviour lives in repositories and services, not here. Any change to these
classes needs a new Alembic migration in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from interpstudio.db.base import Base, JSONDocument, UTCDateTime, utcnow

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
ACTIVE_STATES = ("queued", "running")
FINISHED_STATES = ("succeeded", "failed", "cancelled", "interrupted")


class Job(Base):
    """A durable unit of long-running work: its parameters, live progress and outcome."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str | None] = mapped_column(String(128))
    progress: Mapped[float | None] = mapped_column(Float)
    done: Mapped[float | None] = mapped_column(Float)
    total: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(32))
    rate: Mapped[float | None] = mapped_column(Float)
    eta_s: Mapped[float | None] = mapped_column(Float)
    message: Mapped[str | None] = mapped_column(Text)
    # finished stages of this attempt: [{stage, done, total, unit, seconds}]
    stages: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_jobs_state_id", "state", "id"), {"sqlite_autoincrement": True})


class Tracked:
    """Columns of every record a job produces: status, error, the job, timestamps."""

    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_message: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)  # the job that made it (latest attempt)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HubSourced:
    """Where a record came from on the Hub: repo, requested revision, resolved commit."""

    repo_id: Mapped[str | None] = mapped_column(String(256))
    revision: Mapped[str | None] = mapped_column(String(256))  # as requested (branch, tag, sha)
    commit_sha: Mapped[str | None] = mapped_column(String(64))  # as resolved


class Model(HubSourced, Tracked, Base):
    """A language model on this machine: where it came from, what it is, how it was loaded.

    Identity is ``key``: ``repo_id@commit`` for hub models (two orgs' ``x`` never collide),
    ``local:<sha256 of the imported files' hashes>`` for imports. Flexible facts (memory estimates
    per precision, quantization settings, drift per precision, gated flag, ...) live in ``info``.
    """

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16))  # hub | local | bundled
    path: Mapped[str | None] = mapped_column(String(1024))  # relative to the data dir
    model_type: Mapped[str | None] = mapped_column(String(64))
    architecture: Mapped[str | None] = mapped_column(String(128))
    n_layers: Mapped[int | None] = mapped_column(Integer)
    d_model: Mapped[int | None] = mapped_column(Integer)
    vocab_size: Mapped[int | None] = mapped_column(Integer)
    param_count: Mapped[int | None] = mapped_column(BigInteger)
    precision_requested: Mapped[str | None] = mapped_column(String(8))
    precision_used: Mapped[str | None] = mapped_column(String(8))
    precision_reason: Mapped[str | None] = mapped_column(Text)
    disk_bytes: Mapped[int | None] = mapped_column(BigInteger)
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    fidelity: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    info: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # the most positions it takes and where that comes from, recorded by its import (None:
    # imported before they were, or none said; services/models.py reads its files then)
    positions: Mapped[int | None] = mapped_column(Integer)
    positions_source: Mapped[str | None] = mapped_column(String(128))
    # sha256 of its tokenizer files, recorded by its import (None: imported before it was, or
    # no tokenizer files; services/tokenizer_identity.py reads its files then)
    tokenizer_sha256: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = ({"sqlite_autoincrement": True},)


class Dataset(HubSourced, Tracked, Base):
    """A text corpus: its source, files (with sha256), size, text column and statistics."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16))  # hub | upload | local | bundled
    config_name: Mapped[str | None] = mapped_column(String(256))
    split: Mapped[str | None] = mapped_column(String(128))
    text_column: Mapped[str | None] = mapped_column(String(256))
    path: Mapped[str | None] = mapped_column(String(1024))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    info: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)

    __table_args__ = ({"sqlite_autoincrement": True},)


class Tokenization(Tracked, Base):
    """A dataset tokenized with one model's tokenizer under one explicit policy."""

    __tablename__ = "tokenizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"),
                                            index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"),
                                                 index=True)
    tokenizer_key: Mapped[str] = mapped_column(String(512))  # the tokenizer's identity
    policy: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    policy_hash: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(String(1024))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    __table_args__ = (
        UniqueConstraint("dataset_id", "tokenizer_key", "policy_hash"),
        {"sqlite_autoincrement": True},
    )


class Extraction(Tracked, Base):
    """Activations captured from one model over one tokenization, stored as an activation store."""

    __tablename__ = "extractions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="RESTRICT"),
                                          index=True)
    tokenization_id: Mapped[int] = mapped_column(
        ForeignKey("tokenizations.id", ondelete="RESTRICT"), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str | None] = mapped_column(String(1024))
    precision_requested: Mapped[str | None] = mapped_column(String(8))
    precision_used: Mapped[str | None] = mapped_column(String(8))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    preflight: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    info: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)

    __table_args__ = ({"sqlite_autoincrement": True},)


class Deployment(Base):
    """One row: what tells this deployment apart from others sharing a Redis server. Every API
    process reads the same row from the one database they share, whatever host names their URLs
    use; ``db.repositories.deployment`` makes it on first use."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the id in the deployment's data dir's marker file (``deployment.check_data_dir``)
    data_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
