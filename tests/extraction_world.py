"""``ExtractionWorld``, what the extraction tests' ``world`` fixture (``extractions/conftest.py``)
gives: a module of its own because ``from conftest import ...`` finds whichever ``conftest`` was
imported first, and running ``tests/datasets`` before ``tests/extractions`` broke collection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.settings import Settings


@dataclass
class ExtractionWorld:
    settings: Settings
    factory: sessionmaker[Session]
    model_id: int
    dataset_id: int
    # (texts, repeat=1, tokenizer_key=MODEL_KEY, policy_hash=None) -> id
    tokenization: Callable[..., int]
