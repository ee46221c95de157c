"""The SAELens export of stores whose rows are not consecutive tokens (position policies
``last``, ``every_k``, ``exclude_bos``): exported, with a warning saying what the rows are; and
columns named by module path (what SAELens hooks for an ``AutoModelForCausalLM``).
(The layout, packing and target rules are tested with the store, ``test_store.py``.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from extract_helpers import random_sequences, stop_once_stored, write_tokenization
from tiny_models import tiny_causal_lm

from helpers import wait_for
from interpstudio.core.errors import InvalidInput, JobCancelled
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


@pytest.mark.parametrize(("with_bos", "said"), [
    (0, None),
    (6, "the first token (BOS) of 6 of the 12 stored sequences is not stored"),
])
def test_an_exclude_bos_export_warns_only_of_first_tokens_it_left_out(
        tmp_path: Path, with_bos: int, said: str | None) -> None:
    """Walking the README: ``extract --positions exclude_bos`` over the demo model's
    tokenization (SmolLM2-Instruct adds no BOS) stored every token, and ``export`` still warned
    "each sequence's first token is not stored". Over sequences none of which starts with BOS it
    says nothing; where some do, how many of them lost their first token."""
    pytest.importorskip("datasets")
    sequences = [[1, *s] if i < with_bos else [5, *s]
                 for i, s in enumerate(random_sequences(12, low=31, high=32, seed=5))]
    tokens = write_tokenization(tmp_path / "tok", sequences, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, positions="exclude_bos")
    assert len(open_activations(tmp_path / "s").tokens) == 12 * 32 - with_bos
    done = export_saelens(tmp_path / "s", tmp_path / "out", context_size=16)
    if said is None:
        assert done.warnings == ()
    else:  # then one about rows across sequences (31 and 32 tokens long)
        assert said in done.warnings[0], done.warnings


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
    with pytest.raises(InvalidInput, match="needs modules") as no_modules:
        export_saelens(tmp_path / "s", tmp_path / "out", column_names="module_paths")
    # the line a notebook can run (it named two functions and not where they live)
    assert "modules=output_modules(hook_points_by_layer(resolve_architecture(model)))" in str(
        no_modules.value)
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


# ------------------------------------------------------------------ first positions left out
def _rows_past_first(store: Path) -> tuple[Any, np.ndarray]:
    acts = open_activations(store)
    return acts, acts.tokens[:, 2] != 0  # (rows,) kept


@pytest.mark.parametrize("storage", ["float32", "bfloat16"])
def test_an_export_without_first_positions_holds_exactly_the_stores_other_rows(
        tmp_path: Path, storage: str) -> None:
    """First-position rows (BOS / attention sinks) can have many times the rest's norm and
    dominate an SAE's MSE; the export could not leave them out. With exclude_first_position
    every column and token_ids hold exactly the store's rows at positions != 0, a 32-token
    store exports rows of 31 by default, and the export's manifest says so."""
    datasets = pytest.importorskip("datasets")
    points = ["blocks.0.resid_post", "blocks.1.mlp_out"]
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, points, out_dir=tmp_path / "s", batch_size=4,
            durable=False, dtype=storage, shard_rows=50)  # shards cut sequences
    progress: list[tuple[int, int]] = []
    done = export_saelens(tmp_path / "s", tmp_path / "out", exclude_first_position=True,
                          progress=lambda a, b: progress.append((a, b)))
    assert (done.context_size, done.rows, done.tokens_dropped) == (31, len(SEQUENCES), 0)
    assert done.first_positions_excluded == len(SEQUENCES) and done.warnings == ()
    assert progress[-1] == (done.rows, done.rows)
    acts, kept = _rows_past_first(tmp_path / "s")
    assert int(np.count_nonzero(~kept)) == len(SEQUENCES)
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    assert len(table) == done.rows
    for point in points:
        exported = table[point][:].reshape(-1, acts[point].shape[1])
        assert exported.dtype == np.float32
        assert np.array_equal(exported, acts[point][:][kept])
    assert np.array_equal(table["token_ids"][:].reshape(-1), acts.tokens[:, 0][kept])
    assert not np.isin(1, table["token_ids"][:])  # the BOS token of every sequence is gone
    recorded = json.loads((tmp_path / "out" / EXPORT_MANIFEST).read_text())
    assert recorded["exclude_first_position"] is True
    assert recorded["first_positions_excluded"] == len(SEQUENCES)
    assert recorded["context_size"] == 31
    kept_all = export_saelens(tmp_path / "s", tmp_path / "all")
    assert (kept_all.context_size, kept_all.first_positions_excluded) == (32, 0)
    assert json.loads((tmp_path / "all" / EXPORT_MANIFEST).read_text())[
        "exclude_first_position"] is False


