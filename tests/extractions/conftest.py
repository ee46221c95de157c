"""Fixtures of the extraction capability: a ready model row (the tiny llama checkpoint copied
under the data dir) and tokenization rows made with its real tokenizer, created through the ORM
(the models and datasets services are built by colleagues in parallel)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from extraction_world import ExtractionWorld
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import Dataset, Model, Tokenization
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.ml.token_store import TokenStoreWriter

MODEL_KEY = "org/tiny@0123abc"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A stitch in time saves nine, said the tailor to the apprentice.",
    "Call me Ishmael. Some years ago, never mind how long precisely.",
    "It was the best of times, it was the worst of times.",
    "In the beginning was the word.",
]


@pytest.fixture
def world(sqlite_settings: Settings, tiny_llama_dir: Path) -> ExtractionWorld:
    from transformers import AutoTokenizer

    settings = sqlite_settings
    root = settings.data_dir
    checkpoint = root / "models" / "1" / "checkpoint"
    shutil.copytree(tiny_llama_dir, checkpoint)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model = Model(key=MODEL_KEY, name="tiny llama", source="local", status="ready",
                      path="models/1/checkpoint", n_layers=2, d_model=64, model_type="llama",
                      precision_requested="fp32", precision_used="fp32", updated_at=utcnow())
        dataset = Dataset(name="quotes", source="local", status="ready", path="datasets/1",
                          rows=len(TEXTS), updated_at=utcnow())
        session.add_all([model, dataset])
        session.flush()
        model_id, dataset_id = model.id, dataset.id
    made = {"n": 0}

    def tokenization(texts: list[str] = TEXTS, repeat: int = 1,
                     tokenizer_key: str = MODEL_KEY, policy_hash: str | None = None,
                     policy: dict[str, Any] | None = None, dataset: int | None = None) -> int:
        made["n"] += 1
        dataset = dataset or dataset_id
        rel = f"datasets/{dataset}/tokenizations/{made['n']}"
        sequences = [tokenizer(t)["input_ids"] for t in texts] * repeat
        writer = TokenStoreWriter(root / rel, meta={
            "tokenizer_key": tokenizer_key, "policy": {"bos_token_id": tokenizer.bos_token_id}})
        if sequences:
            writer.append(sequences, list(range(len(sequences))))
        writer.finish(counts={})
        with factory.begin() as session:
            row = Tokenization(dataset_id=dataset, model_id=model_id,
                               tokenizer_key=tokenizer_key, policy=policy or {},
                               policy_hash=policy_hash or f"p{made['n']}",
                               status="ready", path=rel, updated_at=utcnow(),
                               counts={"sequences": len(sequences),
                                       "tokens": sum(map(len, sequences))})
            session.add(row)
            session.flush()
            return row.id

    return ExtractionWorld(settings, factory, model_id, dataset_id, tokenization)
