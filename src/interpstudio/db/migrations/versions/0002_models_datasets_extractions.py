"""models, datasets, tokenizations and extractions tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from interpstudio.db.base import JSONDocument, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("repo_id", sa.String(length=256), nullable=True),
        sa.Column("revision", sa.String(length=256), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("config_name", sa.String(length=256), nullable=True),
        sa.Column("split", sa.String(length=128), nullable=True),
        sa.Column("text_column", sa.String(length=256), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("files", JSONDocument, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("stats", JSONDocument, nullable=True),
        sa.Column("info", JSONDocument, nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("repo_id", sa.String(length=256), nullable=True),
        sa.Column("revision", sa.String(length=256), nullable=True),
        sa.Column("commit_sha", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("model_type", sa.String(length=64), nullable=True),
        sa.Column("architecture", sa.String(length=128), nullable=True),
        sa.Column("n_layers", sa.Integer(), nullable=True),
        sa.Column("d_model", sa.Integer(), nullable=True),
        sa.Column("vocab_size", sa.Integer(), nullable=True),
        sa.Column("param_count", sa.BigInteger(), nullable=True),
        sa.Column("precision_requested", sa.String(length=8), nullable=True),
        sa.Column("precision_used", sa.String(length=8), nullable=True),
        sa.Column("precision_reason", sa.Text(), nullable=True),
        sa.Column("disk_bytes", sa.BigInteger(), nullable=True),
        sa.Column("files", JSONDocument, nullable=False),
        sa.Column("fidelity", JSONDocument, nullable=True),
        sa.Column("info", JSONDocument, nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("key", name=op.f("uq_models_key")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tokenizations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("tokenizer_key", sa.String(length=512), nullable=False),
        sa.Column("policy", JSONDocument, nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("counts", JSONDocument, nullable=True),
        sa.Column("stats", JSONDocument, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_tokenizations_dataset_id_datasets"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_tokenizations_model_id_models"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokenizations")),
        sa.UniqueConstraint(
            "dataset_id",
            "tokenizer_key",
            "policy_hash",
            name=op.f("uq_tokenizations_dataset_id_tokenizer_key_policy_hash"),
        ),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("tokenizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tokenizations_dataset_id"), ["dataset_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tokenizations_model_id"), ["model_id"], unique=False)

    op.create_table(
        "extractions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("tokenization_id", sa.Integer(), nullable=False),
        sa.Column("spec", JSONDocument, nullable=False),
        sa.Column("config_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("precision_requested", sa.String(length=8), nullable=True),
        sa.Column("precision_used", sa.String(length=8), nullable=True),
        sa.Column("counts", JSONDocument, nullable=True),
        sa.Column("preflight", JSONDocument, nullable=True),
        sa.Column("info", JSONDocument, nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_extractions_model_id_models"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tokenization_id"],
            ["tokenizations.id"],
            name=op.f("fk_extractions_tokenization_id_tokenizations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extractions")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("extractions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_extractions_config_hash"), ["config_hash"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_extractions_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_extractions_tokenization_id"), ["tokenization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("extractions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extractions_tokenization_id"))
        batch_op.drop_index(batch_op.f("ix_extractions_model_id"))
        batch_op.drop_index(batch_op.f("ix_extractions_config_hash"))

    op.drop_table("extractions")
    with op.batch_alter_table("tokenizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tokenizations_model_id"))
        batch_op.drop_index(batch_op.f("ix_tokenizations_dataset_id"))

    op.drop_table("tokenizations")
    op.drop_table("models")
    op.drop_table("datasets")
