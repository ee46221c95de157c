"""The SAELens export of stores whose rows are not consecutive tokens (position policies
``last``, ``every_k``, ``exclude_bos``): exported, with a warning saying what the rows are; and
columns named by module path (what SAELens hooks for an ``AutoModelForCausalLM``).
(The layout, packing and target rules are tested with the store, ``test_store.py``.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from extract_helpers import random_sequences, write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.core.errors import InvalidInput
from interpstudio.ml import extract, open_activations
from interpstudio.ml.architecture import resolve_architecture
from interpstudio.ml.export import (
    EXPORT_MANIFEST,
    NoModulePath,
    compact_points,
    export_saelens,
    output_modules,
)
from interpstudio.ml.hook_points import expand_hook_points
from interpstudio.ml.model_inspect import hook_points_by_layer

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


def _saelens_capture(model: Any, columns: list[str], ids: torch.Tensor) -> dict[str, np.ndarray]:
    """What SAELens 6.54.12 sees at a module path with model_class_name='AutoModelForCausalLM'
    (``sae_lens/load_model.py`` ``get_hook_fn``): the module's output, element 0 of a tuple."""
    seen: dict[str, list[torch.Tensor]] = {c: [] for c in columns}

    def hook(column: str) -> Any:
        def keep(_module: Any, _args: Any, output: Any) -> None:
            if isinstance(output, tuple):
                output = output[0]
            seen[column].append(output.detach().float().reshape(-1, output.shape[-1]))
        return keep

    handles = [model.get_submodule(c).register_forward_hook(hook(c)) for c in columns]
    try:
        with torch.no_grad():
            for batch in ids.split(4):  # the batches of the extraction (same padding: none)
                model(input_ids=batch, use_cache=False)
    finally:
        for handle in handles:
            handle.remove()
    return {c: torch.cat(parts).numpy() for c, parts in seen.items()}


@pytest.mark.parametrize("family", ["llama", "gpt2", "bloom"])
def test_a_module_path_export_names_columns_by_module_and_holds_what_saelens_hooks_there(
        tmp_path: Path, family: str) -> None:
    """SAELens with model_class_name='AutoModelForCausalLM' hooks module paths and refused the
    hook point names of our columns. Each module-path column holds exactly the stored rows, and
    those are what a forward hook on that module (SAELens's) sees; the mapping is recorded."""
    datasets = pytest.importorskip("datasets")
    model = tiny_causal_lm(family)
    architecture = resolve_architecture(model)
    points = ["blocks.0.resid_post", "blocks.1.attn_out", "blocks.1.mlp_out"]
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(model, tokens, points, out_dir=tmp_path / "s", batch_size=4, durable=False,
            dtype="float32")
    modules = output_modules(hook_points_by_layer(architecture))
    done = export_saelens(tmp_path / "s", tmp_path / "out", column_names="module_paths",
                          modules=modules)

    block = architecture.block(1)
    expected = {architecture.block(0).path: "blocks.0.resid_post",
                block.attn_out: "blocks.1.attn_out", block.mlp_out: "blocks.1.mlp_out"}
    assert done.columns == expected and done.column_names == "module_paths"
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    assert sorted(table.column_names) == sorted([*expected, "token_ids"])
    recorded = json.loads((tmp_path / "out" / EXPORT_MANIFEST).read_text())
    assert recorded["columns"] == expected and recorded["column_names"] == "module_paths"
    acts = open_activations(tmp_path / "s")
    hooked = _saelens_capture(model, list(expected), torch.tensor(SEQUENCES))
    for column, point in expected.items():
        rows = table[column][:].reshape(-1, acts[point].shape[1])
        assert np.array_equal(rows, np.asarray(acts[point][:]))
        np.testing.assert_allclose(hooked[column], rows, rtol=0, atol=1e-5)


def test_a_module_path_export_refuses_points_no_module_outputs(tmp_path: Path) -> None:
    """resid_pre is a block's input and mlp_act the down-projection's input: no module's output
    is either, so SAELens cannot name them by module path; refused before anything is written,
    saying which stored points can be."""
    model = tiny_causal_lm("llama")
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(model, tokens, ["blocks.0.resid_pre", "blocks.1.resid_pre", "blocks.1.mlp_act",
                            "blocks.1.resid_post"], out_dir=tmp_path / "s", batch_size=4,
            durable=False)
    modules = output_modules(hook_points_by_layer(resolve_architecture(model)))
    with pytest.raises(NoModulePath) as refused:
        export_saelens(tmp_path / "s", tmp_path / "out", column_names="module_paths",
                       modules=modules)
    assert refused.value.details["nameable"] == ["blocks.1.resid_post"]
    assert list(refused.value.details["refused"]) == [
        "blocks.0.resid_pre", "blocks.1.resid_pre", "blocks.1.mlp_act"]
    message = str(refused.value)
    assert "Stored points that can be: blocks.1.resid_post" in message
    assert "extract blocks.0.resid_post to export it by module path" in message
    assert "blocks.1.mlp_act: the input of the MLP's down-projection" in message
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidInput, match="needs modules"):
        export_saelens(tmp_path / "s", tmp_path / "out", column_names="module_paths")
    with pytest.raises(InvalidInput, match="column_names must be one of"):
        export_saelens(tmp_path / "s", tmp_path / "out", column_names="paths")  # type: ignore[arg-type]
    done = export_saelens(tmp_path / "s", tmp_path / "out", column_names="module_paths",
                          modules=modules, hook_names=["blocks.1.resid_post"])
    assert done.columns == {"model.layers.1": "blocks.1.resid_post"}


def test_a_module_path_refusal_names_many_points_by_pattern_with_one_reason_per_kind() -> None:
    """Every layer's resid_pre and mlp_act of a 30-layer model made a refusal of 60 reasons, one
    per point (12 KB in the export box); it names them by pattern with one reason per kind, and
    says the layer before's resid_post is already stored. details keep every point."""
    layers = range(30)
    refused = {f"blocks.{i}.{kind}": "why" for i in layers for kind in ("resid_pre", "mlp_act")}
    nameable = [f"blocks.{i}.resid_post" for i in layers]
    modules = {f"blocks.{i}.resid_post": f"model.layers.{i}" for i in layers}
    message = str(NoModulePath(refused, nameable, modules))
    assert len(message) < 1500, message
    assert message.count("the input of the MLP's down-projection") == 1
    assert "blocks.{0-29}.mlp_act: the input of the MLP's down-projection" in message
    assert "blocks.0.resid_pre: the first block's input" in message
    assert "blocks.{1-29}.resid_pre: a block's input" in message
    assert "blocks.{0-28}.resid_post" in message and "already stored here" in message
    assert "Stored points that can be: blocks.{0-29}.resid_post." in message
    assert NoModulePath(refused, nameable).details == {"refused": refused, "nameable": nameable}
    partial = str(NoModulePath({"blocks.2.resid_pre": "why", "blocks.5.resid_pre": "why"},
                               ["blocks.1.resid_post"], modules))
    assert "extract blocks.4.resid_post to export it by module path (the others are" in partial


def test_compact_points_reads_back_as_the_same_points() -> None:
    points = ["blocks.0.mlp_act", "blocks.1.mlp_act", "blocks.2.mlp_act", "blocks.5.mlp_act",
              "blocks.3.resid_post"]
    text = compact_points(points)
    assert text == "blocks.{0-2,5}.mlp_act, blocks.3.resid_post"
    assert sorted(expand_hook_points(text.split(", "), 8)) == sorted(points)
