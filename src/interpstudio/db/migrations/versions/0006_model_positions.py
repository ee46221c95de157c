"""models.positions / positions_source: the most positions a model takes, recorded by its import.

A list of models read them from two files per model (architecture.json, config.json) on every
request. Rows of models imported before are left empty: their files are read as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("positions", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("positions_source", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("positions_source")
        batch.drop_column("positions")
