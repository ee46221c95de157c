"""Extraction on a CUDA GPU: the same contract as on the CPU, checked where the GPU computes.

These tests skip on a machine without CUDA (CI has none); they run where a GPU is lent (the
workplace's device tool: ``python -m pytest tests/ml/test_cuda.py``) and the closing notes record
what they printed. ``INTERPSTUDIO_TEST_CUDA_DEVICE=cpu`` runs the device-generic ones on the CPU,
to check the tests themselves without a GPU.

- fidelity for every family on the GPU: stored fp32 ``resid_pre`` / ``resid_post`` equal HF's
  ``output_hidden_states`` and ``attn_out`` / ``mlp_out`` the sub-module outputs, computed on the
  same GPU (max-abs 1e-5); and the GPU's store has exactly the CPU store's rows, in its order;
- fp16 / bf16 models on the GPU store their module outputs, with finite statistics;
- q8 / q4 / q2 on the GPU: the stored rows are the dequantized layers' outputs (cosine against
  fp32), HQQ's packed codes match the CPU's, and a quantized cache written on the GPU loads back
  to the same layers;
- a real CUDA out-of-memory (the allocator capped with ``set_per_process_memory_fraction``) halves
  the batch, is recorded, and the store equals an uncapped run's;
- cancel and resume on the GPU give a store byte-identical to an uninterrupted GPU run.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from extract_helpers import random_sequences, shard_hashes, write_tokenization
from tiny_models import SUPPORTED_TEST_FAMILIES, tiny_causal_lm

from interpstudio.core.errors import JobCancelled
from interpstudio.ml import extract, open_activations
from interpstudio.ml.architecture import resolve_architecture
from interpstudio.ml.hooks import capture
from interpstudio.ml.store import read_manifest

DEVICE = torch.device(os.environ.get("INTERPSTUDIO_TEST_CUDA_DEVICE", "cuda:0"))
pytestmark = pytest.mark.skipif(
    DEVICE.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU"
)
needs_real_cuda = pytest.mark.skipif(DEVICE.type != "cuda", reason="a CUDA-only fault")

POINTS = "blocks.*.{resid_pre,resid_post,attn_out,mlp_out}"
TOLERANCE = 1e-5


def stored_rows(path: Path) -> dict[str, np.ndarray]:
    acts = open_activations(path)
    return {hook: acts[hook][:] for hook in acts}


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_gpu_store_equals_hf_hidden_states_and_the_cpu_store(family: str, tmp_path: Path) -> None:
    cpu_model = tiny_causal_lm(family)
    model = copy.deepcopy(cpu_model).to(DEVICE)
    sequences = random_sequences(7, high=12, seed=1)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    result = extract(model, tokens, POINTS, out_dir=tmp_path / "gpu", batch_size=3,
                     dtype="float32", durable=False)
    assert result.manifest["spec"]["device_type"] == DEVICE.type
    acts = open_activations(result.path)
    table = acts.tokens[:]
    n = resolve_architecture(model).n_layers
    final_norm = resolve_architecture(model).final_norm
    for index, sequence in enumerate(sequences):
        rows = np.flatnonzero(table[:, 1] == index)
        ids = torch.tensor([sequence], device=DEVICE)
        with torch.no_grad(), capture(model, POINTS, stop_early=False) as reference:
            hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False)
        states = [h[0].double().cpu() for h in hidden.hidden_states]
        for layer in range(n):
            got = {kind: torch.from_numpy(acts[f"blocks.{layer}.{kind}"][rows]).double()
                   for kind in ("resid_pre", "resid_post", "attn_out", "mlp_out")}
            checks = [("resid_pre", got["resid_pre"], states[layer])]
            if layer < n - 1:
                checks.append(("resid_post", got["resid_post"], states[layer + 1]))
            elif final_norm:
                norm = model.get_submodule(final_norm)
                with torch.no_grad():
                    normed = norm(got["resid_post"].float().to(DEVICE)).double().cpu()
                checks.append(("final_norm(resid_post)", normed, states[n]))
            for kind in ("attn_out", "mlp_out"):
                checks.append((kind, got[kind],
                               reference[f"blocks.{layer}.{kind}"][0].double().cpu()))
            for what, have, want in checks:
                error = (have - want).abs().max().item()
                assert error <= TOLERANCE, f"{family} layer {layer} {what}: max-abs {error}"

    on_cpu = extract(cpu_model, tokens, POINTS, out_dir=tmp_path / "cpu", batch_size=3,
                     dtype="float32", durable=False)
    np.testing.assert_array_equal(table, open_activations(on_cpu.path).tokens[:])
    cpu_rows = stored_rows(on_cpu.path)
    for hook, rows in stored_rows(result.path).items():
        np.testing.assert_allclose(rows, cpu_rows[hook], atol=1e-4, rtol=1e-4, err_msg=hook)


@pytest.mark.parametrize("model_dtype", [torch.float16, torch.bfloat16])
def test_half_precision_models_on_the_gpu_store_their_module_outputs(
    model_dtype: torch.dtype, tmp_path: Path
) -> None:
    model = tiny_causal_lm("llama").to(device=DEVICE, dtype=model_dtype)
    sequences = random_sequences(11, high=40, seed=2)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    storage = "bfloat16" if model_dtype == torch.bfloat16 else "float16"
    result = extract(model, tokens, "blocks.*.resid_post", out_dir=tmp_path / "s", batch_size=4,
                     dtype=storage, durable=False)
    acts = open_activations(result.path)
    ids = torch.tensor([sequences[0]], device=DEVICE)
    with torch.no_grad():
        hidden = model(input_ids=ids, output_hidden_states=True).hidden_states[2][0]
    want = hidden.float().cpu().numpy()  # the module's own output, already in model_dtype
    got = np.asarray(acts["blocks.1.resid_post"][: len(sequences[0])], np.float32)
    np.testing.assert_array_equal(got, want)
    summary = acts.stats["hooks"]["blocks.1.resid_post"]["groups"]["all"]
    assert np.isfinite(summary["std"]) and summary["nan_count"] == 0 and summary["inf_count"] == 0


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from interpstudio.ml.loading import save_random_model

    return save_random_model(tmp_path_factory.mktemp("llama") / "m", hidden_size=256,
                             intermediate_size=512, num_layers=3, vocab_size=500)


def hqq_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    from interpstudio.ml.quantize import is_hqq_linear

    return {name: module for name, module in model.named_modules() if is_hqq_linear(module)}


def packed_layers(model: torch.nn.Module) -> dict[str, list[torch.Tensor]]:
    """Each HQQ layer's packed codes, then its per-group tensors (scale, zero), on the CPU."""
    from interpstudio.ml.quantize import is_hqq_linear

    return {name: [module.W_q.detach().cpu()] + [v.detach().cpu() for _, v in
                                                 sorted(module.meta.items())
                                                 if isinstance(v, torch.Tensor)]
            for name, module in model.named_modules() if is_hqq_linear(module)}


