"""Queries and writes on the ``datasets`` and ``tokenizations`` tables, and what depends on them.

Every write sets ``updated_at``. ``dependents`` lists the tokenizations of a dataset and the
extractions that use them (the foreign keys are ``RESTRICT``, so the service refuses or removes
them first). This module is NOT responsible for the rules of who may do what
(``services/datasets.py``, ``services/tokenizations.py``) or for files on disk.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from interpstudio.db.base import utcnow
from interpstudio.db.models import Dataset, Extraction, Tokenization
from interpstudio.db.repositories.rows import update as update  # the shared write
from interpstudio.db.session import insert_if_absent

Row = TypeVar("Row", Dataset, Tokenization)


def create_dataset(session: Session, **fields: Any) -> Dataset:
    now = utcnow()
    dataset = Dataset(**{"files": [], "info": {}, **fields, "created_at": now,
                         "updated_at": now})
    session.add(dataset)
    session.flush()
    return dataset


def get_dataset(session: Session, dataset_id: int) -> Dataset | None:
    return session.get(Dataset, dataset_id, populate_existing=True)


def list_datasets(session: Session, *, limit: int = 50,
                  offset: int = 0) -> tuple[list[Dataset], int]:
    total = session.scalar(select(func.count()).select_from(Dataset)) or 0
    items = session.scalars(select(Dataset).order_by(Dataset.id.desc()).limit(limit)
                            .offset(offset)).all()
    return list(items), int(total)


def list_by_source(session: Session, source: str) -> list[Dataset]:
    """The datasets of one source kind, oldest first."""
    return list(session.scalars(select(Dataset).where(Dataset.source == source)
                                .order_by(Dataset.id)))


def create_tokenization_unless_made(session: Session, **fields: Any) -> tuple[Tokenization, bool]:
    """The new tokenization, or the one a concurrent request just made for the same dataset,
    tokenizer and policy; ``(tokenization, created)``."""
    now = utcnow()
    unique = ("dataset_id", "tokenizer_key", "policy_hash")
    created = insert_if_absent(session, Tokenization,
                               {"created_at": now, "updated_at": now, **fields}, unique)
    made = find_tokenization(session, **{k: fields[k] for k in unique})
    return made, created  # type: ignore[return-value]


def get_tokenization(session: Session, tokenization_id: int) -> Tokenization | None:
    return session.get(Tokenization, tokenization_id, populate_existing=True)


def find_tokenization(session: Session, *, dataset_id: int, tokenizer_key: str,
                      policy_hash: str) -> Tokenization | None:
    return session.scalars(select(Tokenization).where(
        Tokenization.dataset_id == dataset_id, Tokenization.tokenizer_key == tokenizer_key,
        Tokenization.policy_hash == policy_hash)).first()


def list_tokenizations(session: Session, *, dataset_id: int, limit: int = 50, offset: int = 0,
                       tokenizer_keys: Collection[str] | None = None,
                       ) -> tuple[list[Tokenization], int]:
    """Newest first; with ``tokenizer_keys``, only those made with one of them."""
    query = select(Tokenization).where(Tokenization.dataset_id == dataset_id)
    if tokenizer_keys is not None:
        query = query.where(Tokenization.tokenizer_key.in_(tokenizer_keys))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(Tokenization.id.desc()).limit(limit)
                            .offset(offset)).all()
    return list(items), int(total)


def tokenizer_keys_of(session: Session, dataset_id: int) -> list[str]:
    """The tokenizers (``tokenizer_key``) the dataset's tokenizations were made with."""
    return list(session.scalars(select(Tokenization.tokenizer_key).distinct()
                                .where(Tokenization.dataset_id == dataset_id)))


def extractions_using(session: Session, tokenization_ids: list[int]) -> list[dict[str, Any]]:
    if not tokenization_ids:
        return []
    rows = session.scalars(select(Extraction).where(
        Extraction.tokenization_id.in_(tokenization_ids)).order_by(Extraction.id)).all()
    return [{"id": e.id, "name": e.name, "status": e.status, "path": e.path,
             "job_id": e.job_id} for e in rows]


def dependents(session: Session, dataset_id: int) -> dict[str, list[dict[str, Any]]]:
    """``{"tokenizations": [{id, status, path, job_id}], "extractions": [...]}``."""
    tokenizations = session.scalars(select(Tokenization).where(
        Tokenization.dataset_id == dataset_id).order_by(Tokenization.id)).all()
    return {
        "tokenizations": [{"id": t.id, "status": t.status, "path": t.path, "job_id": t.job_id}
                          for t in tokenizations],
        "extractions": extractions_using(session, [t.id for t in tokenizations]),
    }


def delete_rows(session: Session, *, extraction_ids: list[int], tokenization_ids: list[int],
                dataset: Dataset | None = None) -> None:
    """Delete extractions, then tokenizations, then the dataset (foreign-key order)."""
    if extraction_ids:
        session.execute(delete(Extraction).where(Extraction.id.in_(extraction_ids)))
    if tokenization_ids:
        session.execute(delete(Tokenization).where(Tokenization.id.in_(tokenization_ids)))
    if dataset is not None:
        session.delete(dataset)
    session.flush()
