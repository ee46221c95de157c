"""Inspect a model checkpoint on disk: what it is, whether our hooks see it right, and what a
precision costs it.

``inspect_checkpoint(path, precision=...)`` loads the checkpoint in fp32 (``loading.load_model``,
which steps down when fp32 does not fit the memory budget and says so), resolves its architecture,
runs the fidelity probe (hooked ``resid_post`` vs HF ``output_hidden_states``) on a probe text,
builds the module tree with true parameter counts and the hook points of each layer, then, when a
precision other than fp32 is asked for, loads it at that precision (with the same OOM fallback)
and measures the drift of each layer's ``resid_post`` against fp32. ``Inspection.to_dict`` is JSON.

This module is NOT responsible for downloading, copying files or storing results.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from interpstudio.core.errors import InvalidInput, JobCancelled
from interpstudio.ml.architecture import Architecture, resolve_architecture
from interpstudio.ml.extract_plan import position_limit
from interpstudio.ml.fidelity import fidelity_probe
from interpstudio.ml.hook_points import HOOK_KIND_DESCRIPTIONS, HOOK_KINDS
from interpstudio.ml.hooks import UnresolvableHookPoint, resolve_hook_point
from interpstudio.ml.loading import LoadedModel, load_model
from interpstudio.ml.module_tree import describe_modules
from interpstudio.ml.quantize import measure_drift

PROBE_TEXT = (
    "The quick brown fox jumps over the lazy dog. In 1905, Einstein published four papers; "
    "def add(a, b): return a + b  # Ünïcödé, 数字 123."
)
FIDELITY_TOLERANCE = 1e-4  # max-abs in fp32 above which the badge is not "exact"


@dataclass
class Inspection:
    model_type: str
    architecture_class: str
    n_layers: int
    d_model: int
    d_mlp: int | None
    vocab_size: int | None
    parameter_count: int
    fidelity: dict[str, Any]
    load: dict[str, Any]  # the fp32 load's summary (precision used, fallback reason, bytes)
    architecture: dict[str, Any]  # layers, hook points per layer, module tree
    precision: dict[str, Any] = field(default_factory=dict)  # requested/used/reason/drift

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


class TokenizerDoesNotFitModel(InvalidInput):
    """The checkpoint's tokenizer gives ids past the model's vocabulary."""

    code = "tokenizer_does_not_fit_model"

    def __init__(self, max_id: int, vocab_size: int) -> None:
        super().__init__(
            f"the checkpoint's tokenizer turns the probe text into token id {max_id}, but the "
            f"model's vocabulary (config vocab_size) has {vocab_size} entries: the tokenizer "
            "files belong to another model; import the model with its own tokenizer",
            details={"max_token_id": max_id, "vocab_size": vocab_size},
        )


def probe_ids(tokenizer: Any | None, vocab_size: int | None, text: str = PROBE_TEXT
              ) -> torch.Tensor:
    """Token ids (1, T) of ``text``; without a tokenizer a fixed spread of ids. Raises
    ``TokenizerDoesNotFitModel`` for an id past the vocabulary (the forward would fail with an
    IndexError that says nothing about why)."""
    if tokenizer is not None:
        ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :64]  # (1, T)
        if ids.shape[1] > 0:
            if vocab_size and int(ids.max()) >= vocab_size:
                raise TokenizerDoesNotFitModel(int(ids.max()), int(vocab_size))
            return ids
    top = max(int(vocab_size or 2), 2)
    return (torch.arange(32) * 7919 % top).unsqueeze(0)  # (1, 32)


_SANDWICH_NORM = re.compile(r"post_(feedforward|mlp|self_attn)")  # Gemma-2/3, OLMo-2, GLM-4


def sandwich_normed(norms: tuple[str, ...]) -> bool:
    """Whether a block norms its sub-modules' outputs before adding them to the residual stream
    (a ``post_feedforward`` / ``post_mlp`` / ``post_self_attn`` norm; Llama's
    ``post_attention_layernorm`` is the MLP's pre-norm and does not count)."""
    return any(_SANDWICH_NORM.search(name.rsplit(".", 1)[-1]) for name in norms)


def describe(kind: str, sandwich: bool) -> str:
    """A hook kind's description; for a sandwich-normed block, attn_out / mlp_out say that the
    residual stream adds their normed value (direct-logit attribution must apply that norm)."""
    if sandwich and kind in ("attn_out", "mlp_out"):
        return (f"{HOOK_KIND_DESCRIPTIONS[kind]}, BEFORE this family's post-norm: the residual "
                f"stream adds post_norm({kind}), not {kind}")
    return HOOK_KIND_DESCRIPTIONS[kind]


def hook_points_by_layer(architecture: Architecture) -> list[dict[str, Any]]:
    """Per decoder layer: each hook point's name and module, or why it is missing."""
    layers = []
    for block in architecture.blocks:
        points = []
        sandwich = sandwich_normed(block.norms)
        for kind in HOOK_KINDS:
            name = f"blocks.{block.index}.{kind}"
            try:
                resolved = resolve_hook_point(architecture, name)
                points.append({"name": name, "kind": kind, "module": resolved.module_path,
                               "phase": resolved.phase, "description": describe(kind, sandwich)})
            except UnresolvableHookPoint as exc:
                points.append({"name": name, "kind": kind, "module": None,
                               "unavailable": exc.message})
        layers.append({"index": block.index, "path": block.path, "class_name": block.class_name,
                       "attention": block.attention, "mlp": block.mlp, "norms": list(block.norms),
                       "parallel_residual": block.parallel_residual, "moe": block.moe,
                       "hook_points": points})
    return layers


def inspection_steps(precision: str, drift_precisions: tuple[str, ...] = ()) -> int:
    """How many times ``inspect_checkpoint`` calls ``stage`` at most (fewer when fp32 does not
    fit and the fallback already chose the precision): a count for a progress bar."""
    extras = {p for p in drift_precisions if p not in ("fp32", precision)}
    return 2 + (2 if precision != "fp32" else 0) + len(extras)


def inspect_checkpoint(
    path: str | Path,
    *,
    precision: str = "fp32",
    drift_precisions: tuple[str, ...] = (),
    memory_budget_bytes: int | None = None,
    probe_text: str = PROBE_TEXT,
    should_stop: Callable[[], bool] | None = None,
    stage: Callable[[str], None] | None = None,
    quantized_cache: str | Path | None = None,
) -> Inspection:
    """Load, probe and describe the checkpoint at ``path``; see the module docstring.

    ``drift_precisions``: more precisions whose drift vs fp32 is measured (each loaded in turn).
    ``quantized_cache``: where quantized loads keep their packed layers (``load_model``), so that
    the model's later loads at its precision do not quantize again.
    """
    stop = should_stop or (lambda: False)
    announce = stage or (lambda _name: None)
    announce("loading fp32")
    reference = load_model(path, precision="fp32", memory_budget_bytes=memory_budget_bytes,
                           should_stop=stop)
    _check(stop)
    model = reference.model
    architecture = resolve_architecture(model)
    ids = probe_ids(reference.tokenizer, architecture.vocab_size, probe_text)
    announce("fidelity probe")
    report = fidelity_probe(model, ids, architecture=architecture)
    fidelity = {
        "max_abs": report.max_abs, "cosine": report.cosine,
        "exact": bool(report.max_abs <= FIDELITY_TOLERANCE),
        "tolerance": FIDELITY_TOLERANCE, "precision": reference.precision_used,
        "probe_tokens": int(ids.shape[1]), "last_layer_reference": report.last_layer_reference,
        "per_layer": [vars(layer) for layer in report.per_layer],
    }
    tree = describe_modules(model, architecture).to_dict()
    inspection = Inspection(
        model_type=architecture.model_type, architecture_class=architecture.model_class,
        n_layers=architecture.n_layers, d_model=architecture.d_model, d_mlp=architecture.d_mlp,
        vocab_size=architecture.vocab_size, parameter_count=reference.parameter_count,
        fidelity=fidelity, load=reference.summary(),
        architecture={"n_layers": architecture.n_layers, "d_model": architecture.d_model,
                      "blocks_path": architecture.blocks_path,
                      "final_norm": architecture.final_norm,
                      "parallel_residual": architecture.parallel_residual,
                      "moe": architecture.moe, "position_limit": position_limit(model),
                      "layers": hook_points_by_layer(architecture),
                      "module_tree": tree},
    )
    inspection.precision = _precision_facts(reference, path, precision, memory_budget_bytes,
                                            ids, stop, announce, quantized_cache)
    if reference.precision_used == "fp32":
        drift = inspection.precision["drift"]
        for extra in drift_precisions:
            if extra == "fp32" or extra in drift:
                continue
            announce(f"drift {extra} vs fp32")
            loaded = load_model(path, precision=extra, memory_budget_bytes=memory_budget_bytes,
                                should_stop=stop, quantized_cache=quantized_cache)
            _check(stop)
            drift.setdefault(loaded.precision_used, _drift_entry(reference, loaded, ids))
            del loaded
            gc.collect()
    del reference, model
    gc.collect()
    return inspection


def _precision_facts(reference: LoadedModel, path: str | Path, precision: str,
                     budget: int | None, ids: torch.Tensor, stop: Callable[[], bool],
                     announce: Callable[[str], None],
                     quantized_cache: str | Path | None) -> dict[str, Any]:
    facts: dict[str, Any] = {"requested": precision}
    if precision == "fp32" or reference.precision_used != "fp32":
        # fp32 asked for (or fp32 did not even fit: the fallback already chose for us)
        facts.update(used=reference.precision_used, reason=reference.fallback_reason,
                     quantization=reference.summary()["quantization"],
                     resident_bytes=reference.resident_bytes,
                     estimated_bytes=reference.estimated_bytes, drift={})
        return facts
    announce(f"loading {precision}")
    loaded = load_model(path, precision=precision, memory_budget_bytes=budget, should_stop=stop,
                        quantized_cache=quantized_cache)
    _check(stop)
    announce(f"drift {loaded.precision_used} vs fp32")
    facts.update(
        used=loaded.precision_used, reason=loaded.fallback_reason,
        quantization=loaded.summary()["quantization"], resident_bytes=loaded.resident_bytes,
        estimated_bytes=loaded.estimated_bytes,
        drift={loaded.precision_used: _drift_entry(reference, loaded, ids)},
    )
    del loaded
    gc.collect()
    return facts


def _drift_entry(reference: LoadedModel, loaded: LoadedModel, ids: torch.Tensor
                 ) -> dict[str, Any]:
    """Cosine of each layer's resid_post at ``loaded``'s precision vs the fp32 reference."""
    drift = measure_drift(reference.model, loaded.model, ids)
    cosines = [layer.mean_cosine for layer in drift.layers]
    return {"min_layer_cosine": min(cosines), "last_layer_cosine": cosines[-1],
            "resident_bytes": loaded.resident_bytes, "per_layer": drift.to_dict()["layers"]}


def _check(stop: Callable[[], bool]) -> None:
    if stop():
        raise JobCancelled("inspection stopped")