@pytest.mark.parametrize("precision", ["q8", "q4", "q2"])
def test_quantized_models_on_the_gpu_pack_like_the_cpu_and_store_dequantized_outputs(
    precision: str, llama_dir: Path, tmp_path: Path
) -> None:
    from interpstudio.ml.loading import load_model

    sequences = random_sequences(9, vocab=500, high=12, seed=4)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    loaded = {
        (name, device): load_model(llama_dir, precision=name, device=device,
                                   memory_budget_bytes=1 << 30)
        for name in ("fp32", precision) for device in ("cpu", str(DEVICE))
    }
    gpu, cpu = loaded[precision, str(DEVICE)], loaded[precision, "cpu"]
    assert gpu.precision_used == precision
    assert next(gpu.model.parameters()).device.type == DEVICE.type

    # HQQ's optimiser runs in float16 on CUDA and float32 on the CPU (hqq/core/optimize.py), so
    # the codes may differ; what must hold is that the GPU's layers reconstruct the weights as
    # well as the CPU's (the quantized cache keys on the device type for this reason)
    original = dict(loaded["fp32", "cpu"].model.named_modules())
    on_gpu, on_cpu = hqq_layers(gpu.model), hqq_layers(cpu.model)
    assert on_gpu.keys() == on_cpu.keys() and on_gpu
    differing, errors = [], []
    for name, layer in on_gpu.items():
        weight = original[name].weight.detach().float()
        got = layer.dequantize().float().cpu().reshape(weight.shape)
        want = on_cpu[name].dequantize().float().cpu().reshape(weight.shape)
        differing.append(float((layer.W_q.cpu() != on_cpu[name].W_q.cpu()).float().mean()))
        errors.append(((got - weight).norm() / weight.norm()).item())
        reference_error = ((want - weight).norm() / weight.norm()).item()
        assert errors[-1] <= 1.25 * reference_error + 1e-3, (name, errors[-1], reference_error)
    print(f"{precision} on {DEVICE.type} vs cpu: packed bytes differing per layer mean "
          f"{np.mean(differing):.3%} max {max(differing):.3%}; relative weight error "
          f"{np.mean(errors):.4f}")

    rows = {}
    for (name, device), model in loaded.items():
        result = extract(model, tokens, ["blocks.*.resid_post"], out_dir=tmp_path / f"{name}-"
                         f"{device}", batch_size=4, dtype="float32", durable=False)
        rows[name, device] = open_activations(result.path)["blocks.1.resid_post"][:]
    reference, quantized = rows["fp32", str(DEVICE)], rows[precision, str(DEVICE)]
    assert quantized.shape == reference.shape and np.isfinite(quantized).all()
    cosine = (quantized * reference).sum(1) / (
        np.linalg.norm(quantized, axis=1) * np.linalg.norm(reference, axis=1))
    assert cosine.min() > {"q8": 0.99, "q4": 0.9, "q2": 0.5}[precision]
    assert not np.array_equal(quantized, reference)
    np.testing.assert_allclose(rows["fp32", "cpu"], reference, atol=1e-4)