def test_an_export_without_first_positions_packs_the_rest_across_blocks_and_shards(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sequences of different lengths packed into rows of 16, a store cut into shards of 37
    rows and dataset blocks of 3 rows: the kept rows are taken in order across every cut, the
    row count and the progress are of the rows past position 0, and the tail is what is left
    of them."""
    datasets = pytest.importorskip("datasets")
    import interpstudio.ml.export as export_module

    sequences = [[1, *s] for s in random_sequences(30, low=4, high=40, seed=9)]
    tokens = write_tokenization(tmp_path / "tok", sequences, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.1.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, dtype="float32", shard_rows=37)
    acts, kept = _rows_past_first(tmp_path / "s")
    d = acts["blocks.1.resid_post"].shape[1]
    monkeypatch.setattr(export_module, "_BLOCK_BYTES", 3 * 16 * d * 4)  # 3 rows a block
    progress: list[tuple[int, int]] = []
    done = export_saelens(tmp_path / "s", tmp_path / "out", context_size=16,
                          exclude_first_position=True,
                          progress=lambda a, b: progress.append((a, b)))
    n_kept = int(np.count_nonzero(kept))
    assert n_kept == len(acts.tokens) - len(sequences)
    assert done.rows == n_kept // 16 and done.tokens_dropped == n_kept % 16
    assert done.tokens_exported == done.rows * 16
    assert len(progress) >= 3 and progress[-1] == (done.rows, done.rows)
    assert [a for a, _ in progress] == sorted({a for a, _ in progress})
    assert {b for _, b in progress} == {done.rows}
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    rows = acts["blocks.1.resid_post"][:][kept][: done.tokens_exported]
    assert np.array_equal(table["blocks.1.resid_post"][:].reshape(-1, d), rows)
    assert np.array_equal(table["token_ids"][:].reshape(-1),
                          acts.tokens[:, 0][kept][: done.tokens_exported])
    # ragged without context_size: the lengths it names are the ones without position 0
    with pytest.raises(InvalidInput, match="different lengths"):
        export_saelens(tmp_path / "s", tmp_path / "x", exclude_first_position=True)


@pytest.mark.parametrize("positions", ["last", "all"])
def test_an_export_without_first_positions_of_a_store_of_only_first_positions_is_refused(
        tmp_path: Path, positions: str) -> None:
    """One-token sequences (positions 'last' of them, or all): every row is at position 0, so
    leaving first positions out would write an empty dataset; it is refused, saying why."""
    pytest.importorskip("datasets")
    sequences = [[t] for t in range(3, 15)]
    tokens = write_tokenization(tmp_path / "tok", sequences, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, positions=positions)
    with pytest.raises(InvalidInput, match="every one of the store's 12 rows is at position 0"
                       ) as refused:
        export_saelens(tmp_path / "s", tmp_path / "out", exclude_first_position=True)
    assert "leaves nothing to export" in str(refused.value)
    assert ("positions 'last' of one-token sequences" in str(refused.value)) == (
        positions == "last")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s", "tok"]  # no temp folder
    assert export_saelens(tmp_path / "s", tmp_path / "out").rows == 12  # without: all of them


def test_an_export_without_first_positions_says_how_few_rows_are_left(tmp_path: Path) -> None:
    """Two-token sequences leave one row each: rows of 64 do not fit, and the refusal counts
    the rows past position 0, not the store's."""
    sequences = [[1, t] for t in range(3, 15)]
    tokens = write_tokenization(tmp_path / "tok", sequences, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False)
    with pytest.raises(InvalidInput, match=r"holds 12 rows past the first position \(12 "
                                           r"first-position rows left out\), fewer than one "
                                           "row of 64"):
        export_saelens(tmp_path / "s", tmp_path / "out", context_size=64,
                       exclude_first_position=True)


# ------------------------------------------------------------------------ found by review
def test_two_exports_to_one_target_in_one_process_keep_their_own_blocks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two export requests for one extraction in one server process (the route runs in a
    thread pool; a double click) built their blocks in the same '.saelens.export-tmp-<pid>'
    folder: the second deleted the first's blocks, and wrote its own under the same names,
    while the first was still writing. Here the second runs whole inside the first's first
    progress call: the first's blocks stay its own throughout, both finish, and the target
    holds the one that finished last."""
    datasets = pytest.importorskip("datasets")
    import interpstudio.ml.export as export_module

    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, dtype="float32")
    d = open_activations(tmp_path / "s")["blocks.0.resid_post"].shape[1]
    monkeypatch.setattr(export_module, "_BLOCK_BYTES", 4 * 8 * d * 4)  # 4 rows of 8 a block
    target = tmp_path / "exports" / "saelens"
    inner: list[Any] = []
    seen: dict[str, Any] = {}

    def temp_folders() -> list[Path]:
        return sorted(p for p in target.parent.iterdir() if p.name != "saelens")

    def first_blocks() -> list[int]:  # the rows of 8 the first export's blocks hold
        return [len(datasets.load_from_disk(str(part))) for part in seen["outer"].iterdir()
                if (part / "state.json").is_file()
                and datasets.load_from_disk(str(part)).features["token_ids"].length == 8]

    def second_progress(done: int, total: int) -> None:
        seen.setdefault("during", (temp_folders(), first_blocks()))

    def second_request(done: int, total: int) -> None:
        if not inner:
            [seen["outer"]] = temp_folders()
            inner.append(export_saelens(tmp_path / "s", target, context_size=16,
                                        overwrite=True, progress=second_progress))

    outer = export_saelens(tmp_path / "s", target, context_size=8, overwrite=True,
                           progress=second_request)
    folders, blocks = seen["during"]
    assert len(folders) == 2 and seen["outer"] in folders and blocks == [4]
    assert inner[0].rows == 24 and outer.rows == 48
    table = datasets.load_from_disk(str(target)).with_format("numpy")
    assert table.features["token_ids"].length == 8 and len(table) == 48
    assert np.array_equal(table["token_ids"][:].reshape(-1),
                          open_activations(tmp_path / "s").tokens[:, 0])
    assert sorted(p.name for p in target.parent.iterdir()) == ["saelens"]  # no temp folder


def test_an_export_of_a_store_with_no_rows_yet_says_so(tmp_path: Path) -> None:
    """A run stopped before its first shard is a valid partial store of 0 rows; its export
    (allow_partial) was refused as "context_size must be >= 1, got 0", a size nobody gave."""
    pytest.importorskip("datasets")
    from interpstudio.ml.store_writer import ActivationWriter

    writer = ActivationWriter.open(tmp_path / "s", {"model": "tiny"},
                                   hooks={"blocks.0.resid_post": 8}, durable=False)
    writer.abort("partial")
    with pytest.raises(InvalidInput, match=r"holds no rows yet \(status partial: no shard was "
                                           "written\\), so there is nothing to export"):
        export_saelens(tmp_path / "s", tmp_path / "out", allow_partial=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("storage", ["float32", "bfloat16"])
def test_a_float16_export_refuses_values_float16_cannot_hold(tmp_path: Path,
                                                             storage: str) -> None:
    """A float32 or bfloat16 store exported as float16 wrote |x| > 65,504 (attention-sink rows
    reach it) as inf without a word: an SAE trained on it gets a NaN loss. Refused, naming the
    point; left out with the first positions that hold them, the rest export exactly."""
    datasets = pytest.importorskip("datasets")
    from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter

    rng = np.random.default_rng(4)
    values = rng.standard_normal((32, 8)).astype(np.float32)  # 4 sequences of 8 tokens
    position = np.tile(np.arange(8), 4)
    values[position == 0, 0] = 1e5  # the sink's one huge dimension
    writer = ActivationWriter.open(tmp_path / "s", {"model": "tiny"},
                                   hooks={"blocks.0.resid_post": 8}, dtype=storage,
                                   durable=False)
    writer.append(ActivationBatch({"blocks.0.resid_post": values}, np.arange(32) + 3,
                                  np.repeat(np.arange(4), 8), position))
    writer.close()
    with pytest.raises(InvalidInput, match=r"blocks.0.resid_post holds values beyond float16's "
                                           r"range \(\|x\| up to [\d,]+ > 65,504\)") as refused:
        export_saelens(tmp_path / "s", tmp_path / "out", dtype="float16")
    assert f"export as float32 (the store is {storage})" in str(refused.value)
    assert not (tmp_path / "out").exists()
    done = export_saelens(tmp_path / "s", tmp_path / "out", dtype="float16",
                          exclude_first_position=True)
    assert (done.rows, done.context_size) == (4, 7)
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    exported = table["blocks.0.resid_post"][:].reshape(-1, 8)
    acts = open_activations(tmp_path / "s")
    assert table.features["blocks.0.resid_post"].dtype == "float16"
    assert np.isfinite(exported).all()
    assert np.array_equal(exported, acts["blocks.0.resid_post"][:][position != 0]
                          .astype(np.float16).astype(exported.dtype))


def test_a_partial_store_of_one_sequence_length_exports_at_that_length(tmp_path: Path) -> None:
    """A cancelled run keeps whole shards, which end mid-sequence: its export (allow_partial)
    without a context size was refused as "different lengths (e.g. [18, 32])" for a store of
    32-token sequences. It exports rows of 32; the cut sequence's rows are the dropped tail."""
    datasets = pytest.importorskip("datasets")
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    calls = iter(range(10**6))
    with pytest.raises(JobCancelled):
        extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"],
                out_dir=tmp_path / "s", batch_size=1, durable=False, dtype="float32",
                shard_rows=50, should_stop=stop_once_stored(tmp_path / "s", 1,
                                                            lambda: next(calls) >= 5))
    acts = open_activations(tmp_path / "s")
    stored = len(acts.tokens)
    assert acts.status != "complete" and stored % 50 == 0 and stored % 32 != 0
    done = export_saelens(tmp_path / "s", tmp_path / "out", allow_partial=True)
    assert (done.context_size, done.rows, done.tokens_dropped) == (32, stored // 32, stored % 32)
    table = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    assert np.array_equal(table["blocks.0.resid_post"][:].reshape(-1, acts[
        "blocks.0.resid_post"].shape[1]), acts["blocks.0.resid_post"][: done.tokens_exported])
    assert done.warnings == ()


def test_an_export_bigger_than_the_free_disk_is_refused_before_it_writes(
        tmp_path: Path) -> None:
    """An export needs about twice its size while it is built (its blocks, then the dataset);
    on a disk without it, it ran until Arrow's raw ENOSPC. A real 1 MiB tmpfs: an export of
    0.8 MB (1.6 MB needed) is refused up front, saying what it needs; one of 0.36 MB is
    written."""
    pytest.importorskip("datasets")
    from helpers import small_filesystem
    from interpstudio.core.errors import InsufficientDisk
    from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter

    rng = np.random.default_rng(1)
    writer = ActivationWriter.open(tmp_path / "s", {"model": "tiny"},
                                   hooks={"blocks.0.resid_post": 256}, dtype="float32",
                                   durable=False)
    writer.append(ActivationBatch(
        {"blocks.0.resid_post": rng.standard_normal((800, 256)).astype(np.float32)},
        np.arange(800) + 3, np.repeat(np.arange(100), 8), np.tile(np.arange(8), 100)))
    writer.close()
    with small_filesystem(tmp_path / "disk", "1M") as disk:
        with pytest.raises(InsufficientDisk, match="not enough free disk") as refused:
            export_saelens(tmp_path / "s", disk / "out")
        # 100 rows of 8 tokens: float32 values and int32 token ids, and Array2D's 9 offsets
        assert refused.value.details["needed_bytes"] == 2 * 100 * (8 * (256 * 4 + 4) + 9 * 4)
        assert list(disk.iterdir()) == []
        done = export_saelens(tmp_path / "s", disk / "out", dtype="float16",
                              exclude_first_position=True)  # 700 rows of 512 + 4 bytes
        assert (done.rows, done.context_size) == (100, 7)
        assert (disk / "out" / EXPORT_MANIFEST).is_file()


@pytest.mark.parametrize("export_dtype", [None, "float32"])
def test_an_export_of_rows_holding_inf_says_so_per_point(tmp_path: Path,
                                                         export_dtype: str | None) -> None:
    """Found by the precision walk: a float16 store of a model whose values pass 65,504 holds
    Inf (the extraction warned), and its export wrote them without a word, float16 or float32:
    an SAE trained on it gets a NaN loss. The export now counts them per point in its warnings;
    a point without any says nothing."""
    datasets = pytest.importorskip("datasets")
    model = tiny_causal_lm("gpt2")
    with torch.no_grad():  # token 7 at position 1: 60,000 + 60,000 in dimension 0
        model.transformer.wte.weight[7, 0] = 60_000.0
        model.transformer.wpe.weight[1, 0] = 60_000.0
    data = write_tokenization(tmp_path / "t", [[5, 7, 9, 4], [5, 7, 3, 4], [5, 6, 3, 4]])
    points = ["blocks.0.resid_pre", "blocks.1.attn_out"]
    result = extract(model, data, points, out_dir=tmp_path / "s", dtype="float16",
                     durable=False)
    stored = open_activations(result.path)["blocks.0.resid_pre"][:]
    assert np.isinf(stored).any(axis=1).sum() == 2 and result.warnings  # the extraction's say
    done = export_saelens(result.path, tmp_path / "out", dtype=export_dtype)
    written = datasets.load_from_disk(str(tmp_path / "out")).with_format("numpy")
    assert np.isinf(written["blocks.0.resid_pre"][:]).any(axis=2).sum() == 2  # as stored
    assert np.isfinite(written["blocks.1.attn_out"][:]).all()
    assert done.warnings == (
        "blocks.0.resid_pre: 2 of 12 exported token rows hold Inf or NaN, written as the store "
        "holds them; an SAE trained on them gets a NaN loss. The extraction's warnings say "
        "where they come from and how to keep them finite (store as bfloat16 / float32, or "
        "load the model at bf16 / fp32)",)


_BLOCKED_EXPORT = """
import sys, time
from pathlib import Path
import interpstudio.ml.export as export_module
from interpstudio.ml.export import export_saelens
export_module._BLOCK_BYTES = int(sys.argv[4])

def progress(done, total):
    Path(sys.argv[3]).touch()  # a block is written: the work folder holds it
    time.sleep(600)

export_saelens(sys.argv[1], sys.argv[2], context_size=8, progress=progress)
"""


def test_an_export_killed_mid_way_leaves_no_work_folder_once_another_export_runs(
        tmp_path: Path) -> None:
    """Found with ``interpstudio export`` under ``kill -9``: each killed export left its
    '.saelens.export-tmp-*' folder of dataset blocks (up to the whole export's size) in the
    extraction's folder for good, also counted against the next export's free-disk check. The
    next export to that target deletes those of exports no longer running; one still running
    (in another process here, holding its work folder's lock) keeps its own."""
    pytest.importorskip("datasets")
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES, policy={"bos_token_id": 1})
    extract(tiny_causal_lm("llama"), tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
            batch_size=4, durable=False, dtype="float32")
    d = open_activations(tmp_path / "s")["blocks.0.resid_post"].shape[1]
    target, marker = tmp_path / "exports" / "saelens", tmp_path / "first-block-written"
    blocked = subprocess.Popen([sys.executable, "-c", _BLOCKED_EXPORT, str(tmp_path / "s"),
                                str(target), str(marker), str(4 * 8 * d * 4)])
    try:
        wait_for(lambda: marker.exists() or blocked.poll() is not None, timeout=120)
        assert blocked.poll() is None, "the export in the other process ended"
        [running] = [p for p in target.parent.iterdir() if p.name.startswith(".saelens.")]

        export_saelens(tmp_path / "s", target, context_size=8)  # while the other still runs
        assert running.is_dir() and any(running.glob("part_*"))  # its blocks left alone
    finally:
        blocked.kill()  # SIGKILL: no clean-up of its own
        blocked.wait()
    assert running.is_dir()

    export_saelens(tmp_path / "s", target, context_size=8, overwrite=True)
    assert sorted(p.name for p in target.parent.iterdir()) == ["saelens"]
