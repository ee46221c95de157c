"""The extraction engine: run a model over a tokenized dataset into an activation store.

    from interpstudio.ml import extract
    result = extract(model, "data/tokenizations/7", ["blocks.*.resid_post"], out_dir="acts/run1")
    acts = open_activations(result.path)

Per batch of consecutive sequences (right-padded, with an attention mask when lengths differ): ONE
forward pass (in inference mode: a model handed over in training mode has its dropout off for the
pass, its modules' flags put back after) captures every requested hook point (``hooks.capture``:
hooks installed in a ``with`` block and always removed; the pass stops after the deepest requested
point, so later layers, the final norm and the LM head never run). The rows the position policy
keeps (never a pad position) are gathered on the device, moved to the CPU (on the CPU: cast inside
each point's hook, as it is computed, straight into the rows of the shard buffers the writer
lends, ``ActivationWriter.lend``, else into a staging; on CUDA: copied asynchronously into pinned
memory, and the batch is handed over only once the next one is queued on the device, so that the
GPU never waits for the host) and handed to the store's background writer
(``store_writer.ActivationWriter``), which writes shards and folds the float64 statistics. On an
accelerator it does so while the next batch computes; on the CPU its CPU work runs between two
batches and only its disk writes overlap the next one (``pace``, see ``store_writer``). Whatever
the precision (fp32 / fp16 / bf16 / q8 / q4 / q2), the captured tensors are module outputs in the
compute dtype, i.e. dequantized.

Out of memory on a batch: the batch is split in halves (recursively, down to one sequence) and
the smaller size is kept for the rest of the run; each event is recorded in the result. Resume
(``resume=True``): the store says where it stands; the run restarts at the planned batch holding
the first sequence not fully stored, recomputes it, and drops the rows already stored, so the
final store is byte-identical to an uninterrupted run (same device, no OOM split in between).
Stopping: ``should_stop()`` is checked before every batch and at every point captured inside
the forward pass (a stop asked for during a long batch ends it within one layer's compute, not
at its end: 13-16 s for 8 x 256 tokens of SmolLM2 on a busy 2-core CPU); the batch is dropped,
the store is closed as a valid ``partial`` store and ``JobCancelled`` is raised.

This module is NOT responsible for loading models (``loading.py``), tokenizing
(``token_store.py``), naming or resolving hook points (``hook_points.py``, ``hooks.py``), the
store format or statistics (``store*.py``, ``stats.py``) or estimates (``extract_preflight.py``).
"""

from __future__ import annotations

import collections
import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from interpstudio.core.errors import InvalidInput, JobCancelled
from interpstudio.ml.architecture import Architecture, resolve_architecture
from interpstudio.ml.buffer_cache import buffer_cache
from interpstudio.ml.extract_outcome import (
    BytesCounter,
    ExtractionIncomplete,
    ExtractionProgress,
    ExtractionResult,
    nonfinite_warnings,
    shard_file_bytes,
)
from interpstudio.ml.extract_plan import (
    Batch,
    ExtractionPlan,
    PositionPolicy,
    check_context,
    check_tokenizer,
    check_vocabulary,
    plan_extraction,
    tokens_fingerprint,
)
from interpstudio.ml.hook_points import expand_hook_points
from interpstudio.ml.hooks import ActivationCapture, ActivationModifiedInPlace, capture
from interpstudio.ml.stats import StatsConfig
from interpstudio.ml.store_writer import (
    DEFAULT_SHARD_BYTES,
    ActivationBatch,
    ActivationWriter,
    ShardLoan,
)
from interpstudio.ml.token_store import TokenizedDataset, open_tokenized

STORAGE_TORCH_DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
}


