"""Shared pieces of the extraction tests: tokenizations on disk and store comparisons.

``write_tokenization(folder, sequences)`` writes a real token store (``TokenStoreWriter``);
``random_sequences`` makes reproducible token lists of varied lengths; ``shard_hashes`` maps each
shard file of a store to its sha256 (for byte-identity checks); ``stop_once_stored`` is a
``should_stop`` that asks to stop only once given shards are committed. NOT responsible for models
(``tiny_models.py``, ``hub_server.tiny_models``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from interpstudio.ml.store import listed_files, read_manifest
from interpstudio.ml.store_journal import JOURNAL_NAME, read_journal
from interpstudio.ml.token_store import TokenStoreWriter


def random_sequences(
    n: int, *, vocab: int = 256, low: int = 1, high: int = 20, seed: int = 0, first: int = 3
) -> list[list[int]]:
    """``n`` sequences of ``low..high-1`` token ids in ``first..vocab-1``."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(first, vocab, size=int(rng.integers(low, high))).tolist() for _ in range(n)
    ]


def write_tokenization(
    folder: Path, sequences: list[list[int]], *, tokenizer_key: str = "tiny@1",
    policy: dict[str, object] | None = None,
) -> Path:
    writer = TokenStoreWriter(folder, meta={"tokenizer_key": tokenizer_key,
                                            "policy": policy or {}})
    if sequences:
        writer.append(sequences, list(range(len(sequences))))
    return writer.finish(counts={})


def shard_hashes(store: Path) -> dict[str, str]:
    """store-relative path -> sha256 of every file the manifest lists, recomputed from disk."""
    manifest = read_manifest(store)
    return {
        rel: hashlib.sha256((store / rel).read_bytes()).hexdigest()
        for rel, _ in listed_files(manifest)
    }


def stop_once_stored(store: Path, shards: int, when: Callable[[], bool], *,
                     timeout_s: float = 60.0) -> Callable[[], bool]:
    """A ``should_stop`` that says stop once ``when()`` does and ``store`` holds ``shards``
    committed shards, waiting for them. Why: a stop drops a full shard whose write has not begun
    (``ActivationWriter.abort``), so a test that stops right after a shard fills and expects it
    kept would race the writer's committer thread (seen on a loaded 2-core CI run)."""

    def should_stop() -> bool:
        if not when():
            return False
        deadline = time.monotonic() + timeout_s
        while (committed := len(getattr(read_journal(store / JOURNAL_NAME), "lines", []))) < shards:
            if time.monotonic() > deadline:
                raise AssertionError(f"{store} holds {committed} shard(s) after {timeout_s} s, "
                                     f"expected {shards}")
            time.sleep(0.005)
        return True

    return should_stop
