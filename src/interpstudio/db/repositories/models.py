"""Queries and writes on the ``models`` table, and what depends on a model.

Every write sets ``updated_at``, but ``fill_unset`` (a value read from the model's files that
the row was shown with already: nothing shown changes); so a row whose ``updated_at`` is the one
read has the ``info`` read (``fill_info_unset``). ``dependents`` lists the tokenizations
and extractions that reference a model (the foreign keys are ``RESTRICT``, so the service must
refuse or remove them first). This module is NOT responsible for the rules of who may do what
(``services/models.py``) or for files on disk.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, or_, select
from sqlalchemy import update as sql_update
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


def lacking_file_facts(session: Session) -> list[Model]:
    """Ready models with files whose row lacks ``positions`` or ``tokenizer_sha256``, by id."""
    return list(session.scalars(
        select(Model).where(Model.status == "ready", Model.path.is_not(None),
                            or_(Model.positions.is_(None), Model.tokenizer_sha256.is_(None)))
        .order_by(Model.id)).all())


def fill_unset(session: Session, model: Model, column: str, **values: Any) -> bool:
    """Write ``values`` on ``model``'s row only where its ``column`` is still NULL and the row is
    still the one ``model`` was read as: it exists, is ready, at the same path, not written
    since (``updated_at``). True when written. One conditional UPDATE, so two processes filling
    one row never fail (the second matches nothing) and a model deleted, re-imported or renamed
    meanwhile is left alone. ``updated_at`` is not set: the values are what the row was shown
    with already (read from its files). Flushed, not committed; ``model`` is not changed."""
    statement = (sql_update(Model)
                 .where(Model.id == model.id, Model.status == "ready", Model.path == model.path,
                        Model.updated_at == model.updated_at, getattr(Model, column).is_(None))
                 .values(**values).execution_options(synchronize_session=False))
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def lacking_source_quantization(session: Session, *,
                                model_ids: list[int] | None = None) -> list[Model]:
    """Ready models imported from a local or bundled GGUF file whose ``info`` lacks
    ``source_quantization`` (imported before it was recorded), by id; ``model_ids`` narrows
    them. The JSON is read here, not queried: SQLite and PostgreSQL spell a key's absence
    differently, and these are the few ready local models."""
    query = select(Model).where(Model.status == "ready", Model.path.is_not(None),
                                Model.source.in_(("local", "bundled")))
    if model_ids is not None:
        query = query.where(Model.id.in_(model_ids))
    return [model for model in session.scalars(query.order_by(Model.id)).all()
            if (model.info or {}).get("import_kind") == "gguf"
            and "source_quantization" not in (model.info or {})]


def fill_info_unset(session: Session, model: Model, **facts: Any) -> bool:
    """Set keys of ``model``'s ``info`` only where the row is still the one ``model`` was read
    as: it exists, is ready, at the same path, not written since (``updated_at``, which every
    write of ``info`` sets), so the keys it lacked then are still unset and no key written
    meanwhile is lost. True when written. One conditional UPDATE, so two processes filling one
    row never fail (the second matches nothing: the first set ``updated_at``, as the row now
    shows something it did not). Flushed, not committed; ``model`` is not changed."""
    statement = (sql_update(Model)
                 .where(Model.id == model.id, Model.status == "ready", Model.path == model.path,
                        Model.updated_at == model.updated_at)
                 .values(info={**(model.info or {}), **facts}, updated_at=utcnow())
                 .execution_options(synchronize_session=False))
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


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
