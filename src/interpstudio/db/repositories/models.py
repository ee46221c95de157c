"""Queries and writes on the ``models`` table, and what depends on a model.

Every write sets ``updated_at``. ``dependents`` lists the tokenizations and extractions that
reference a model (the foreign keys are ``RESTRICT``, so the service must refuse or remove them
first). This module is NOT responsible for the rules of who may do what (``services/models.py``)
or for files on disk.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.orm import Session

from interpstudio.db.base import utcnow
from interpstudio.db.models import Extraction, Model, Tokenization
from interpstudio.db.repositories.rows import update as update  # the shared write
from interpstudio.db.session import insert_if_absent


def get(session: Session, model_id: int) -> Model | None:
    return session.get(Model, model_id, populate_existing=True)


def create_unless_key_exists(session: Session, **fields: Any) -> tuple[Model, bool]:
    """The new model, or the one a concurrent request just made with the same ``key``;
    ``(model, created)``."""
    now = utcnow()
    created = insert_if_absent(session, Model, {"created_at": now, "updated_at": now,
                                                 "files": [], "info": {}, **fields}, ["key"])
    return get_by_key(session, fields["key"]), created  # type: ignore[return-value]


def get_by_key(session: Session, key: str) -> Model | None:
    return session.scalars(select(Model).where(Model.key == key)).first()


def _search(query: Select[Any], search: str | None) -> Select[Any]:
    if search:  # literal text: % and _ escaped (autoescape), not LIKE wildcards
        query = query.where(or_(Model.name.icontains(search, autoescape=True),
                                Model.repo_id.icontains(search, autoescape=True)))
    return query


def list_query(*, search: str | None = None) -> Select[Any]:
    """The models a list shows (its status filter: ``shown_status.list_by_shown_status``)."""
    return _search(select(Model), search)


def merge_info(session: Session, model: Model, **facts: Any) -> Model:
    """Set keys of the JSON ``info`` column (a new dict, so the change is detected)."""
    return update(session, model, info={**(model.info or {}), **facts})


def dependents(session: Session, model_id: int) -> dict[str, list[dict[str, Any]]]:
    """Tokenizations made with the model's tokenizer and extractions that ran it (or used those
    tokenizations), as ``{"tokenizations": [{id, status, path}], "extractions": [...]}``."""
    tokenizations = session.scalars(
        select(Tokenization).where(Tokenization.model_id == model_id).order_by(Tokenization.id)
    ).all()
    token_ids = [t.id for t in tokenizations]
    condition = Extraction.model_id == model_id
    if token_ids:
        condition = or_(condition, Extraction.tokenization_id.in_(token_ids))
    extractions = session.scalars(select(Extraction).where(condition).order_by(Extraction.id)
                                  ).all()
    return {
        "tokenizations": [{"id": t.id, "status": t.status, "path": t.path, "job_id": t.job_id}
                          for t in tokenizations],
        "extractions": [{"id": e.id, "name": e.name, "status": e.status, "path": e.path,
                         "job_id": e.job_id} for e in extractions],
    }


def delete_with_dependents(session: Session, model: Model,
                           found: dict[str, list[dict[str, Any]]]) -> None:
    """Delete the extractions, then tokenizations, then the model (foreign-key order)."""
    extraction_ids = [e["id"] for e in found["extractions"]]
    tokenization_ids = [t["id"] for t in found["tokenizations"]]
    if extraction_ids:
        session.execute(delete(Extraction).where(Extraction.id.in_(extraction_ids)))
    if tokenization_ids:
        session.execute(delete(Tokenization).where(Tokenization.id.in_(tokenization_ids)))
    session.delete(model)
    session.flush()
