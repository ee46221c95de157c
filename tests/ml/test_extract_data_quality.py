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
import torch
from extract_helpers import write_tokenization
from tiny_models import FAMILY_LAYOUTS, tiny_causal_lm

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


def hooked_by_hand(model: torch.nn.Module, family: str, sequence: list[int]) -> dict[str, Any]:
    """Every point of ``sequence`` run alone (no padding), read by forward hooks written here
    on the modules ``FAMILY_LAYOUTS`` names (not ``hooks.py``): point -> (T, width) float64."""
    layout = FAMILY_LAYOUTS[family]
    got: dict[str, torch.Tensor] = {}

    def keep(name: str, value: Any) -> None:
        tensor = value[0] if isinstance(value, tuple) else value
        got[name] = tensor.detach().clone().reshape(len(sequence), -1)

    handles = []
    for i, block in enumerate(model.get_submodule(layout.blocks)):
        handles += [
            block.register_forward_pre_hook(
                lambda _m, args, kwargs, i=i: keep(f"blocks.{i}.resid_pre",
                                                    args[0] if args else kwargs["hidden_states"]),
                with_kwargs=True),
            block.register_forward_hook(
                lambda _m, _a, out, i=i: keep(f"blocks.{i}.resid_post", out)),
            block.get_submodule(layout.attn_out).register_forward_hook(
                lambda _m, _a, out, i=i: keep(f"blocks.{i}.attn_out", out)),
            block.get_submodule(layout.mlp_out).register_forward_hook(
                lambda _m, _a, out, i=i: keep(f"blocks.{i}.mlp_out", out)),
            block.get_submodule(str(layout.down_proj)).register_forward_pre_hook(
                lambda _m, args, i=i: keep(f"blocks.{i}.mlp_act", args[0])),
        ]
    try:
        with torch.no_grad():
            model(input_ids=torch.tensor([sequence]), use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return {name: tensor.double().numpy() for name, tensor in got.items()}


@pytest.mark.parametrize(("family", "positions", "every_k", "max_tokens", "batch_size"), [
    ("llama", "every_k", 2, 30, 4),  # a cut sequence, a short last batch
    ("opt", "exclude_bos", 1, None, 3),  # fc2 sees tokens flattened to (B*T, width)
])
def test_every_point_kind_under_a_position_policy_equals_hooks_written_by_hand(
    family: str, positions: str, every_k: int, max_tokens: int | None, batch_size: int,
    tmp_path: Path,
) -> None:
    """The fidelity test compares resid / attn_out / mlp_out under ``all``; here ``mlp_act`` too,
    under other policies, with padding, one-token and BOS-only sequences, against forward hooks
    written from scratch on each sequence run alone (what the QA pass probed on 8 families)."""
    model = tiny_causal_lm(family)
    sequences = [[1], [1, 9, 30, 4, 77, 5], [12], [1, 40, 41], [6, 7, 8, 9, 10, 11, 12, 13],
                 [1, 200, 201], [99, 98], [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]]
    tokens = write_tokenization(tmp_path / "tok", sequences,
                                policy={"tokenizer": {"bos_token_id": 1}})
    extract(model, tokens, "blocks.*.{resid_pre,resid_post,attn_out,mlp_out,mlp_act}",
            out_dir=tmp_path / "s", batch_size=batch_size, positions=positions, every_k=every_k,
            max_tokens=max_tokens, dtype="float32", shard_rows=7, durable=False)
    acts = open_activations(tmp_path / "s")

    wanted, budget = [], max_tokens or 1 << 30
    for index, sequence in enumerate(sequences):
        read = sequence[:budget]
        budget -= len(read)
        if positions == "every_k":
            kept = range(every_k - 1, len(read), every_k)
        else:
            kept = range(1 if read and read[0] == 1 else 0, len(read))
        wanted += [(sequence[p], index, p) for p in kept]
        if budget <= 0:
            break
    assert [tuple(row) for row in acts.tokens[:].tolist()] == wanted
    by_hand = [hooked_by_hand(model, family, sequence) for sequence in sequences]
    assert len(acts.hook_names) == 5 * 3
    for name in acts.hook_names:
        reference = np.stack([by_hand[index][name][p] for _, index, p in wanted])
        error = np.abs(acts[name][:] - reference).max()
        assert error <= 1e-5, f"{family} {name}: max-abs {error}"
