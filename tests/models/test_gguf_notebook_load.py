"""A notebook's ``load_model("x.gguf")`` says how the file stored the weights it dequantized, as
the app's model row does: ``LoadedModel.source_quantization`` (its one-line repr says "fp32
(from Q4_1)", ``summary()`` has it), and ``extract(loaded, ...)`` records it in the store's spec
under the key the app's extract job writes (``jobs/tasks/extraction.py``), so a notebook's store
and the app's agree. It said fp32 only, as if the original weights.

Real parts: tiny GGUF files written by the ``gguf`` package (Q4_1 blocks quantized by it),
loaded by transformers, tokenized with their own vocabulary and extracted to a real store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interpstudio.ml import extract, open_activations, tokenize_texts
from interpstudio.ml.gguf_check import CONVERSION_RECORD, check_gguf
from interpstudio.ml.loading import convert_gguf_to_safetensors, load_model
from interpstudio.ml.local_import import plan_import
from interpstudio.ml.store import read_manifest

TEXTS = ["the cat sat on the mat", "a dog ran", "the bird flew over the house"]


def test_a_q4_gguf_loaded_in_a_notebook_says_it_and_its_store_records_it(
        tiny_q4_gguf_file: Path, tmp_path: Path) -> None:
    loaded = load_model(tiny_q4_gguf_file, precision="fp32", device="cpu")
    source = loaded.source_quantization
    assert source is not None and source == check_gguf(tiny_q4_gguf_file).source_quantization()
    assert (source["type"], source["bits"]) == ("Q4_1", 4)
    shown = repr(loaded)
    assert "\n" not in shown and "fp32 (from Q4_1) on cpu" in shown
    assert loaded.summary()["source_quantization"] == source

    data = tokenize_texts(TEXTS, loaded, tmp_path / "tok", max_length=32)
    store = tmp_path / "store"
    extract(loaded, data, ["blocks.0.resid_post"], out_dir=store, batch_size=2,
            dtype="float32", durable=False)
    spec = read_manifest(store)["spec"]
    assert spec["precision_used"] == "fp32"
    assert spec["source_quantization"] == source  # the app's job key (2b4f5d3)
    # a second load of the same file resumes its store: the same identity
    result = extract(load_model(tiny_q4_gguf_file, precision="fp32", device="cpu"), data,
                     ["blocks.0.resid_post"], out_dir=store, batch_size=2, dtype="float32",
                     durable=False, resume=True)
    assert open_activations(result.path).status == "complete"


def test_a_float32_gguf_or_a_folder_says_nothing_more(
        tiny_gguf_file: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    for path in (tiny_gguf_file, tiny_llama_dir):
        loaded = load_model(path, precision="fp32", device="cpu")
        assert loaded.source_quantization is None
        assert "fp32 on cpu" in repr(loaded) and "(from" not in repr(loaded)
        assert loaded.summary()["source_quantization"] is None
    data = tokenize_texts(TEXTS, loaded, tmp_path / "tok", max_length=32)
    result = extract(loaded, data, ["blocks.0.resid_post"], out_dir=tmp_path / "s",
                     batch_size=2, dtype="float32", durable=False)
    assert "source_quantization" not in read_manifest(result.path)["spec"]


def test_a_fallback_says_the_source_and_what_was_asked(tiny_q4_gguf_file: Path) -> None:
    """A memory budget under fp32's size: the loader falls back to bf16, for real."""
    fp32 = load_model(tiny_q4_gguf_file, precision="fp32", device="cpu")
    loaded = load_model(tiny_q4_gguf_file, precision="fp32", device="cpu",
                        memory_budget_bytes=fp32.estimated_bytes - 1)
    assert loaded.precision_used == "bf16"
    assert (f"bf16 (from Q4_1; fp32 requested: {loaded.fallback_reason}) on cpu"
            in repr(loaded))


def test_a_checkpoint_converted_from_a_q4_gguf_still_says_it(
        tiny_q4_gguf_file: Path, tiny_gguf_file: Path, tmp_path: Path) -> None:
    """A notebook that converts the GGUF once (``convert_gguf_to_safetensors``, as the README's
    faster second load does) and loads the float32 folder got no word of Q4_1: its stores said
    fp32, as if of the original weights. The conversion now leaves its record beside the
    checkpoint, and a load of the folder, and a plan to import it into the app, read it."""
    source = check_gguf(tiny_q4_gguf_file).source_quantization()
    folder = convert_gguf_to_safetensors(tiny_q4_gguf_file, tmp_path / "converted")
    loaded = load_model(folder, precision="fp32", device="cpu")
    assert loaded.source_quantization == source
    assert "fp32 (from Q4_1) on cpu" in repr(loaded)
    assert plan_import(folder).source_quantization == source
    data = tokenize_texts(TEXTS, loaded, tmp_path / "tok", max_length=32)
    result = extract(loaded, data, ["blocks.0.resid_post"], out_dir=tmp_path / "store",
                     batch_size=2, dtype="float32", durable=False)
    assert read_manifest(result.path)["spec"]["source_quantization"] == source

    # a float32 GGUF's copy holds its values as they were: nothing recorded, nothing said
    plain = convert_gguf_to_safetensors(tiny_gguf_file, tmp_path / "plain")
    assert not (plain / CONVERSION_RECORD).exists()
    assert load_model(plain, precision="fp32", device="cpu").source_quantization is None


def test_an_unreadable_conversion_record_does_not_stop_a_load(
        tiny_q4_gguf_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = convert_gguf_to_safetensors(tiny_q4_gguf_file, tmp_path / "converted")
    for junk in (b"not json", b'{"source_quantization": "Q4_1"}', b"[1, 2]"):
        (folder / CONVERSION_RECORD).write_bytes(junk)
        caplog.clear()
        assert load_model(folder, precision="fp32", device="cpu").source_quantization is None
        assert CONVERSION_RECORD in caplog.text  # said in the log, naming the file
