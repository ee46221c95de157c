"""Which models share one tokenizer: a fingerprint of a model's tokenizer files, and the
tokenizations a model may use because of it.

A tokenization records the ``key`` of the model whose tokenizer made it (``tokenizer_key``). Two
models whose tokenizer files are byte-identical (sizes of one family that ship one tokenizer, two
checkpoints or fine-tunes of one model, one model downloaded and imported) tokenize every text
alike, so a tokenization made with one serves the other: its ids, sequences and source rows are the
ones the other would have made (so one is never made again for the other under the same policy:
``services/tokenizations.create_tokenization``). The fingerprint (``tokenizer_sha256``) is the
sha256 of the names and sha256s of the files that decide tokenization (``TOKENIZER_FILE_NAMES`` and
``*.tiktoken``), in name order; files that do not (config.json, chat templates, weights) are left
out, so weights may differ. It is recorded on the model row by its import (``jobs/tasks/models.py``)
and read from the model's files for a row imported before it was (``services/model_backfill.py``
writes it on such rows once per start). Bytes, not behaviour: a
tokenizer_config.json that differs only in its chat template makes another fingerprint (refused,
never mixed up).

This module is NOT responsible for the engine's own check of a tokenization against a loaded
tokenizer (``ml/extract_plan.check_tokenizer``, run again by every preflight and run) or for
refusing what does not match (``services/extractions.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.db.models import Model
from interpstudio.db.repositories import models as model_repo
from interpstudio.ml.text_store import sha256_of
from interpstudio.services.models import remember_row, row_as_read

# what transformers' tokenizers read from a checkpoint folder (fast tokenizer, its config and
# special tokens, slow BPE / WordPiece / SentencePiece vocabularies), by name
TOKENIZER_FILE_NAMES = (
    "added_tokens.json", "merges.txt", "sentencepiece.bpe.model", "special_tokens_map.json",
    "spiece.model", "tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json",
    "vocab.txt",
)
TIKTOKEN_SUFFIX = ".tiktoken"  # tiktoken-based tokenizers name their ranks file freely


def tokenizer_files(folder: Path) -> list[Path]:
    """The files of ``folder`` that decide its tokenizer, in name order."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_file() and (
        p.name in TOKENIZER_FILE_NAMES or p.name.endswith(TIKTOKEN_SUFFIX))),
        key=lambda p: p.name)


def read_tokenizer_sha256(folder: Path) -> str | None:
    """The fingerprint of the tokenizer in ``folder``: sha256 over ``<name> <sha256>`` lines of
    ``tokenizer_files`` (a renamed or added file changes it too); None without any."""
    files = tokenizer_files(folder)
    if not files:
        return None
    lines = "".join(f"{p.name} {sha256_of(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def tokenizer_sha256_of(*, model: Model, paths: DataPaths) -> str | None:
    """``model``'s fingerprint as its import recorded it, else read from its files (a row
    imported before it was, until ``services/model_backfill.py`` writes it on the row); None for
    a model without tokenizer files (a ready one's folder is listed once per process, not on
    every request: ``_NO_TOKENIZER``)."""
    if model.tokenizer_sha256 is not None:
        return model.tokenizer_sha256
    if not model.path:
        return None
    unsaid = row_as_read(model, paths)
    if unsaid in _NO_TOKENIZER:
        return None
    found = read_tokenizer_sha256(ensure_within(paths.root / model.path, [paths.root]))
    if found is None and model.status == "ready":
        remember_row(_NO_TOKENIZER, unsaid)
    return found


# ready rows without tokenizer files, as read by this process (``services/models.row_as_read``)
_NO_TOKENIZER: set[tuple[Any, ...]] = set()


def maker_of(session: Session, tokenizer_key: str) -> Model | None:
    """The model whose tokenizer made a tokenization with ``tokenizer_key`` (None: deleted)."""
    return model_repo.get_by_key(session, tokenizer_key)


def usable_tokenizer_keys(*, session: Session, paths: DataPaths, model: Model,
                          keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` (tokenizations' ``tokenizer_key``) that ``model`` may use: its own key,
    and the keys of models with its tokenizer fingerprint. A key whose model is gone, or a
    model without a fingerprint, is never usable by another model."""
    wanted = set(keys)
    usable = {model.key} & wanted
    others = wanted - usable
    if not others:
        return usable
    mine = tokenizer_sha256_of(model=model, paths=paths)
    if mine is None:
        return usable
    for key in sorted(others):
        maker = maker_of(session, key)
        if maker is not None and tokenizer_sha256_of(model=maker, paths=paths) == mine:
            usable.add(key)
    return usable
