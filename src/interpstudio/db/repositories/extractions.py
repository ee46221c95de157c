"""Queries and writes on the ``extractions`` table.

Every write sets ``updated_at``. ``for_model`` lists the extractions that reference a model (the
models service refuses to delete a model in use; the foreign key is ``RESTRICT`` as a last line).
This module is NOT responsible for the rules of what may be created, run or deleted
(``services/extractions.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from interpstudio.db.base import utcnow
from interpstudio.db.models import ACTIVE_STATES, Extraction
from interpstudio.db.repositories.rows import update as update  # the shared write


def create(session: Session, **fields: Any) -> Extraction:
    now = utcnow()
    row = Extraction(created_at=now, updated_at=now, **fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, extraction_id: int) -> Extraction | None:
    return session.get(Extraction, extraction_id, populate_existing=True)


def list_query(*, model_id: int | None = None, tokenization_id: int | None = None,
               search: str | None = None) -> Select[Any]:
    """The extractions a list shows (its status filter: ``shown_status.list_by_shown_status``)."""
    query = select(Extraction)
    if model_id is not None:
        query = query.where(Extraction.model_id == model_id)
    if tokenization_id is not None:
        query = query.where(Extraction.tokenization_id == tokenization_id)
    if search:  # literal text: % and _ escaped (autoescape), not LIKE wildcards
        query = query.where(or_(Extraction.name.icontains(search, autoescape=True),
                                Extraction.config_hash.icontains(search, autoescape=True)))
    return query


def underway_with_config(session: Session, config_hash: str,
                         exclude_id: int | None = None) -> Extraction | None:
    """The oldest queued or running extraction of this configuration, if any."""
    query = select(Extraction).where(Extraction.config_hash == config_hash,
                                     Extraction.status.in_(ACTIVE_STATES))
    if exclude_id is not None:
        query = query.where(Extraction.id != exclude_id)
    return session.scalars(query.order_by(Extraction.id).limit(1)).first()


def newest_with_config(session: Session, config_hash: str, *,
                       status: str | None = None) -> Extraction | None:
    """The newest extraction of this configuration (with this ``status``, else whatever its
    status), if any."""
    query = select(Extraction).where(Extraction.config_hash == config_hash)
    if status is not None:
        query = query.where(Extraction.status == status)
    return session.scalars(query.order_by(Extraction.id.desc()).limit(1)).first()


def for_model(session: Session, model_id: int) -> list[Extraction]:
    return list(session.scalars(
        select(Extraction).where(Extraction.model_id == model_id).order_by(Extraction.id)).all())


def delete(session: Session, row: Extraction) -> None:
    session.delete(row)
    session.flush()