@pytest.mark.parametrize("precision", ["q4", "q2"])
def test_a_quantized_cache_written_on_the_gpu_loads_the_same_layers(
    precision: str, llama_dir: Path, tmp_path: Path
) -> None:
    from interpstudio.ml.loading import load_model

    cache = tmp_path / "quantized"
    first = load_model(llama_dir, precision=precision, device=str(DEVICE),
                       memory_budget_bytes=1 << 30, quantized_cache=cache)
    assert any(cache.rglob("*.safetensors")), "the first load wrote no cache"
    again = load_model(llama_dir, precision=precision, device=str(DEVICE),
                       memory_budget_bytes=1 << 30, quantized_cache=cache)
    assert again.quantization is not None and again.quantization.from_cache
    for (name, a), b in zip(packed_layers(first.model).items(),
                            packed_layers(again.model).values(), strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y), name


@needs_real_cuda
def test_a_real_cuda_out_of_memory_halves_the_batch_and_the_store_is_unchanged(
    tmp_path: Path,
) -> None:
    model = tiny_causal_lm("llama", max_position_embeddings=1024).to(DEVICE)
    sequences = random_sequences(16, low=1000, high=1001, seed=5)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    points = ["blocks.*.resid_post", "blocks.0.attn_out"]
    reference = extract(model, tokens, points, out_dir=tmp_path / "ref", batch_size=16,
                        dtype="float32", durable=False)
    assert not reference.oom_events

    # what one sequence's forward pass needs beyond what is held already
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(DEVICE)
    held = torch.cuda.memory_allocated(DEVICE)
    with torch.no_grad():
        model(input_ids=torch.tensor(sequences[:1], device=DEVICE), use_cache=False)
    one = torch.cuda.max_memory_allocated(DEVICE) - held
    total = torch.cuda.get_device_properties(DEVICE).total_memory
    torch.cuda.set_per_process_memory_fraction((held + 3 * one) / total, DEVICE)
    try:
        result = extract(model, tokens, points, out_dir=tmp_path / "capped", batch_size=16,
                         dtype="float32", durable=False)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, DEVICE)
    print(f"one sequence needs {one / 1e6:.1f} MB; OOM events: {result.oom_events}")
    assert result.oom_events and all("OutOfMemoryError" in e["error"] for e in result.oom_events)
    assert result.batch_size_final < 16 and result.status == "complete"
    got, want = open_activations(result.path), open_activations(reference.path)
    np.testing.assert_array_equal(got.tokens[:], want.tokens[:])
    for hook in want:
        np.testing.assert_allclose(got[hook][:], want[hook][:], atol=1e-5, err_msg=hook)


