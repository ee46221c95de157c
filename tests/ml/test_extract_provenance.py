"""What the Python API's ``extract`` records about the model it was handed: a
``loading.LoadedModel``'s requested and used precision and its quantization reach the store's
spec (DESIGN.md: the precision actually used is in ``manifest.json``), as the job path's do."""

from __future__ import annotations

from pathlib import Path

import pytest
from extract_helpers import random_sequences, write_tokenization

from interpstudio.core.errors import JobCancelled
from interpstudio.ml import extract, open_activations
from interpstudio.ml.store import read_manifest


def test_extract_of_a_loaded_model_records_its_precision_in_the_manifest(
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    from interpstudio.ml.loading import load_model

    tokens = write_tokenization(tmp_path / "tok", random_sequences(12, vocab=500, high=12))
    cache = tmp_path / "qcache"

    def load() -> object:
        return load_model(tiny_llama_dir, precision="q8", device="cpu",
                          memory_budget_bytes=1 << 30, quantized_cache=cache)

    store = tmp_path / "store"
    checks = iter(range(1000))
    with pytest.raises(JobCancelled):  # stopped after a batch: the resume below loads afresh
        extract(load(), tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
                dtype="float32", durable=False, shard_rows=8,
                should_stop=lambda: next(checks) >= 8)
    spec = read_manifest(store)["spec"]
    assert spec["precision_requested"] == "q8" and spec["precision_used"] == "q8"
    assert spec["quantization"]["precision"] == "q8" and spec["quantization"]["bits"] == 8
    # a second load of the same weights (from the quantized cache, another timing) is the same
    # model: its resume is accepted, so nothing load-specific is in the spec
    extract(load(), tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
            dtype="float32", durable=False, shard_rows=8, resume=True)
    done = open_activations(store)
    assert done.status == "complete"
    assert read_manifest(store)["spec"]["precision_used"] == "q8"


def test_extract_of_a_bare_module_records_the_precision_its_weights_have(
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A notebook's own ``from_pretrained(..., dtype=torch.bfloat16)`` handed to ``extract``
    left no word of bf16 in the manifest (DESIGN.md: the precision used is recorded). Its weights
    say it: ``precision_used`` and ``parameter_dtypes``; nothing was requested, nothing claimed of
    a module holding packed integer weights (a q8 load's module handed over bare)."""
    import torch
    from transformers import AutoModelForCausalLM

    from interpstudio.ml.loading import load_model

    tokens = write_tokenization(tmp_path / "tok", random_sequences(4, vocab=500, high=8))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.bfloat16)
    result = extract(model, tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
                     batch_size=4, dtype="float32", durable=False)
    spec = read_manifest(result.path)["spec"]
    assert spec["precision_used"] == "bf16"
    assert spec["parameter_dtypes"] == {"bfloat16": model.num_parameters()}
    assert not {"precision_requested", "quantization"} & set(spec)

    q8 = load_model(tiny_llama_dir, precision="q8", device="cpu", memory_budget_bytes=1 << 30)
    result = extract(q8.model, tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "q",
                     batch_size=4, dtype="float32", durable=False)
    spec = read_manifest(result.path)["spec"]
    assert "uint8" in spec["parameter_dtypes"] and "precision_used" not in spec


def test_a_bare_module_store_begun_before_its_precision_was_recorded_still_resumes(
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A store a bare module began before its precision was recorded (2026-12-07) resumes with
    the same module, and one a bare module began resumes with a ``LoadedModel`` of the same
    weights: the keys only one side records stay as the store has them."""
    import json

    from transformers import AutoModelForCausalLM

    from interpstudio.ml.loading import load_model
    from interpstudio.ml.store import config_hash

    tokens = write_tokenization(tmp_path / "tok", random_sequences(12, vocab=500, high=12))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))
    for resumed_with in (lambda: model,
                         lambda: load_model(tiny_llama_dir, precision="fp32", device="cpu")):
        store = tmp_path / f"store{id(resumed_with)}"
        checks = iter(range(1000))
        with pytest.raises(JobCancelled):
            extract(model, tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
                    dtype="float32", durable=False, shard_rows=8,
                    should_stop=lambda: next(checks) >= 8)  # noqa: B023 (used at once)
        if resumed_with() is model:  # as an earlier version began it: no precision facts
            manifest = json.loads((store / "manifest.json").read_text())
            for key in ("precision_used", "parameter_dtypes"):
                del manifest["spec"][key]
            manifest["config_hash"] = config_hash(manifest["spec"])
            (store / "manifest.json").write_text(json.dumps(manifest))
        extract(resumed_with(), tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
                dtype="float32", durable=False, shard_rows=8, resume=True)
        assert open_activations(store).status == "complete"


def test_a_store_begun_before_provenance_was_recorded_still_resumes(
        tiny_llama_dir: Path, tmp_path: Path) -> None:
    """Found by a reviewer: the job path's stores begun before precision_requested and
    quantization entered the spec (its identity) were refused on resume, naming 'quantization':
    a paused multi-hour run had to start over. Those keys stay out of a resume's spec when the
    store was begun without them; what identifies the data is still compared."""
    from transformers import AutoModelForCausalLM

    from interpstudio.ml.loading import load_model

    tokens = write_tokenization(tmp_path / "tok", random_sequences(12, vocab=500, high=12))
    store = tmp_path / "store"
    checks = iter(range(1000))
    old_style = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir))  # no provenance
    with pytest.raises(JobCancelled):
        extract(old_style, tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
                dtype="float32", durable=False, shard_rows=8, spec={"precision_used": "fp32"},
                should_stop=lambda: next(checks) >= 8)
    assert "quantization" not in read_manifest(store)["spec"]
    loaded = load_model(tiny_llama_dir, precision="fp32", device="cpu")
    extract(loaded, tokens, ["blocks.*.resid_post"], out_dir=store, batch_size=4,
            dtype="float32", durable=False, shard_rows=8, spec={"precision_used": "fp32"},
            resume=True)
    assert open_activations(store).status == "complete"


def test_caller_facts_cannot_overwrite_what_the_engine_records(tmp_path: Path) -> None:
    """``spec={"positions": "all", ...}`` copied from a notebook's config dict replaced the
    engine's record: the manifest said 'all' for a 'last' store (the export's warnings read it)
    and ``dtype`` could name another storage dtype than the shards'. Refused before any file is
    written; caller facts under their own names, and the model's precision, still go in."""
    from tiny_models import tiny_causal_lm

    from interpstudio.core.errors import InvalidInput

    model = tiny_causal_lm("llama")
    tokens = write_tokenization(tmp_path / "tok", random_sequences(4, high=8))
    for spec in ({"positions": "all"}, {"dtype": "float32", "note": "x"}):
        with pytest.raises(InvalidInput, match="the engine's own record") as refused:
            extract(model, tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
                    positions="last", spec=spec, durable=False)
        assert refused.value.details["keys"] == [k for k in spec if k != "note"]
        assert not (tmp_path / "s").exists()
    extract(model, tokens, ["blocks.0.resid_post"], out_dir=tmp_path / "s", positions="last",
            spec={"note": "x", "precision_used": "fp32"}, durable=False)
    spec = read_manifest(tmp_path / "s")["spec"]
    assert spec["positions"]["mode"] == "last" and spec["dtype"] == "float16"
    assert spec["note"] == "x" and spec["precision_used"] == "fp32"
