"""The write every table the app keeps rows of shares: set fields and ``updated_at``.

``update`` is what ``models.update``, ``datasets.update`` and ``extractions.update`` are (each
repository re-exports it, so a caller names the table's repository as for any other write). This
module is NOT responsible for what may be written (services) or for the jobs table, whose writes
also bump its revision (``jobs.update_fields``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from interpstudio.db.base import utcnow
from interpstudio.db.models import Dataset, Extraction, Model, Tokenization

Row = TypeVar("Row", Dataset, Extraction, Model, Tokenization)


def update(session: Session, row: Row, **fields: Any) -> Row:
    """Set ``fields`` on ``row`` and its ``updated_at``; flushed, not committed."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    return row
