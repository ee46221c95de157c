"""Tests of ml.quantized_cache through ``load_model(..., quantized_cache=...)``, on real tiny
checkpoints (llama, and GPT-2 whose block linears are ``Conv1D``): a second load at the same
precision reads the packed layers instead of quantizing, and computes exactly what a load
without the cache computes; a changed checkpoint, a damaged file and an unwritable folder each
fall back to quantizing, never to wrong weights or a failed load."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_causal_lm

from interpstudio.ml.loading import LoadedModel, load_model, save_random_model

IDS = torch.tensor([[1, 5, 9, 2, 7, 3, 11, 4]])


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "gpt2"
    tiny_causal_lm("gpt2").save_pretrained(folder)
    return folder


def logits(loaded: LoadedModel) -> torch.Tensor:
    with torch.inference_mode():
        return loaded.model(IDS).logits


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


@pytest.mark.parametrize(("family", "precision"), [("llama", "q4"), ("llama", "q2"),
                                                   ("gpt2", "q4")])
def test_second_load_reads_the_cache_and_computes_the_same(
    request: pytest.FixtureRequest, tmp_path: Path, family: str, precision: str
) -> None:
    checkpoint = request.getfixturevalue(f"{family}_dir")
    cache = tmp_path / "quantized"
    plain = load_model(checkpoint, precision=precision)
    first = load_model(checkpoint, precision=precision, quantized_cache=cache)
    second = load_model(checkpoint, precision=precision, quantized_cache=cache)
    assert not first.quantization.from_cache and second.quantization.from_cache
    assert [p.name.split("-")[0] for p in cache_files(cache)] == [precision]
    assert torch.equal(logits(second), logits(plain)) and torch.equal(logits(first), logits(plain))
    for facts in (first, second):
        assert facts.quantization.quantized_modules == plain.quantization.quantized_modules > 0
        assert facts.quantization.kept_modules == plain.quantization.kept_modules
        assert facts.quantization.settings == plain.quantization.settings
        assert facts.resident_bytes == plain.resident_bytes
        assert facts.parameter_count == plain.parameter_count


def test_a_changed_checkpoint_is_quantized_again_and_replaces_the_file(
    tmp_path: Path,
) -> None:
    checkpoint = save_random_model(tmp_path / "llama")
    cache = tmp_path / "quantized"
    load_model(checkpoint, precision="q4", quantized_cache=cache)
    before = cache_files(cache)
    weights = next(checkpoint.glob("*.safetensors"))
    save_random_model(checkpoint, seed=1)  # other weights in the same folder
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    changed = load_model(checkpoint, precision="q4", quantized_cache=cache)
    assert not changed.quantization.from_cache
    assert torch.equal(logits(changed), logits(load_model(checkpoint, precision="q4")))
    after = cache_files(cache)
    assert len(after) == 1 and after != before  # the stale file is gone


def test_a_damaged_or_unwritable_cache_falls_back_to_quantizing(
    llama_dir: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "quantized"
    load_model(llama_dir, precision="q4", quantized_cache=cache)
    (file,) = cache_files(cache)
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])  # a torn file
    again = load_model(llama_dir, precision="q4", quantized_cache=cache)
    assert not again.quantization.from_cache
    assert load_model(llama_dir, precision="q4", quantized_cache=cache).quantization.from_cache

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    loaded = load_model(llama_dir, precision="q4", quantized_cache=blocked)
    assert not loaded.quantization.from_cache
    assert torch.equal(logits(loaded), logits(again))


def test_bytes_damaged_on_disk_are_quantized_again_not_read_as_weights(
    llama_dir: Path, tmp_path: Path
) -> None:
    """Found by a tester: a cache file with bytes flipped in its tensor data (same size, same
    modification time: the key still matched) was read back, and every later extraction
    silently ran on damaged weights."""
    cache = tmp_path / "quantized"
    plain = load_model(llama_dir, precision="q4")
    load_model(llama_dir, precision="q4", quantized_cache=cache)
    (file,) = cache_files(cache)
    stat = file.stat()
    data = bytearray(file.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")  # the tensors, past safetensors' header
    for offset in range(start + 100, len(data), 1024):
        data[offset] ^= 0xFF
    file.write_bytes(bytes(data))
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = load_model(llama_dir, precision="q4", quantized_cache=cache)
    assert torch.equal(logits(again), logits(plain))
    assert not again.quantization.from_cache  # the first block already failed its check
    assert load_model(llama_dir, precision="q4", quantized_cache=cache).quantization.from_cache


@pytest.mark.parametrize("precision", ["bf16", "q8"])
def test_float_and_q8_loads_write_no_cache(llama_dir: Path, tmp_path: Path,
                                            precision: str) -> None:
    """bf16 is a cast; q8 runs no optimiser, so quantizing costs what reading back would."""
    loaded = load_model(llama_dir, precision=precision, quantized_cache=tmp_path / "quantized")
    assert loaded.precision_used == precision and not loaded.quantization.from_cache
    assert not (tmp_path / "quantized").exists()


def test_a_block_that_fails_to_load_is_quantized_with_the_ones_after_it(
    llama_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file with this key whose block 2 HQQ cannot load (a meta entry missing: made by hand,
    our writer never does it): blocks 0-1 come from the file, 2-3 are quantized; the model is
    exactly the plain load's, and the file is written whole again."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    cache = tmp_path / "quantized"
    load_model(llama_dir, precision="q4", quantized_cache=cache)
    (file,) = cache_files(cache)
    with safe_open(str(file), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(file))
    del tensors["2.self_attn.q_proj.quant_zero"]
    save_file(tensors, str(file), metadata=metadata)

    mended = load_model(llama_dir, precision="q4", quantized_cache=cache)
    assert not mended.quantization.from_cache and "block 2 unreadable" in caplog.text
    plain = load_model(llama_dir, precision="q4")
    assert torch.equal(logits(mended), logits(plain))
    assert mended.quantization.quantized_modules == plain.quantization.quantized_modules
    assert load_model(llama_dir, precision="q4", quantized_cache=cache).quantization.from_cache
