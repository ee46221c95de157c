"""models.positions read again for rows recorded from config.json: rope scaling now counts.

Imports before this recorded a rotary model's ``max_position_embeddings`` (or ``n_positions``)
as the most positions it takes, without the rope scaling its config.json is built with (Qwen2.5
with yarn: 32768 of 131072). Their ``positions`` / ``positions_source`` are cleared, so
``services/models.positions_of`` reads the files again (``read_positions``, now scaled), as for a
row imported before positions were recorded. Rows from a learned position table are unchanged.
A migration has only the database, not the data dir, so it cannot read the files itself.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# the sources read_positions wrote from config.json before rope scaling counted
_UNSCALED_SOURCES = ("max_position_embeddings in its config.json",
                     "n_positions in its config.json")


def upgrade() -> None:
    models = sa.table("models", sa.column("positions", sa.Integer()),
                      sa.column("positions_source", sa.String(128)))
    op.execute(models.update()
               .where(models.c.positions_source.in_(_UNSCALED_SOURCES))
               .values(positions=None, positions_source=None))


def downgrade() -> None:
    """Nothing to undo: a cleared row is read from its files, as one imported before 0006."""
