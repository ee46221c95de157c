"""The list searches (``?q=`` on extractions, ``?search=`` on models) match their text literally,
on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from interpstudio.db.repositories import datasets, extractions, models
from interpstudio.services import extractions as extraction_service
from interpstudio.services import models as model_service

NAMES = ["plain run", "50% done", "under_score", "back\\slash", "slash/ed"]


@pytest.fixture
def rows(session_factory) -> Session:  # type: ignore[no-untyped-def]
    with session_factory() as session:
        dataset = datasets.create_dataset(session, name="d", source="local")
        for i, name in enumerate(NAMES):
            model = models.create_unless_key_exists(session, key=f"k{i}", name=name,
                                                    source="local")[0]
            tokenization = datasets.create_tokenization_unless_made(
                session, dataset_id=dataset.id, model_id=model.id, tokenizer_key=f"k{i}",
                policy_hash="p")[0]
            extractions.create(session, name=name, model_id=model.id,
                               tokenization_id=tokenization.id, config_hash=f"hash{i}",
                               spec={})
        session.commit()
        yield session


@pytest.mark.parametrize(("search", "expected"), [
    ("%", ["50% done"]), ("_", ["under_score"]), ("\\", ["back\\slash"]),
    ("/", ["slash/ed"]), ("50%", ["50% done"]), ("plain_run", []), ("PLAIN", ["plain run"]),
])
def test_search_matches_wildcard_characters_literally(rows: Session, search: str,
                                                      expected: list[str]) -> None:
    """Found by a tester: ``?q=%`` and ``?q=_`` matched every extraction and model (the text
    went into LIKE unescaped)."""
    found, total = extraction_service.list_extractions(
        session=rows, statuses=[], model_id=None, tokenization_id=None, search=search, limit=50,
        offset=0)
    assert sorted(e.name for e in found) == sorted(expected) and total == len(expected)
    found_models, total = model_service.list_models(session=rows, statuses=None, search=search,
                                                    limit=50, offset=0)
    assert sorted(m.name for m in found_models) == sorted(expected)
    assert total == len(expected)
