"""Tests of ml.quantize on a tiny random llama: every precision is real and measurable.

A real (random) transformers model is saved, reloaded and quantized with the real backend; the
packed tensors are inspected directly. Nothing is mocked.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaForCausalLM

from interpstudio.core.errors import JobCancelled
from interpstudio.ml.loading import save_random_model
from interpstudio.ml.memory import PRECISIONS, UnsupportedPrecision, estimate_memory
from interpstudio.ml.quantize import (
    DecoderLayersNotFound,
    DeviceUnavailable,
    QuantizationInfo,
    count_parameters,
    find_decoder_layers,
    inventory_from_model,
    iter_block_linears,
    measure_drift,
    measured_linear_weight_bytes,
    measured_weight_bytes,
    quantize,
)

QUANTIZED = ("q8", "q4", "q2")
LAYERS = 4
LINEARS_PER_BLOCK = 7  # q, k, v, o, gate, up, down
Stored = tuple[nn.Module, QuantizationInfo]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> nn.Module:
    path = save_random_model(tmp_path_factory.mktemp("tiny") / "llama", num_layers=LAYERS)
    return LlamaForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def stored(reference: nn.Module) -> Callable[[str], Stored]:
    """A copy of ``reference`` at a precision, quantized once per test module."""
    cache: dict[str, Stored] = {}

    def get(precision: str) -> Stored:
        if precision not in cache:
            model = copy.deepcopy(reference)
            cache[precision] = (model, quantize(model, precision, "cpu"))
        return cache[precision]

    return get


@pytest.fixture(scope="module")
def input_ids() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 512, (2, 24), generator=generator)  # (B, T)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_quantize_runs_forward_and_records_plan_each_precision(
    stored: Callable[[str], Stored], input_ids: torch.Tensor, precision: str
) -> None:
    model, info = stored(precision)
    with torch.no_grad():
        logits = model(input_ids).logits  # (B, T, vocab)
    assert logits.shape == (2, 24, 512)
    assert torch.isfinite(logits).all()
    assert info.precision == precision
    assert info.device == "cpu"
    if precision in QUANTIZED:
        assert info.backend == "hqq" and info.backend_version
        assert info.bits == int(precision[1:])
        assert info.group_size and info.axis in (0, 1)
        assert info.compute_dtype == "bfloat16" and logits.dtype == torch.bfloat16
        assert info.quantized_modules == LAYERS * LINEARS_PER_BLOCK
        assert info.kept_modules == []
        assert "decoder-block linear layers" in info.scope
        assert info.settings["nbits"] == info.bits and info.settings["axis"] == info.axis
    else:
        assert info.backend == "torch" and info.bits is None
        assert logits.dtype == getattr(torch, info.compute_dtype)


@pytest.mark.parametrize("precision", QUANTIZED)
def test_quantize_keeps_embeddings_head_and_norms_in_compute_dtype_quantized(
    stored: Callable[[str], Stored], precision: str
) -> None:
    model, _ = stored(precision)
    assert model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert isinstance(model.lm_head, nn.Linear) and model.lm_head.weight.dtype == torch.bfloat16
    norms = [m for m in model.modules() if type(m).__name__.endswith("RMSNorm")]
    assert norms and all(norm.weight.dtype == torch.bfloat16 for norm in norms)
    kinds = {type(module).__name__ for _, module in iter_block_linears(model)}
    assert kinds == {"HQQLinear"}


@pytest.mark.parametrize("precision", QUANTIZED)
def test_forward_hooks_fire_on_quantized_linear_layers_quantized(
    stored: Callable[[str], Stored], input_ids: torch.Tensor, precision: str
) -> None:
    model, _ = stored(precision)
    seen: dict[str, tuple[int, ...]] = {}
    handles = [
        module.register_forward_hook(
            lambda _m, _i, out, name=name: seen.__setitem__(name, tuple(out.shape))
        )
        for name, module in iter_block_linears(model)
    ]
    with torch.no_grad():
        model(input_ids)
    for handle in handles:
        handle.remove()
    assert len(seen) == LAYERS * LINEARS_PER_BLOCK
    assert seen["model.layers.0.mlp.down_proj"] == (2, 24, 256)
    assert seen["model.layers.3.mlp.up_proj"] == (2, 24, 512)


@pytest.mark.parametrize(
    ("precision", "goal"),
    [("fp16", 0.5), ("bf16", 0.5), ("q8", 0.28), ("q4", 0.16), ("q2", 0.10)],
)
def test_linear_weight_bytes_ratio_meets_goal_each_precision(
    reference: nn.Module, stored: Callable[[str], Stored], precision: str, goal: float
) -> None:
    fp32_bytes = measured_linear_weight_bytes(reference)
    assert fp32_bytes == 4 * inventory_from_model(reference).block_linear_weight_count
    ratio = measured_linear_weight_bytes(stored(precision)[0]) / fp32_bytes
    assert ratio <= goal


@pytest.mark.parametrize(("precision", "codes_per_byte"), [("q8", 1), ("q4", 2), ("q2", 4)])
def test_packed_codes_hold_the_precision_bits_per_weight(
    reference: nn.Module, stored: Callable[[str], Stored], precision: str, codes_per_byte: int
) -> None:
    model, _ = stored(precision)
    bits = 8 // codes_per_byte
    originals = dict(iter_block_linears(reference))
    for name, module in iter_block_linears(model):
        weight = originals[name].weight  # (out, in) fp32
        assert module.W_q.dtype == torch.uint8
        assert module.W_q.numel() * codes_per_byte == weight.numel()
        assert module.meta["nbits"] == bits
        codes = module.unpack(dtype=torch.uint8)  # one code per weight
        assert codes.numel() == weight.numel()
        assert int(codes.max()) <= 2**bits - 1
        if bits == 2:  # all four levels are used: this is 2-bit, not 4-bit relabelled
            assert set(codes.unique().tolist()) == {0, 1, 2, 3}
        restored = module.dequantize().float()
        cosine = torch.nn.functional.cosine_similarity(restored.flatten(), weight.flatten(), 0)
        assert cosine > {8: 0.999, 4: 0.95, 2: 0.7}[bits]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_estimate_within_ten_percent_of_measured_each_precision(
    reference: nn.Module, stored: Callable[[str], Stored], precision: str
) -> None:
    from_inventory = estimate_memory(inventory_from_model(reference), precision)
    from_config = estimate_memory(reference.config, precision)
    measured = measured_weight_bytes(stored(precision)[0])
    assert from_inventory == from_config
    assert abs(from_config - measured) <= 0.10 * measured


def test_parameter_count_is_the_unquantized_count(
    reference: nn.Module, stored: Callable[[str], Stored]
) -> None:
    true_count = count_parameters(reference)
    assert true_count == inventory_from_model(reference).parameter_count == 2_623_744
    packed_numel = count_parameters(stored("q2")[0])
    assert packed_numel < true_count  # why the count must be taken before quantizing


def test_measure_drift_reports_sane_cosines_per_layer(
    reference: nn.Module, stored: Callable[[str], Stored], input_ids: torch.Tensor
) -> None:
    reports = {p: measure_drift(reference, stored(p)[0], input_ids) for p in ("fp16", "q8", "q2")}
    for report in reports.values():
        assert [layer.layer for layer in report.layers] == list(range(LAYERS))
        assert all(-1.0 <= c <= 1.0 + 1e-9 for c in report.cosines)
    assert min(reports["fp16"].cosines) > 0.999
    assert min(reports["q8"].cosines) > 0.99
    assert reports["q2"].cosines[-1] < reports["q8"].cosines[-1]
    assert reports["q2"].layers[-1].relative_error > reports["q8"].layers[-1].relative_error
    assert set(reports["q8"].to_dict()["layers"][0]) == {
        "layer",
        "mean_cosine",
        "min_cosine",
        "relative_error",
    }


def test_measure_drift_leaves_out_padded_positions(
    reference: nn.Module, stored: Callable[[str], Stored], input_ids: torch.Tensor
) -> None:
    model, _ = stored("q4")
    mask = torch.ones_like(input_ids)
    mask[:, 16:] = 0  # right padding: causal positions < 16 do not see it
    padded = measure_drift(reference, model, input_ids, attention_mask=mask)
    trimmed = measure_drift(reference, model, input_ids[:, :16])
    assert padded.cosines == pytest.approx(trimmed.cosines, abs=1e-3)


def test_quantize_reports_progress_and_stops_when_asked(reference: nn.Module) -> None:
    events: list[tuple[int, int]] = []
    with pytest.raises(JobCancelled):
        quantize(
            copy.deepcopy(reference),
            "q8",
            "cpu",
            progress=lambda done, total: events.append((done, total)),
            should_stop=lambda: len(events) >= 2,
        )
    assert events == [(1, LAYERS), (2, LAYERS)]


def test_quantize_group_size_override_is_recorded_and_estimated(reference: nn.Module) -> None:
    model = copy.deepcopy(reference)
    info = quantize(model, "q2", "cpu", group_size=16)
    assert info.group_size == 16
    estimate = estimate_memory(inventory_from_model(reference), "q2", group_size=16)
    assert estimate == pytest.approx(measured_weight_bytes(model), rel=0.01)


def test_quantize_compute_dtype_override_float32_q4(
    reference: nn.Module, input_ids: torch.Tensor
) -> None:
    model = copy.deepcopy(reference)
    info = quantize(model, "q4", "cpu", compute_dtype="float32")
    assert info.compute_dtype == "float32"
    with torch.no_grad():
        assert model(input_ids).logits.dtype == torch.float32
    estimate = estimate_memory(model.config, "q4", compute_dtype="float32")
    assert estimate == pytest.approx(measured_weight_bytes(model), rel=0.01)


def test_quantize_rejects_unknown_precision(reference: nn.Module) -> None:
    with pytest.raises(UnsupportedPrecision) as caught:
        quantize(copy.deepcopy(reference), "q3", "cpu")
    assert caught.value.code == "unsupported_precision"
    assert "q2" in caught.value.details["supported"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_quantize_rejects_cuda_without_gpu(reference: nn.Module) -> None:
    with pytest.raises(DeviceUnavailable) as caught:
        quantize(copy.deepcopy(reference), "q8", "cuda")
    assert caught.value.code == "device_unavailable"


def test_find_decoder_layers_raises_for_model_without_blocks() -> None:
    with pytest.raises(DecoderLayersNotFound) as caught:
        find_decoder_layers(nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    assert caught.value.details["model_class"] == "Sequential"


def test_quantize_gpt2_conv1d_layers_q4(input_ids: torch.Tensor) -> None:
    torch.manual_seed(0)
    config = GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=512, n_positions=64)
    model = GPT2LMHeadModel(config).eval()
    true_count = count_parameters(model)
    info = quantize(model, "q4", "cpu")
    assert info.quantized_modules == 2 * 4  # c_attn, c_proj, c_fc, mlp.c_proj per block
    with torch.no_grad():
        assert torch.isfinite(model(input_ids).logits).all()
    assert estimate_memory(config, "q4") == pytest.approx(measured_weight_bytes(model), rel=0.1)
    assert inventory_from_model(GPT2LMHeadModel(config)).parameter_count == true_count