def extract(
    model: nn.Module | Any,
    tokenized: TokenizedDataset | str | os.PathLike[str],
    hook_points: str | Iterable[str],
    *,
    out_dir: str | os.PathLike[str],
    batch_size: int = 8,
    positions: str = "all",
    every_k: int = 1,
    dtype: str = "float16",
    max_samples: int | None = None,
    max_tokens: int | None = None,
    device: str | torch.device | None = None,
    progress: Callable[[ExtractionProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
    spec: dict[str, Any] | None = None,
    shard_rows: int | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    durable: bool = True,
    max_queued_batches: int = 2,
    pace: str | None = None,
) -> ExtractionResult:
    """Capture ``hook_points`` (names or patterns such as ``blocks.*.resid_post``) of ``model``
    (an ``nn.Module`` or a ``loading.LoadedModel``) over ``tokenized`` into a store at
    ``out_dir``; see the module docstring. ``spec`` adds caller facts (model id, precision,
    tokenization id) to the store's spec and config hash. The pass runs where the model is;
    ``device``, when given, must name that device: a model elsewhere is refused, not moved
    (``ModelOnAnotherDevice``: move it first; also by ``preflight``). ``pace``: how the writer
    shares the machine with the forward pass (``store_writer``): ``"inline"`` by default for a
    model on the CPU, ``"overlap"`` on an accelerator."""
    session = ExtractionSession.prepare(
        model, tokenized, hook_points, batch_size=batch_size, positions=positions,
        every_k=every_k, dtype=dtype, max_samples=max_samples, max_tokens=max_tokens,
        device=device,
    )
    return session.run(
        out_dir, progress=progress, should_stop=should_stop, resume=resume, spec=spec,
        shard_rows=shard_rows, shard_bytes=shard_bytes, durable=durable,
        max_queued_batches=max_queued_batches, pace=pace,
    )


def _unwrap(model: Any) -> nn.Module:
    inner = getattr(model, "model", None)
    if not isinstance(model, nn.Module) and isinstance(inner, nn.Module):
        return inner  # a loading.LoadedModel
    if not isinstance(model, nn.Module):
        raise InvalidInput(
            f"extract needs a torch model (nn.Module or LoadedModel), got {type(model).__name__}",
            details={"type": type(model).__name__},
        )
    return model


def loaded_facts(model: Any) -> dict[str, Any]:
    """The precision a ``loading.LoadedModel`` was asked for and loaded at, and how it was
    quantized, for the store's spec (DESIGN.md: the precision actually used is recorded). A load's
    timing and cache flag differ between two loads of the same weights and stay out: the spec is a
    resume's identity (its config hash).

    A model loaded from a quantized GGUF (``load_model("x.gguf")`` in a notebook) adds its
    ``source_quantization`` under the key the app's extract job writes from the model row's
    (``jobs/tasks/extraction.py``), so both stores say their "fp32" rows are of a float32 copy
    of Q4_1 weights; absent otherwise, as the job leaves it.

    A bare module (a notebook's own ``from_pretrained(..., dtype=torch.bfloat16)``) was asked for
    nothing: its weights say what it runs at (``module_facts``)."""
    if isinstance(model, nn.Module) or not hasattr(model, "precision_used"):
        return module_facts(model) if isinstance(model, nn.Module) else {}
    # not the timing and cache flag, nor the device index (device_type is in the spec): a resume
    # after a second load, or on another GPU of the same kind, is the same store
    quantization = {k: v for k, v in model.quantization.to_dict().items()
                    if k not in ("seconds", "from_cache", "device")}
    source = getattr(model, "source_quantization", None)
    return {"precision_requested": model.precision_requested,
            "precision_used": model.precision_used, "quantization": quantization,
            **({"source_quantization": source} if source else {})}


_PRECISION_OF = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


def module_facts(module: nn.Module) -> dict[str, Any]:
    """A bare module's weights as the spec records them: ``parameter_dtypes`` (dtype -> number of
    parameter values; buffers such as the rotary frequencies, which transformers keeps in float32
    in a bf16 model, are not weights) and, where every parameter is float32, float16 or bfloat16
    alike, that ``precision_used`` ("bf16"); a module holding packed integer weights (a quantized
    layer: uint8 beside its bf16 scales) or a mix of float types names no single precision."""
    counts: dict[torch.dtype, int] = {}
    for parameter in module.parameters():
        counts[parameter.dtype] = counts.get(parameter.dtype, 0) + parameter.numel()
    named = {str(dtype).removeprefix("torch."): count for dtype, count in counts.items()}
    facts: dict[str, Any] = {"parameter_dtypes": dict(sorted(named.items()))}
    precision = {_PRECISION_OF.get(dtype) for dtype in counts}
    if len(precision) == 1 and None not in precision:
        facts["precision_used"] = precision.pop()
    return facts


# recorded from 2026-12-06 on (source_quantization, a GGUF import's stored weights, later); a
# bare module's precision_used and parameter_dtypes from 2026-12-07 on (the model fingerprint,
# which samples the weights as stored, told its precision apart before)
PROVENANCE_KEYS = ("precision_requested", "quantization", "source_quantization",
                   "precision_used", "parameter_dtypes")


def keep_begun_identity(out_dir: str | os.PathLike[str], spec: dict[str, Any],
                        model: nn.Module) -> dict[str, Any]:
    """For a resume, the spec as the store was begun with it: the provenance keys it was begun
    without stay out (recorded since 2026-12-06), those only it has are kept, and a store begun
    with the ends-only model fingerprint is compared by that one; so a store begun by an earlier
    version still resumes, and what identifies the data (fingerprints, plan, dtype, and
    precision_used where both record it) is compared."""
    from interpstudio.core.errors import AppError
    from interpstudio.ml.store import read_manifest

    try:
        begun = read_manifest(Path(out_dir)).get("spec", {})
    except (AppError, OSError, ValueError):
        return spec  # no store yet (a fresh start): the writer decides
    spec = {k: v for k, v in spec.items() if k not in PROVENANCE_KEYS or k in begun}
    # and those it was begun with that this model does not give (a bare module's parameter
    # dtypes, resumed with a LoadedModel of the same weights): the fingerprint compares those
    spec.update({k: begun[k] for k in PROVENANCE_KEYS if k in begun and k not in spec})
    if not str(begun.get("model_fingerprint", SAMPLED)).startswith(SAMPLED):
        spec["model_fingerprint"] = model_fingerprint(model, sampled=False)
    return spec


def tokenization_bos(policy: dict[str, Any], model_bos: Any) -> int | None:
    """The BOS id the position policy and the statistics' BOS group go by: the one of the
    tokenizer that made the tokenization (``resolve_policy`` keeps it under ``tokenizer``), else
    the model config's; where the two differ, the tokens hold the tokenizer's."""
    for bos in ((policy.get("tokenizer") or {}).get("bos_token_id"), model_bos):
        if isinstance(bos, int) and not isinstance(bos, bool):
            return bos
    return None


def model_device(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    return torch.device("cpu")


def _read_stats(directory: Path) -> dict[str, Any] | None:
    import orjson

    from interpstudio.ml.store import STATS_NAME

    path = directory / STATS_NAME
    return orjson.loads(path.read_bytes()) if path.is_file() else None


FINGERPRINT_STRIDE = 61  # prime: the sample meets every row and column of a matrix of 61+ rows
SAMPLED = "s61:"  # the prefix of a fingerprint with the strided sample (see keep_begun_identity)


def model_fingerprint(model: nn.Module, *, sampled: bool = True) -> str:
    """sha256 over every parameter's and buffer's name, shape, dtype, first and last 16 values
    and every 61st value: which weights, at which precision (a q8 layer's packed weight, a bf16
    cast), reading 1/61 of a model (~0.1 s for SmolLM2-135M on a CPU). Recorded in the store's
    spec, so a resume with another model, an edited one or another precision is refused instead
    of mixing two models' rows in one store. The ends alone (``sampled=False``, stores begun
    before 2026-12-06) missed a zeroed neuron or a changed embedding row (a tester)."""
    import hashlib

    digest = hashlib.sha256()
    tensors = [*model.named_parameters(), *model.named_buffers()]
    for name, tensor in tensors:
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype};".encode())
        if tensor.is_meta or tensor.numel() == 0:
            continue
        flat = tensor.detach().reshape(-1)
        parts = [flat[:16], flat[-16:], *([flat[::FINGERPRINT_STRIDE]] if sampled else [])]
        digest.update(torch.cat(parts).cpu().view(torch.uint8).numpy().tobytes())
    return (SAMPLED if sampled else "") + digest.hexdigest()


def checked_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device, refused with what to do when it is malformed or absent
    (``meta`` too: it holds shapes, not values)."""
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInput(f"{device!r} is not a device name; use 'cpu', 'cuda' or 'cuda:N'",
                           details={"device": str(device)}) from exc
    if target.type == "meta":
        raise InvalidInput(f"device {str(device)!r} holds no values to compute with; use 'cpu', "
                           "'cuda' or 'cuda:N'", details={"device": str(device)})
    if target.type == "cuda" and (not torch.cuda.is_available() or (
            target.index is not None and target.index >= torch.cuda.device_count())):
        raise InvalidInput(
            f"device {str(device)!r} is not available on this machine "
            f"({torch.cuda.device_count()} CUDA devices); use 'cpu' or leave device unset",
            details={"device": str(device), "cuda_devices": torch.cuda.device_count()})
    return target


class ModelOnAnotherDevice(InvalidInput):
    """``device`` names another device than the one the caller's model is on. The engine does
    not move a model it is given: ``.to`` moved the caller's object and left it there (a model
    in VRAM for the next cell found on the CPU, ``device="meta"`` discarded its weights), and
    moving it back after each run would cost two full copies per call (four with ``preflight``)
    and could itself fail half-way (out of memory on the target) with the model split between
    two devices. The app loads the model on its device and never asks for a move."""

    code = "model_on_another_device"

    def __init__(self, current: torch.device, target: torch.device, name: str) -> None:
        super().__init__(
            f"the model is on {current} and device={str(target)!r} asks for {target}: extract "
            f"does not move the model it is given; move it first ({name}.to({str(target)!r})) "
            f"or leave device unset to run on {current}",
            details={"model_device": str(current), "device": str(target)})


def run_device(module: nn.Module, device: str | torch.device | None, name: str) -> torch.device:
    """Where the pass runs: the device the model is on, which ``device``, when given, must name
    (``ModelOnAnotherDevice`` otherwise; ``cuda`` names the current CUDA device). A model whose
    weights are on the meta device (not loaded) is refused: it has nothing to compute with."""
    current = model_device(module)
    if current.type == "meta":
        raise InvalidInput("the model's weights are on the meta device (shapes without values): "
                           "load the weights first", details={"model_device": "meta"})
    if device is None:
        return current
    target = checked_device(device)

    def resolved(d: torch.device) -> torch.device:
        if d.type == "cpu":  # "cpu:0" is the CPU too
            return torch.device("cpu")
        if d.type == "cuda" and d.index is None:
            return torch.device("cuda", torch.cuda.current_device())
        return d

    if resolved(current) != resolved(target):
        raise ModelOnAnotherDevice(current, target, name)
    return current


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text
    )


class StagingPool:
    """CPU memory the kept rows of a batch are cast into, reused once the writer has copied them
    into its shard buffers (``ActivationBatch.release``). Fresh memory per batch costs a page
    fault per 4 KB (26,000 per batch of 8 x 128 tokens at 90 points of 576); reusing it took the
    benchmark's disk-bound case from ~525 to ~745 MB/s. One staging holds every hook point's rows
    in one mapping (from ``buffer_cache``: a previous run's, else fresh with huge pages where
    offered), sized for the plan's largest batch; on the CPU only a batch the writer lends no
    rows for uses one (more rows than the rest of its shard and the next one), one at a time
    (the inline writer releases it before ``append`` returns), on an accelerator at most queue
    length + 2 (+ 1 with the lookahead), and the run hands them to ``buffer_cache`` when it ends.
    ``pinned``
    (a CUDA run): page-locked memory from torch instead, which the device copies into
    asynchronously (torch caches it; ``buffer_cache`` does not keep it). Thread-safe:
    ``release`` runs on the writer's thread."""

    def __init__(self, dtype: torch.dtype, *, pinned: bool = False) -> None:
        self.dtype = dtype
        self.pinned = pinned
        self._free: collections.deque[Staging] = collections.deque()

    def take(self, rows: int, widths: dict[str, int], capacity: int = 0) -> Staging:
        """A staging with room for ``rows`` rows of each hook point of ``widths``: a free one
        where it fits, else a new one with room for ``max(rows, capacity)``."""
        while True:
            try:
                staging = self._free.pop()
            except IndexError:
                return Staging(self, max(rows, capacity), widths)
            if staging.capacity >= rows and staging.widths == widths:
                return staging
            # too small for this batch, or other widths: let it go

    def give_back(self, staging: Staging) -> None:
        self._free.append(staging)

    def recycle(self, *, keep: bool = True) -> None:
        """Hand the free stagings' memory to ``buffer_cache`` (the run is over); without
        ``keep``, let it go instead (unmapped once no tensor refers to it): the preflight's
        calibration, where the run that follows casts every batch into lent shard rows."""
        while self._free:
            memory = self._free.pop().memory
            if memory is not None and keep:
                buffer_cache.give_back(memory)


class Staging:
    """One batch's rows of every hook point: ``rows(name, n)`` is an ``(n, w)`` CPU tensor."""

    def __init__(self, pool: StagingPool, capacity: int, widths: dict[str, int]) -> None:
        self.pool = pool
        self.capacity = capacity
        self.widths = dict(widths)
        total = capacity * sum(widths.values())
        if pool.pinned:
            self.memory = None
            flat = torch.empty(total, dtype=pool.dtype, pin_memory=True)
        else:
            self.memory = buffer_cache.take(total * pool.dtype.itemsize)
            flat = torch.frombuffer(self.memory, dtype=pool.dtype)
        starts = np.cumsum([0, *widths.values()]) * capacity
        self._parts = {name: flat[int(a) : int(b)]
                       for name, a, b in zip(widths, starts[:-1], starts[1:], strict=True)}

    def rows(self, name: str, n: int) -> torch.Tensor:
        return self._parts[name][: n * self.widths[name]].view(n, self.widths[name])

    def release(self) -> None:
        self.pool.give_back(self)


@dataclass
class ExtractionSession:
    """A model, dataset, hook points and plan, checked and ready to run (also used by preflight)."""

    model: nn.Module
    tokenized: TokenizedDataset
    architecture: Architecture
    hook_names: list[str]
    hooks: ActivationCapture
    plan: ExtractionPlan
    dtype: str
    device: torch.device
    pad_token_id: int
    batch_limit: int
    oom_events: list[dict[str, Any]] = field(default_factory=list)
    # the model's precision facts, written into the store's spec (``loaded_facts``)
    model_facts: dict[str, Any] = field(default_factory=dict)
    # batches computed ahead of the one handed to the writer (None: ``batches_ahead`` chooses)
    lookahead: int | None = None
    # the dtype each point is computed in (the model's, dequantized), found by ``probe_widths``
    computed_dtypes: dict[str, str] = field(default_factory=dict)
    _staging: StagingPool = field(init=False, repr=False)
    # during a run on the CPU: the writer's ``lend``, so that rows are cast straight into the
    # shard buffers (None: into a staging, which the writer copies from)
    _lend: Callable[[int], ShardLoan | None] | None = field(default=None, init=False,
                                                             repr=False)

    def __post_init__(self) -> None:
        self._staging = StagingPool(STORAGE_TORCH_DTYPES[self.dtype],
                                    pinned=self.device.type == "cuda")

    @property
    def batches_ahead(self) -> int:
        """Batches computed ahead of the one handed to the writer: ``lookahead`` if set, else 1
        on CUDA (the device runs batch k+1 while batch k's rows are copied to the host), else
        0."""
        return self.lookahead if self.lookahead is not None else int(self.device.type == "cuda")

    @classmethod
    def prepare(
        cls,
        model: nn.Module | Any,
        tokenized: TokenizedDataset | str | os.PathLike[str],
        hook_points: str | Iterable[str],
        *,
        batch_size: int,
        positions: str,
        every_k: int,
        dtype: str,
        max_samples: int | None,
        max_tokens: int | None,
        device: str | torch.device | None,
    ) -> ExtractionSession:
        """Validate everything that can be checked without running a batch."""
        module = _unwrap(model)
        if dtype not in STORAGE_TORCH_DTYPES:
            raise InvalidInput(
                f"storage dtype {dtype!r} is not supported; use float16, bfloat16 or float32",
                details={"dtype": dtype, "valid": list(STORAGE_TORCH_DTYPES)},
            )
        if not isinstance(tokenized, (TokenizedDataset, str, os.PathLike)):
            raise InvalidInput(
                "tokenized must be a tokenization's folder (a path) or an open_tokenized(...) "
                f"dataset, got {type(tokenized).__name__}; to extract from token lists, write "
                "them as a tokenization first",
                details={"type": type(tokenized).__name__})
        data = tokenized if isinstance(tokenized, TokenizedDataset) else open_tokenized(tokenized)
        architecture = resolve_architecture(module)
        names = expand_hook_points(hook_points, architecture.n_layers)
        hooks = capture(module, names, architecture=architecture)  # unresolvable points fail here
        config = getattr(module, "config", None)
        bos = tokenization_bos(data.policy, getattr(config, "bos_token_id", None))
        policy = PositionPolicy(positions, every_k, bos)
        plan = plan_extraction(data, batch_size=batch_size, positions=policy,
                               max_samples=max_samples, max_tokens=max_tokens)
        get_embeddings = getattr(module, "get_input_embeddings", None)
        embeddings = get_embeddings() if get_embeddings is not None else None
        vocab = getattr(embeddings, "num_embeddings", None) or architecture.vocab_size
        check_vocabulary(data, plan, vocab)
        check_tokenizer(data, getattr(model, "tokenizer", None) if module is not model else None)
        check_context(module, plan)
        target = run_device(module, device, "model" if module is model else "loaded.model")
        pad = getattr(config, "pad_token_id", None)
        session = cls(module, data, architecture, names, hooks, plan, dtype, target,
                      pad if isinstance(pad, int) and 0 <= pad < (vocab or 1 << 62) else 0,
                      plan.batch_size)  # the plan's: checked, an int
        session.model_facts = loaded_facts(model)
        return session

    # ------------------------------------------------------------------------------ forward
    def inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T) right-padded input ids and the (B, T) mask (None when nothing is padded)."""
        lengths = batch.lengths
        width = int(lengths.max())
        ids = np.full((len(lengths), width), self.pad_token_id, np.int64)  # (B, T)
        offsets = self.tokenized.offsets
        for row, (seq, length) in enumerate(zip(batch.sequences, lengths, strict=True)):
            start = int(offsets[seq])
            ids[row, :length] = self.tokenized.tokens[start : start + int(length)]
        input_ids = torch.from_numpy(ids).to(self.device)
        if bool((lengths == width).all()):
            return input_ids, None
        mask = torch.from_numpy(np.arange(width)[None, :] < lengths[:, None]).to(self.device)
        return input_ids, mask.long()

    def forward(
        self, input_ids: torch.Tensor, mask: torch.Tensor | None,
        sink: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """One forward pass capturing every point ({name: (B, T, width)}, or what ``sink``
        returns for each as it is computed; see ``ActivationCapture.sink``)."""
        self.hooks.sink = sink
        try:
            for attempt in (0, 1):
                try:
                    with torch.no_grad(), _eval_mode(self.model), self.hooks as activations:
                        self.model(input_ids=input_ids, attention_mask=mask, use_cache=False)
                    return activations
                except ActivationModifiedInPlace:
                    if attempt:
                        raise
        finally:
            self.hooks.sink = None
        raise AssertionError("unreachable")

    @cached_property
    def widths(self) -> dict[str, int]:
        """Width of every point (probed once)."""
        return self.probe_widths()

    def probe_widths(self) -> dict[str, int]:
        """Width of every point, from a 2-token forward pass of the first non-empty sequence;
        also records the dtype each point is computed in (``computed_dtypes``)."""
        first = int(np.flatnonzero(self.plan.lengths)[0])  # the plan holds tokens: one exists
        probe = Batch(0, first, np.minimum(self.plan.lengths[first : first + 1], 2))
        activations = self.forward(*self.inputs(probe))
        # an Inf computed in float16 is the model's own overflow, not the storage cast's: the
        # result's warnings must tell the two apart (``nonfinite_warnings``)
        self.computed_dtypes = {name: str(activations[name].dtype).removeprefix("torch.")
                                for name in self.hook_names}
        return {name: int(activations[name].shape[-1]) for name in self.hook_names}

    def capture_rows(self, batch: Batch, skip_before: int, *,
                     lend: Callable[[int], ShardLoan | None] | None = None
                     ) -> ActivationBatch | None:
        """Run ``batch``; its kept rows on the CPU in the storage dtype, in stream order (None,
        and no forward, when it keeps no row). On the CPU each point's rows are cast as the
        point is computed (hot in the cache; the float32 outputs are not all kept to the end of
        the pass), straight into the writer's shard buffers where ``lend`` lends them, else
        into a staging; on an accelerator they are gathered, cast and copied off after the pass
        (a copy to the CPU inside it would stall the device's queue 3 times per layer), on CUDA
        asynchronously into pinned memory: the batch's ``ready`` waits for it."""
        kept = self.kept_rows(batch, skip_before)
        if kept is None:
            return None
        index, sequence, position, token_ids = kept
        everything = index.size == len(batch.lengths) * int(batch.lengths.max())
        device_index = None if everything else torch.from_numpy(index).to(self.device)
        loan = lend(index.size) if lend is not None and self.device.type == "cpu" else None
        if loan is not None:
            lent = {name: [self._storage_tensor(part) for part in parts]
                    for name, parts in loan.parts.items()}
            give_back = loan.cancel
        else:
            staging = self._staging.take(index.size, self.widths,
                                         capacity=self.plan.max_batch_rows)
            give_back = staging.release

        def take(name: str, x: torch.Tensor) -> torch.Tensor:
            x = x.reshape(-1, x.shape[-1])  # (B*T, w)
            if device_index is not None:
                x = x.index_select(0, device_index)  # (N, w)
            if loan is None:
                return self._to_storage(x, [staging.rows(name, index.size)],
                                        non_blocking=staging.pool.pinned)
            return self._to_storage(x, lent[name])

        ready = None
        try:
            if self.device.type == "cpu":
                moved = self.forward(*self.inputs(batch), sink=take)
            else:
                activations = self.forward(*self.inputs(batch))
                moved = {name: take(name, activations[name]) for name in self.hook_names}
                if staging.pool.pinned:  # copies queued: the rows are there once this passes
                    copied = torch.cuda.Event()
                    copied.record(torch.cuda.current_stream(self.device))
                    ready = copied.synchronize
        except BaseException:
            give_back()  # a copy still queued lands before any later one into it
            raise
        if loan is not None:
            return ActivationBatch({}, token_ids, sequence, position, loan.cancel, loan=loan)
        return ActivationBatch({name: moved[name] for name in self.hook_names}, token_ids,
                               sequence, position, staging.release, ready)

    def _storage_tensor(self, rows: np.ndarray) -> torch.Tensor:
        """A torch view of shard buffer ``rows`` in the storage dtype (bfloat16: its bits)."""
        tensor = torch.from_numpy(rows)
        dtype = STORAGE_TORCH_DTYPES[self.dtype]
        return tensor if tensor.dtype == dtype else tensor.view(dtype)

    def plan_ends_at(self, sequence: int, rows: int) -> bool:
        """Whether the plan keeps exactly ``rows`` rows of ``sequence`` (a whole tail)."""
        planned = self.plan.rows_per_sequence
        return sequence < self.plan.n_sequences and int(planned[sequence]) == rows

    def planned_rows(self, sequence: int) -> np.ndarray:
        """(k, 3) token, sequence, position of the rows the plan keeps of ``sequence``."""
        kept = self.kept_rows(Batch(0, sequence, self.plan.lengths[sequence : sequence + 1]), 0)
        if kept is None:
            return np.empty((0, 3), np.int64)
        _, seqs, position, token_ids = kept
        return np.stack([token_ids, seqs, position], axis=1).astype(np.int64)

    def kept_rows(
        self, batch: Batch, skip_before: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """(index into the (B*T) flattened batch, sequence, position, token id) of each row the
        position policy keeps, in stream order; None when it keeps none."""
        width = int(batch.lengths.max())
        flat: list[np.ndarray] = []
        seqs: list[np.ndarray] = []
        for row, (seq, length) in enumerate(zip(batch.sequences, batch.lengths, strict=True)):
            if seq < skip_before:
                continue
            start = int(self.tokenized.offsets[seq])
            first = int(self.tokenized.tokens[start]) if length else -1
            kept = self.plan.policy.keep(int(length), first)
            flat.append(row * width + kept)
            seqs.append(np.full(len(kept), seq, np.int64))
        index = np.concatenate(flat) if flat else np.empty(0, np.int64)  # (N,) into (B*T)
        if index.size == 0:
            return None
        position = index % width
        sequence = np.concatenate(seqs)
        starts = np.asarray(self.tokenized.offsets, np.int64)[sequence]
        token_ids = np.asarray(self.tokenized.tokens[starts + position]).astype(np.int64)
        return index, sequence, position, token_ids

    def _to_storage(
        self, x: torch.Tensor, out: list[torch.Tensor], *, non_blocking: bool = False
    ) -> torch.Tensor:
        """``x`` off the device in the storage dtype, into ``out`` (reused CPU memory: a
        staging's rows, or the lent rows of one shard and of the next, in order); returns the
        last part. The cast runs here, in torch (vectorised; numpy's float32 -> float16 cast is
        ~20x slower and would run on the writer's cores); on an accelerator it runs there, before
        the copy, which is only queued when ``non_blocking`` (``out`` pinned: wait for the
        batch's event)."""
        if x.device.type != "cpu":
            x = x.to(out[0].dtype)
        start = 0
        for part in out:
            part.copy_(x[start : start + len(part)], non_blocking=non_blocking)
            start += len(part)
        return part

    def recycle_memory(self, *, keep: bool = True) -> None:
        """Hand the stagings released so far to ``buffer_cache`` for the next run, or without
        ``keep`` let them go (call once no batch is in flight)."""
        self._staging.recycle(keep=keep)

    def compute(self, batch: Batch, skip_before: int) -> list[ActivationBatch]:
        """Run ``batch`` in chunks of at most ``batch_limit`` sequences, halving on OOM; a stop
        or an error in a later chunk gives back the earlier chunks' memory."""
        out: list[ActivationBatch] = []
        try:
            self._compute_chunks(batch, skip_before, out)
        except BaseException:
            for rows in out:
                _drop(rows)
            raise
        return out

    def _compute_chunks(self, batch: Batch, skip_before: int, out: list[ActivationBatch]) -> None:
        done = 0
        lend = self._lend
        while done < len(batch.lengths):
            size = min(self.batch_limit, len(batch.lengths) - done)
            chunk = Batch(batch.index, batch.first + done, batch.lengths[done : done + size])
            try:
                rows = self.capture_rows(chunk, skip_before, lend=lend)
            except (torch.OutOfMemoryError, MemoryError, RuntimeError) as exc:
                if not _is_oom(exc) or size == 1:
                    raise
                self.batch_limit = max(1, size // 2)
                self.oom_events.append({
                    "batch": batch.index, "sequences": size, "retry_with": self.batch_limit,
                    "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                })
                del exc
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            if rows is not None:
                out.append(rows)
                if rows.loan is None:  # the writer copies it in: later rows must not be lent
                    lend = None  # ahead of it (loans are counted after the lent rows only)
            done += size

    # ----------------------------------------------------------------------------------- run
    def store_spec(self, extra: dict[str, Any] | None) -> dict[str, Any]:
        """The engine's facts, the loaded model's, then the caller's ``extra``, which may set the
        model's (the app records the precision it asked for) but not the engine's: an ``extra``
        ``dtype`` or ``positions`` made the manifest say what the store does not hold (and the
        export warned by it)."""
        own = self._engine_spec()
        clashing = sorted(set(extra or {}) & set(own))
        if clashing:
            raise InvalidInput(
                f"spec keys {', '.join(clashing)} are the engine's own record of what the store "
                "holds; give your facts other names (e.g. 'my_dtype')",
                details={"keys": clashing})
        return {**own, **self.model_facts, **(extra or {})}

    def _engine_spec(self) -> dict[str, Any]:
        return {
            "hook_points": self.hook_names,
            "dtype": self.dtype,
            "positions": self.plan.policy.to_dict(),
            "batch_size": self.plan.batch_size,
            "plan": self.plan.to_dict(),
            "model_type": self.architecture.model_type,
            "model_class": self.architecture.model_class,
            "tokenizer_key": self.tokenized.tokenizer_key,
            "tokenization_policy": self.tokenized.policy,
            "device_type": self.device.type,
            "model_fingerprint": model_fingerprint(self.model),
            "tokens_fingerprint": tokens_fingerprint(self.tokenized, self.plan),
        }

    def run(
        self,
        out_dir: str | os.PathLike[str],
        *,
        progress: Callable[[ExtractionProgress], None] | None,
        should_stop: Callable[[], bool] | None,
        resume: bool,
        spec: dict[str, Any] | None,
        shard_rows: int | None,
        shard_bytes: int,
        durable: bool,
        max_queued_batches: int,
        pace: str | None = None,
    ) -> ExtractionResult:
        widths = self.widths
        if pace is None:  # on the CPU the writer's work must not stall the forward's threads
            pace = "inline" if self.device.type == "cpu" else "overlap"
        wanted = self.store_spec(spec)
        if resume:
            wanted = keep_begun_identity(out_dir, wanted, self.model)
        writer = ActivationWriter.open(
            out_dir, wanted, hooks=widths, dtype=self.dtype,
            shard_rows=shard_rows, shard_bytes=shard_bytes, resume=resume,
            stats_config=StatsConfig(bos_token_id=self.plan.policy.bos_token_id),
            max_queued_batches=max_queued_batches, durable=durable, pace=pace,
            total_rows=self.plan.n_rows,
        )
        point = writer.resume_point
        start = 0 if point.next_sequence is None else point.next_sequence
        # the tail sequence is whole: its batch is recomputed only for the sequences after it
        # (and not at all when it ends that batch)
        whole_tail = (point.next_sequence is not None
                      and self.plan_ends_at(start, point.rows_to_skip))
        if whole_tail:
            start += 1
        if point.complete:
            start = self.plan.n_sequences
        lookahead = self.batches_ahead
        started = time.perf_counter()
        computed = 0
        counter = BytesCounter()
        in_flight: collections.deque[ActivationBatch] = collections.deque()
        self.hooks.should_stop = should_stop
        self._lend = writer.lend if lookahead == 0 else None

        def report(tokens_done: int, rows_done: int, *, stored: bool = False,
                   closing: bool = False) -> None:
            assert progress is not None
            elapsed = time.perf_counter() - started
            progress(ExtractionProgress(
                tokens_done=tokens_done, tokens_total=self.plan.n_tokens,
                rows_done=rows_done, rows_total=self.plan.n_rows,
                bytes_written=counter.bytes(writer.manifest),
                bytes_captured=shard_file_bytes(rows_done, widths, self.dtype,
                                                writer.shard_rows)["shard_files"],
                elapsed_s=elapsed,
                tokens_per_s=computed / elapsed if computed and elapsed > 0 else None,
                batch_size=self.batch_limit, tokens_computed=computed, stored=stored,
                closing=closing,
            ))

        def report_computed(last: int) -> None:  # the sequences before `last` are computed
            report(self.plan.tokens_before(last), int(self.plan.rows_per_sequence[:last].sum()))

        def report_stored() -> None:  # what the store holds: a resume's start, a run's end
            rows = int(writer.manifest["counts"]["rows"])
            report(self.plan.tokens_through_row(rows), rows, stored=True)

        try:
            # from here on the writer is closed whatever happens: a refused tail or a progress
            # callback that raised (Ctrl-C in a notebook) left its thread running and the store
            # locked, so that even a resume in the same process was refused (StoreLocked)
            with writer:
                if whole_tail:
                    writer.skip_whole_tail(self.planned_rows(start - 1))
                if progress is not None:  # where it starts: a resume's rows are done
                    report_stored()
                for batch in self.plan.batches(start) if not point.complete else ():
                    if should_stop is not None and should_stop():
                        raise JobCancelled()
                    # the batch is queued on the device before the previous one is handed over
                    # (``append`` waits for its copy), so the device never waits for the host
                    in_flight.extend(self.compute(batch, skip_before=start))
                    while len(in_flight) > lookahead:
                        writer.append(in_flight.popleft())
                    computed += batch.tokens
                    if progress is not None:
                        report_computed(batch.first + len(batch.lengths))
                while in_flight:
                    writer.append(in_flight.popleft())
                if progress is not None:  # the writer's close() is what remains
                    report(self.plan.n_tokens, self.plan.n_rows, closing=True)
        finally:
            self.hooks.should_stop = None
            self._lend = None
            while in_flight:  # computed, never handed over: its copy lands, its memory goes back
                _drop(in_flight.popleft())
            self.recycle_memory()  # every staging is back once the writer has closed
            # the last report is what the closed store holds, also after a stop or a failure:
            # the rows computed past its last whole shard are gone, and the shards committed
            # while closing (the last one at least) were in no earlier report
            if progress is not None:
                report_stored()
        manifest = writer.manifest
        if int(manifest["counts"]["rows"]) != self.plan.n_rows:
            raise ExtractionIncomplete(Path(out_dir), int(manifest["counts"]["rows"]),
                                       self.plan.n_rows)
        elapsed = time.perf_counter() - started
        return ExtractionResult(
            path=Path(out_dir), status=manifest["status"], hook_points=self.hook_names,
            widths=widths, dtype=self.dtype, plan=self.plan.to_dict(),
            rows=int(manifest["counts"]["rows"]), tokens_computed=computed, elapsed_s=elapsed,
            tokens_per_s=computed / elapsed if computed and elapsed > 0 else None,
            bytes_written=counter.bytes(manifest), resumed_from_rows=point.rows,
            batch_size_final=self.batch_limit, oom_events=list(self.oom_events),
            warnings=nonfinite_warnings(
                writer.summary if writer.summary is not None else _read_stats(Path(out_dir)),
                self.dtype, self.computed_dtypes),
            manifest=manifest,
        )


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """The pass in inference mode (dropout off), each module's own training flag put back after.
    A model handed over in training mode (a notebook, after fine-tuning) stored dropout noise:
    not what the model computes at inference, two runs differed and a resume was not exact.
    The flags are set directly: ``eval()`` would also reset modules the caller left in eval."""
    training = [module for module in model.modules() if module.training]
    for module in training:
        module.training = False
    try:
        yield
    finally:
        for module in training:
            module.training = True


def _drop(batch: ActivationBatch) -> None:
    """A computed batch that will not be written: its copy lands, its memory goes back."""
    if batch.ready is not None:
        batch.ready()
    if batch.release is not None:
        batch.release()