def test_cancel_and_resume_on_the_gpu_is_byte_identical(tmp_path: Path) -> None:
    sequences = random_sequences(23, high=16, seed=3)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    options = {"batch_size": 4, "dtype": "float16", "shard_rows": 40, "durable": False}
    points = ["blocks.*.resid_post", "blocks.1.attn_out", "blocks.2.mlp_out"]
    model = tiny_causal_lm("llama").to(DEVICE)
    reference = extract(model, tokens, points, out_dir=tmp_path / "ref", **options)
    def a_shard_is_committed() -> bool:  # the writer runs beside the GPU: wait for one shard
        return (tmp_path / "s" / "manifest.json").exists() and bool(
            read_manifest(tmp_path / "s")["shards"])

    with pytest.raises(JobCancelled):
        extract(model, tokens, points, out_dir=tmp_path / "s", should_stop=a_shard_is_committed,
                **options)
    assert open_activations(tmp_path / "s").status == "partial"
    resumed = extract(model, tokens, points, out_dir=tmp_path / "s", resume=True, **options)
    assert resumed.resumed_from_rows > 0
    assert shard_hashes(tmp_path / "s") == shard_hashes(reference.path)
    assert (tmp_path / "s" / "stats.json").read_bytes() == (
        reference.path / "stats.json").read_bytes()


@needs_real_cuda
def test_preflight_vram_covers_the_run_when_the_first_batch_is_the_shortest(
    tmp_path: Path,
) -> None:
    """The calibration pass runs the first batch; a later batch 100x longer needs far more
    (attention grows with the square of the length): the estimate must cover the run's peak."""
    from interpstudio.ml import preflight

    model = tiny_causal_lm("llama", max_position_embeddings=1024).to(DEVICE)
    sequences = (random_sequences(4, low=8, high=9, seed=6)
                 + random_sequences(8, low=1000, high=1001, seed=7))
    tokens = write_tokenization(tmp_path / "tok", sequences)
    points = ["blocks.*.resid_post", "blocks.1.mlp_out"]
    report = preflight(model, tokens, points, out_dir=tmp_path / "s", batch_size=4,
                       measure_disk=False)
    torch.cuda.synchronize(DEVICE)
    torch.cuda.reset_peak_memory_stats(DEVICE)
    extract(model, tokens, points, out_dir=tmp_path / "s", batch_size=4, durable=False)
    peak = torch.cuda.max_memory_allocated(DEVICE)
    print(f"VRAM: estimated {report.memory['vram_needed'] / 1e6:.1f} MB, run's peak "
          f"{peak / 1e6:.1f} MB (calibrated on {report.calibration['tokens']} tokens)")
    assert report.memory["vram_needed"] >= peak


@needs_real_cuda
def test_a_model_on_the_cpu_is_refused_for_a_gpu_run_not_moved(tmp_path: Path) -> None:
    """``extract(cpu_model, ..., device="cuda")`` moved the caller's model to the GPU and left
    it there; now refused naming the move to make, the model untouched. ``cuda`` names the
    current CUDA device, so a model on it runs with that spelling too."""
    from interpstudio.ml.extract_engine import ModelOnAnotherDevice

    model = tiny_causal_lm("llama")
    tokens = write_tokenization(tmp_path / "tok", random_sequences(3, high=12, seed=1))
    with pytest.raises(ModelOnAnotherDevice, match=rf"move it first \(model.to\('{DEVICE}'\)\)"):
        extract(model, tokens, "blocks.0.resid_post", out_dir=tmp_path / "s", device=DEVICE,
                durable=False)
    assert {t.device.type for t in model.state_dict().values()} == {"cpu"}
    assert not (tmp_path / "s").exists()
    model.to(DEVICE)
    with torch.cuda.device(DEVICE):
        result = extract(model, tokens, "blocks.0.resid_post", out_dir=tmp_path / "g",
                         device="cuda", durable=False)
    assert result.manifest["spec"]["device_type"] == "cuda"
