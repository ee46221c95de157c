"""Put a loaded model into a precision for real, and measure what that cost and changed.

``quantize(model, precision, device)`` turns a transformers model into fp32 / fp16 / bf16 (a
plain cast) or q8 / q4 / q2, where every ``nn.Linear`` (or GPT-2 ``Conv1D``) inside the decoder
blocks is replaced by an ``hqq.core.quantize.HQQLinear`` holding bit-packed integer codes
(uint8 holding 1, 2 or 4 codes) plus one scale and one zero per group in the compute dtype. The
embeddings, the LM head, norms and biases stay in the compute dtype. Quantized layers are plain
``nn.Module``s, so forward hooks on them fire as on any layer. HQQ layers ignore ``.to()``:
quantize on the device the model will run on (``quantize`` places the whole model there).
The plan (backend, bits, group size, axis, compute dtype) comes from ``memory.storage_plan``
and is returned in a ``QuantizationInfo`` for the model card.

Also here: ``measured_weight_bytes`` (what parameters + buffers really occupy, packed codes and
their scales/zeros included), ``inventory_from_model`` / ``inventory_from_config`` (true
parameter counts for the estimates) and ``measure_drift`` (per-layer cosine of resid_post
against a reference model).

This module is NOT responsible for reading checkpoints, choosing a precision that fits memory
(``loading.py``) or the arithmetic of estimates (``memory.py``). It never prints: progress goes
through a callback, cancellation through ``should_stop``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from interpstudio.core.errors import ConfigurationError, InvalidInput, JobCancelled
from interpstudio.ml.memory import (
    QUANTIZED_BITS,
    LinearShape,
    ParameterInventory,
    StoragePlan,
    is_quantizable,
    storage_plan,
)
from interpstudio.ml.model_build_lock import MODEL_BUILD

if TYPE_CHECKING:
    from transformers import PretrainedConfig

ProgressCallback = Callable[[int, int], None]  # (decoder blocks done, total)
StopCheck = Callable[[], bool]


class DeviceUnavailable(InvalidInput):
    code = "device_unavailable"

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(
            f"device {device!r} cannot be used: {reason}; pick 'cpu' or an available 'cuda:N'",
            details={"device": device, "reason": reason},
        )


class DecoderLayersNotFound(InvalidInput):
    code = "decoder_layers_not_found"

    def __init__(self, model_class: str) -> None:
        super().__init__(
            f"could not find the decoder block list of {model_class}: no nn.ModuleList of "
            "identical blocks holding linear layers; this architecture cannot be quantized",
            details={"model_class": model_class},
        )


class QuantizationBackendMissing(ConfigurationError):
    code = "quantization_backend_missing"

    def __init__(self, package: str) -> None:
        super().__init__(
            f"the quantization backend package {package!r} is not installed; install it with "
            f"`pip install {package}` or choose fp32/fp16/bf16",
            details={"package": package},
        )


@dataclass
class QuantizationInfo:
    """What ``quantize`` did: recorded with the model and shown on its card."""

    precision: str
    backend: str
    backend_version: str | None
    compute_dtype: str
    device: str
    bits: int | None = None
    group_size: int | None = None
    axis: int | None = None
    optimize: bool = False
    scope: str = "whole model cast"
    quantized_modules: int = 0
    kept_modules: list[str] = field(default_factory=list)  # block linears left unquantized
    settings: dict[str, Any] = field(default_factory=dict)  # backend's own parameters, as passed
    seconds: float = 0.0
    from_cache: bool = False  # the packed layers were read from an earlier run's cache file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device, refusing CUDA where there is none."""
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailable(str(device), "CUDA is not available on this machine")
        index = resolved.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailable(str(device), f"only {torch.cuda.device_count()} GPU(s)")
        return torch.device("cuda", index)
    if resolved.type != "cpu":
        raise DeviceUnavailable(str(device), f"device type {resolved.type!r} is not supported")
    return resolved


