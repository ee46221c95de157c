"""The SAELens export of stores whose rows are not consecutive tokens (position policies
``last``, ``every_k``, ``exclude_bos``): exported, with a warning saying what the rows are.
(The layout, packing and target rules are tested with the store, ``test_store.py``.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from extract_helpers import random_sequences, write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, open_activations
from interpstudio.ml.export import export_saelens

SEQUENCES = [[1, *s] for s in random_sequences(12, low=31, high=32, seed=5)]  # 32 tokens each


@pytest.mark.parametrize(("positions", "k", "context_size", "said"), [
    ("all", 1, 32, None),
    ("every_k", 4, 8, "keeps one token in 4 of each sequence (positions 'every_k', k=4: "
                      "positions 3, 7, 11, ...), so a dataset row of 8 holds tokens 4 apart"),
    ("last", 1, 1, "keeps only the last token of each sequence (positions 'last'), so each "
                   "dataset row holds one sequence's last token"),
    ("exclude_bos", 1, 31, "each sequence's first token is not stored"),
])
def test_an_export_says_when_its_rows_are_not_consecutive_tokens(
        tmp_path: Path, positions: str, k: int, context_size: int, said: str | None) -> None:
    """A ``last`` store exported as context_size 1 and an ``every_k=4`` store of 32-token
    sequences as 8-row "contexts" of tokens 4 apart, without a word: SAELens takes a dataset
    row for consecutive text."""
    datasets = pytest.importorskip("datasets")
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, positions=positions, every_k=k)
    done = export_saelens(tmp_path / "s", tmp_path / "out")
    assert done.context_size == context_size and done.rows == len(SEQUENCES)
    if said is None:
        assert done.warnings == ()
    else:
        assert len(done.warnings) == 1 and said in done.warnings[0], done.warnings
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    assert np.array_equal(table["token_ids"][:].reshape(-1),
                          open_activations(tmp_path / "s").tokens[:, 0])
    if positions == "last":  # packed wider, the row is the last tokens of other sequences
        wide = export_saelens(tmp_path / "s", tmp_path / "wide", context_size=4)
        assert "the last tokens of 4 different sequences" in wide.warnings[0]


def test_an_export_says_how_many_rows_hold_two_sequences(tmp_path: Path) -> None:
    """The UI tester: context_size 100 over 256-token sequences packed rows across sequence
    boundaries without a word. 12 sequences of 32 tokens as rows of 24: rows 2, 3, 5, 6, ...
    (those over a multiple of 32) hold two sequences' tokens; rows of 16 none."""
    pytest.importorskip("datasets")
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False)
    packed = export_saelens(tmp_path / "s", tmp_path / "packed", context_size=24)
    starts = np.arange(packed.rows) * 24
    spanning = int(np.count_nonzero(starts // 32 != (starts + 23) // 32))
    assert spanning > 0 and packed.warnings == (
        f"{spanning:,} of {packed.rows:,} dataset rows hold tokens of two or more stored "
        "sequences (context_size 24 packs the token stream across sequence boundaries), which "
        "SAELens will treat as one text; use their length, 32, as context_size to keep them "
        "apart",)
    assert export_saelens(tmp_path / "s", tmp_path / "halves", context_size=16).warnings == ()
