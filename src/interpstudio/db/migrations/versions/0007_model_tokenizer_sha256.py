"""models.tokenizer_sha256: the fingerprint of a model's tokenizer files, recorded by its import.

A tokenization made with one model is usable by every model whose tokenizer files are
byte-identical (``services/tokenizer_identity.py``). Rows of models imported before are left
empty: their files are read when the fingerprint is needed.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("tokenizer_sha256", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("tokenizer_sha256")