def default_compute_dtype(device: torch.device) -> str:
    """bf16 everywhere it runs natively; fp16 on GPUs without bf16 (pre-Ampere)."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return "float16"
    return "bfloat16"


def find_decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of decoder blocks, found structurally (no per-family table).

    It is the ``nn.ModuleList`` of same-class blocks with the most parameters, preferring one as
    long as ``config.num_hidden_layers``.
    """
    expected = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    best: tuple[bool, int, nn.ModuleList] | None = None
    for module in model.modules():
        if not isinstance(module, nn.ModuleList) or len(module) == 0:
            continue
        if len({type(block) for block in module}) != 1:
            continue
        if not any(_is_linear_like(s) or is_hqq_linear(s) for s in module[0].modules()):
            continue
        size = sum(p.numel() for p in module.parameters())
        candidate = (len(module) == expected, size, module)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise DecoderLayersNotFound(type(model).__name__)
    return best[2]


def iter_block_linears(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """(qualified name, module) of every linear layer inside the decoder blocks."""
    layers = find_decoder_layers(model)
    prefix = next(name for name, module in model.named_modules() if module is layers)
    for name, module in layers.named_modules():
        if _is_linear_like(module) or is_hqq_linear(module):
            yield f"{prefix}.{name}", module


def count_parameters(model: nn.Module) -> int:
    """Unique parameters (tied weights once). Call it BEFORE quantizing: packed codes are not
    parameters of the original model."""
    return sum(p.numel() for p in model.parameters())


def inventory_from_model(model: nn.Module) -> ParameterInventory:
    """True parameter counts of an unquantized model (real or on the meta device)."""
    shapes = []
    for _, module in iter_block_linears(model):
        out_features, in_features = _linear_weight(module).shape
        shapes.append(LinearShape(out_features, in_features))
    buffers = {id(b): b.numel() * b.element_size() for b in model.buffers()}
    return ParameterInventory(count_parameters(model), tuple(shapes), sum(buffers.values()))


def inventory_from_config(config: PretrainedConfig) -> ParameterInventory:
    """Inventory of the model ``config`` describes, built on the meta device (no weights)."""
    from transformers import AutoModel, AutoModelForCausalLM

    with MODEL_BUILD, torch.device("meta"):
        try:
            model = AutoModelForCausalLM.from_config(config)
        except ValueError:  # not a causal LM (encoder-only, ...): the bare model
            model = AutoModel.from_config(config)
    return inventory_from_model(model)


def quantize(
    model: nn.Module,
    precision: str,
    device: str | torch.device = "cpu",
    *,
    compute_dtype: str | None = None,
    group_size: int | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    source_key: str = "",
) -> QuantizationInfo:
    """Store ``model`` (in place) at ``precision`` on ``device`` and say how.

    Float precisions cast the whole model. q8/q4/q2 first cast it to the compute dtype, then
    replace each decoder-block linear, block by block, by an HQQ layer built directly on
    ``device`` (so a GPU never holds the unquantized weights), then move the rest.
    Raises ``JobCancelled`` between blocks when ``should_stop()`` says so.

    ``cache_dir``: keep the packed layers there (``quantized_cache``) and read them back on a
    later call with the same plan and ``source_key`` (what identifies the checkpoint's weights)
    instead of quantizing again, for plans that run HQQ's optimiser (q4, q2): it took 6.9 / 11.4
    s for SmolLM2-135M on 2 CPU cores (0.9 / 0.7 s read back), and every extraction loads its
    model twice (preflight, run). q8 (no optimiser: 1.1 s either way) is not kept.
    """
    started = time.perf_counter()
    target = resolve_device(device)
    quantized = precision in QUANTIZED_BITS
    dtype_name = compute_dtype or (default_compute_dtype(target) if quantized else None)
    plan = storage_plan(precision, target.type, compute_dtype=dtype_name, group_size=group_size)
    dtype = getattr(torch, plan.compute_dtype)
    info = QuantizationInfo(
        precision=plan.precision,
        backend=plan.backend,
        backend_version=_package_version("hqq" if plan.is_quantized else "torch"),
        compute_dtype=plan.compute_dtype,
        device=str(target),
        bits=plan.bits,
        group_size=plan.group_size,
        axis=plan.axis,
        optimize=plan.optimize,
    )
    if not plan.is_quantized:
        model.to(device=target, dtype=dtype)
    else:
        model.to(dtype=dtype)
        cache = None
        if cache_dir is not None and plan.optimize:  # without HQQ's optimiser (q8) quantizing
            # costs no more than reading the packed layers back, and the file would cost disk
            from interpstudio.ml.quantized_cache import QuantizedCache  # it imports this module

            cache = QuantizedCache(Path(cache_dir), plan, source_key, info.backend_version,
                                   target.type)
        n_blocks = len(find_decoder_layers(model))
        read = cache.load_into(model, target, info, _hqq()[0]) if cache is not None else 0
        if read and progress is not None:
            progress(read, n_blocks)
        if read < n_blocks:
            _quantize_blocks(model, plan, target, info, progress, should_stop, start=read)
            if cache is not None:
                cache.save(model)
        info.from_cache = read == n_blocks
        model.to(device=target)
        info.scope = "decoder-block linear layers; embeddings, lm_head, norms, biases in " + (
            plan.compute_dtype
        )
    model.eval()
    info.seconds = time.perf_counter() - started
    return info


def _quantize_blocks(
    model: nn.Module,
    plan: StoragePlan,
    device: torch.device,
    info: QuantizationInfo,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
    start: int = 0,
) -> None:
    hqq_linear_class = _hqq()[0]
    dtype = getattr(torch, plan.compute_dtype)
    layers = find_decoder_layers(model)
    for index, block in enumerate(layers):
        if index < start:  # already packed (read from the quantized cache)
            continue
        if should_stop is not None and should_stop():
            raise JobCancelled(f"quantization to {plan.precision} stopped at block {index}")
        for name in block_targets(index, block, plan, info.kept_modules):
            config = hqq_config(plan)
            info.settings = dict(config["weight_quant_params"])
            linear = _as_linear(block.get_submodule(name))
            packed = hqq_linear_class(
                linear.to(device), config, compute_dtype=dtype, device=str(device), del_orig=True
            )
            replace_module(block, name, packed)
            info.quantized_modules += 1
        block.to(device)
        if progress is not None:
            progress(index + 1, len(layers))


def block_targets(index: int, block: nn.Module, plan: StoragePlan, kept: list[str]) -> list[str]:
    """Names of block ``index``'s linears that ``plan`` quantizes; the others are appended to
    ``kept`` as ``"<index>.<name>"``."""
    targets = []
    for name, module in block.named_modules():
        if not _is_linear_like(module):
            continue
        out_features, in_features = _linear_weight(module).shape
        if is_quantizable(LinearShape(out_features, in_features), plan):
            targets.append(name)
        else:
            kept.append(f"{index}.{name}")
    return targets


def hqq_config(plan: StoragePlan) -> dict[str, Any]:
    """HQQ's quantization config for ``plan``."""
    config = _hqq()[1](nbits=plan.bits, group_size=plan.group_size, axis=plan.axis)
    config["weight_quant_params"]["optimize"] = plan.optimize
    return config


def replace_module(block: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(block.get_submodule(parent_name) if parent_name else block, child, module)


def measured_weight_bytes(model: nn.Module) -> int:
    """Bytes that the model's parameters and buffers occupy as actually stored.

    Counts each storage once (tied weights share one), the packed codes of HQQ layers
    (``W_q``, a uint8 parameter) and their ``meta`` scale / zero tensors, and the inner tensors
    of tensor subclasses (``__tensor_flatten__``) rather than their logical size.
    """
    seen: dict[tuple[str, int], int] = {}
    for tensor in _stored_tensors(model):
        _record_storage(tensor, seen)
    return sum(seen.values())


def measured_linear_weight_bytes(model: nn.Module) -> int:
    """Bytes of the decoder-block linear weights only (codes + scales + zeros if quantized)."""
    seen: dict[tuple[str, int], int] = {}
    for _, module in iter_block_linears(model):
        tensors = _hqq_tensors(module) if is_hqq_linear(module) else [module.weight]
        for tensor in tensors:
            _record_storage(tensor, seen)
    return sum(seen.values())


@dataclass
class LayerDrift:
    layer: int
    mean_cosine: float  # mean over tokens of cos(reference, quantized) of resid_post
    min_cosine: float
    relative_error: float  # ||quantized - reference|| / ||reference|| over all tokens


@dataclass
class DriftReport:
    layers: list[LayerDrift]

    @property
    def cosines(self) -> list[float]:
        return [layer.mean_cosine for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        return {"layers": [asdict(layer) for layer in self.layers]}


@torch.no_grad()
def measure_drift(
    reference_model: nn.Module,
    quantized_model: nn.Module,
    input_ids: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
) -> DriftReport:
    """Per-layer similarity of resid_post (each decoder block's output) to a reference model.

    ``input_ids`` (B, T); padded positions (mask 0) are left out. Statistics in float64.
    """
    reference = _block_outputs(reference_model, input_ids, attention_mask)
    quantized = _block_outputs(quantized_model, input_ids, attention_mask)
    keep = (
        attention_mask.bool().reshape(-1)
        if attention_mask is not None
        else torch.ones(input_ids.numel(), dtype=torch.bool)
    )
    layers = []
    for index, (ref, new) in enumerate(zip(reference, quantized, strict=True)):
        ref_rows = ref.reshape(-1, ref.shape[-1])[keep]  # (N, d_model)
        new_rows = new.reshape(-1, new.shape[-1])[keep]
        cosine = torch.nn.functional.cosine_similarity(ref_rows, new_rows, dim=-1)  # (N,)
        error = (new_rows - ref_rows).norm() / ref_rows.norm().clamp_min(1e-30)
        layers.append(LayerDrift(index, cosine.mean().item(), cosine.min().item(), error.item()))
    return DriftReport(layers)


def _block_outputs(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> list[torch.Tensor]:
    """Output hidden state of every decoder block, (B, T, d_model) float64 on CPU."""
    layers = find_decoder_layers(model)
    outputs: list[torch.Tensor] = [torch.empty(0)] * len(layers)

    def capture(index: int) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            outputs[index] = hidden.detach().to("cpu", torch.float64)

        return hook

    handles = [block.register_forward_hook(capture(i)) for i, block in enumerate(layers)]
    try:
        device = next(model.parameters()).device
        mask = attention_mask.to(device) if attention_mask is not None else None
        model(input_ids=input_ids.to(device), attention_mask=mask)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _is_linear_like(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def is_hqq_linear(module: nn.Module) -> bool:
    return hasattr(module, "W_q") and isinstance(getattr(module, "meta", None), dict)


def _linear_weight(module: nn.Module) -> torch.Tensor:
    """Weight as (out_features, in_features), whatever the layer's own layout."""
    weight = module.weight
    return weight.t() if type(module).__name__ == "Conv1D" else weight  # Conv1D is (in, out)


def _as_linear(module: nn.Module) -> nn.Linear:
    if isinstance(module, nn.Linear):
        return module
    weight = _linear_weight(module)  # GPT-2 style Conv1D
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=module.bias is not None)
    linear.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if module.bias is not None:
            linear.bias.copy_(module.bias)
    return linear


def _hqq_tensors(module: nn.Module) -> list[torch.Tensor]:
    return [module.W_q] + [v for v in module.meta.values() if isinstance(v, torch.Tensor)]


def _stored_tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()
    for module in model.modules():
        if is_hqq_linear(module):
            yield from _hqq_tensors(module)
            if isinstance(module.bias, torch.Tensor):  # HQQ keeps bias as a plain attribute
                yield module.bias


def _record_storage(tensor: torch.Tensor, seen: dict[tuple[str, int], int]) -> None:
    flatten = getattr(type(tensor), "__tensor_flatten__", None)
    if flatten is not None and type(tensor) not in (torch.Tensor, nn.Parameter):
        names, _ = tensor.__tensor_flatten__()
        for name in names:
            _record_storage(getattr(tensor, name), seen)
        return
    storage = tensor.untyped_storage()
    seen[(str(tensor.device), storage.data_ptr())] = storage.nbytes()


def _hqq() -> tuple[type[nn.Module], Callable[..., dict[str, Any]]]:
    try:
        from hqq.core.quantize import BaseQuantizeConfig, HQQLinear
    except ImportError as exc:
        raise QuantizationBackendMissing("hqq") from exc
    return HQQLinear, BaseQuantizeConfig


def _package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
