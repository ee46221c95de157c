"""Data-correctness checks of what an extraction stores and how it reads back, found by an
adversarial QA pass: each test failed on the code before its fix.

Real tiny models, real stores on disk; no mocks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from extract_helpers import write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, open_activations


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_np_asarray_of_a_hook_point_is_its_rows_not_its_shards_stacked(
    dtype: str, tmp_path: Path
) -> None:
    """``np.asarray(acts[hook])`` built the array from ``__iter__`` (one shard at a time): 24
    rows in 3 shards of 8 came back as (3, 8, 64), silently, and ``.mean(0)`` averaged across
    shards; 25 rows (a short last shard) raised."""
    model = tiny_causal_lm("llama")
    for rows in (24, 25):
        tokens = write_tokenization(tmp_path / f"tok{rows}",
                                    [[5, 6, 7, 8]] * 6 + [[9]] * (rows - 24))
        extract(model, tokens, ["blocks.1.resid_post"], out_dir=tmp_path / f"s{rows}",
                batch_size=3, dtype=dtype, shard_rows=8, durable=False)
        acts = open_activations(tmp_path / f"s{rows}")
        points = acts["blocks.1.resid_post"]
        read = np.asarray(points)
        assert read.shape == points.shape == (rows, 64)
        assert read.dtype == points.dtype
        np.testing.assert_array_equal(read, points[:])
        np.testing.assert_array_equal(np.asarray(acts.tokens), acts.tokens[:])
        assert np.asarray(points, dtype=np.float64).dtype == np.float64
        with pytest.raises(ValueError, match="always copies"):
            np.asarray(points, copy=False)


def test_an_empty_list_selects_no_row_as_in_numpy(tmp_path: Path) -> None:
    """``acts[hook][[]]`` (rows picked by a list comprehension that found nothing) raised
    InvalidInput: numpy reads ``[]`` as a float array, which the integer-index check refused;
    numpy itself returns no row."""
    tokens = write_tokenization(tmp_path / "tok", [[5, 6, 7, 8]] * 3)
    extract(tiny_causal_lm("llama"), tokens, ["blocks.1.resid_post"], out_dir=tmp_path / "s",
            batch_size=3, shard_rows=5, durable=False)
    acts = open_activations(tmp_path / "s")
    wanted = [row for row, token in enumerate(acts.tokens[:, 0]) if token == 999]
    assert acts["blocks.1.resid_post"][wanted].shape == (0, 64)
    assert acts.tokens[[], 0].shape == (0,)


def metaspace_tokenizer() -> Any:
    """A real Llama-2-style fast tokenizer (BPE, Metaspace pre-tokenizer and decoder, byte
    fallback), trained offline on a few lines: its decoder strips the space a text opens with."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(byte_fallback=True, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                           decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>", *(f"<0x{i:02X}>" for i in range(256))]
    tokenizer.train_from_iterator(TEXTS * 20, trainer=trainers.BpeTrainer(
        vocab_size=420, special_tokens=specials, show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>",
                                   eos_token="</s>", unk_token="<unk>")


TEXTS = ["The quick brown fox jumps over the lazy dog.",
         "A stitch in time saves nine, said the tailor to the apprentice.",
         "Call me Ishmael. Some years ago, never mind how long precisely."]


def test_top_token_samples_read_as_their_span_with_a_metaspace_tokenizer(tmp_path: Path) -> None:
    """``samples.json`` decoded the token, the text before and the text after apart: a Metaspace
    decoder strips the space a text opens with, so '▁brown' read "brown" and the top-tokens
    table showed "The quickbrownfox jumps" (byte-level BPE, the tests' tokenizers, keeps it)."""
    from interpstudio.jobs.tasks.extraction import CONTEXT_AFTER, CONTEXT_BEFORE, _write_samples

    tokenizer = metaspace_tokenizer()
    sequences = [[tokenizer.bos_token_id, *tokenizer(t, add_special_tokens=False)["input_ids"]]
                 for t in TEXTS]
    assert tokenizer.convert_ids_to_tokens(sequences[0][3]) == "▁brown"
    tokens = write_tokenization(tmp_path / "tok", sequences)
    model = tiny_causal_lm("llama", vocab_size=512)
    extract(model, tokens, ["blocks.1.resid_post"], out_dir=tmp_path / "run" / "store",
            batch_size=2, dtype="float32", durable=False)
    _write_samples(tmp_path / "run", tmp_path / "run" / "store", tokens, tokenizer)

    samples = json.loads((tmp_path / "run" / "samples.json").read_text())
    tops = samples["groups"]["non_bos"]["blocks.1.resid_post"]
    assert tops
    for top in tops:
        sequence, p = sequences[top["sequence"]], top["position"]
        span = sequence[max(0, p - CONTEXT_BEFORE) : p + 1 + CONTEXT_AFTER]
        assert top["before"] + top["token"] + top["after"] == tokenizer.decode(span)
        if tokenizer.convert_ids_to_tokens(sequence[p]).startswith("▁"):
            assert top["token"].startswith(" "), top

    from interpstudio.ml.token_pieces import text_around

    # a span cut mid-text opens with its first token's text as the decoder reads a text's start
    assert text_around(tokenizer, sequences[0], 3, 2, 1) == ("The quick", " brown", " fox")
