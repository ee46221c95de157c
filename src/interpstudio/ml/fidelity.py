"""Fidelity probe: do the captured ``resid_post`` tensors equal HF's ``output_hidden_states``?

What ``hidden_states`` is in transformers 5.23 (read in ``utils/output_capturing.py`` and the
families' ``modeling_*.py``): most families record it with ``@capture_outputs`` and
``_can_record_outputs = {"hidden_states": <DecoderLayer class>}``, a forward hook on every decoder
layer; ``hidden_states[0]`` is the first layer's positional input (the embeddings after any scale
or dropout, e.g. Gemma's ``* sqrt(d_model)``) and ``hidden_states[i + 1]`` the output of layer
``i``. With ``tie_last_hidden_states`` (default for language models) the LAST element is then
REPLACED by ``last_hidden_state``, which has the final norm applied. Families that still build the
tuple by hand (GPT-J, BLOOM, Falcon, MPT, CodeGen) append the block input before each layer and
``ln_f(output)`` at the end: the same convention. So, for ``n`` layers:

- ``resid_post[i] == hidden_states[i + 1]`` for ``i < n - 1``;
- ``final_norm(resid_post[n - 1]) == hidden_states[n]`` (the raw ``resid_post[n - 1]`` is the final
  norm's input); where no final norm is found the raw tensor is compared.

One exception found: HF Mamba's tuple omits the embeddings (``hidden_states[i]`` is the output of
layer ``i``, the last one normed). The probe detects this offset from ``hidden_states[0]`` (equal
to block 0's input, or to its output) and says so in each reference.

The probe runs ONE forward pass with both the hooks and ``output_hidden_states=True``, compares in
float64 over non-pad positions, and states per layer which reference it used. Both sides come from
the same pass, so a correct capture is exact in any precision (the re-applied final norm may round
in half precision).

This module is NOT responsible for deciding what fidelity is acceptable (callers choose a
tolerance) or for storing results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from interpstudio.ml.architecture import Architecture, resolve_architecture
from interpstudio.ml.hooks import capture


@dataclass(frozen=True)
class LayerFidelity:
    layer: int
    reference: str  # what resid_post was compared with
    max_abs: float  # max |captured - reference| over non-pad positions
    cosine: float  # worst (smallest) per-token cosine similarity


@dataclass(frozen=True)
class FidelityReport:
    max_abs: float  # worst layer
    cosine: float  # worst layer
    per_layer: tuple[LayerFidelity, ...]
    last_layer_reference: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compare(
    captured: torch.Tensor, reference: torch.Tensor, keep: torch.Tensor
) -> tuple[float, float]:
    a = captured.to(torch.float64)[keep]  # (N, d) non-pad tokens
    b = reference.to(torch.float64)[keep]  # (N, d)
    max_abs = (a - b).abs().max().item() if a.numel() else 0.0
    norms = a.norm(dim=-1) * b.norm(dim=-1)  # (N,)
    cosine = (a * b).sum(dim=-1) / norms.clamp_min(1e-300)  # (N,)
    both_zero = norms == 0
    cosine = torch.where(both_zero, torch.ones_like(cosine), cosine)
    return max_abs, cosine.min().item() if cosine.numel() else 1.0


def fidelity_probe(
    model: nn.Module,
    input_ids: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
    architecture: Architecture | None = None,
) -> FidelityReport:
    """Compare hooked ``resid_post`` of every layer with HF hidden states for ``input_ids``."""
    architecture = architecture or resolve_architecture(model)
    n_layers = architecture.n_layers
    with torch.no_grad():
        points = ["blocks.0.resid_pre", "blocks.*.resid_post"]
        with capture(model, points, stop_early=False, architecture=architecture) as acts:
            outputs = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
                use_cache=False,
            )
        hidden_states = outputs.hidden_states  # n_layers + 1 tensors of (B, T, d_model)
        keep = (
            attention_mask.bool()
            if attention_mask is not None
            else torch.ones(input_ids.shape, dtype=torch.bool, device=input_ids.device)
        )  # (B, T)
        offset = _hidden_states_offset(acts, hidden_states)
        note = "" if offset == 1 else " (this family's hidden_states omit the embeddings)"
        per_layer = [
            LayerFidelity(
                i,
                f"hidden_states[{i + offset}]{note}",
                *_compare(acts[f"blocks.{i}.resid_post"], hidden_states[i + offset], keep),
            )
            for i in range(n_layers - 1)
        ]
        last = acts[f"blocks.{n_layers - 1}.resid_post"]
        per_layer.append(_last_layer(model, architecture, last, hidden_states, keep))
    return FidelityReport(
        max_abs=max(layer.max_abs for layer in per_layer),
        cosine=min(layer.cosine for layer in per_layer),
        per_layer=tuple(per_layer),
        last_layer_reference=per_layer[-1].reference,
    )


def _hidden_states_offset(
    acts: dict[str, torch.Tensor], hidden_states: tuple[torch.Tensor, ...]
) -> int:
    """1 when ``hidden_states[0]`` is block 0's input (the convention), 0 when it is its output."""
    first = hidden_states[0]
    for offset, point in ((1, "blocks.0.resid_pre"), (0, "blocks.0.resid_post")):
        if first.shape == acts[point].shape and torch.equal(first, acts[point]):
            return offset
    return 1  # neither: keep the convention and let the comparison show the mismatch


def _last_layer(
    model: nn.Module,
    architecture: Architecture,
    resid_post: torch.Tensor,
    hidden_states: tuple[torch.Tensor, ...],
    keep: torch.Tensor,
) -> LayerFidelity:
    """Compare the last layer with the right reference; see the module docstring."""
    layer = architecture.n_layers - 1
    n = len(hidden_states) - 1
    last_hidden = hidden_states[-1]
    candidates: list[tuple[str, torch.Tensor]] = []
    if architecture.final_norm is not None:
        final_norm = model.get_submodule(architecture.final_norm)
        candidates.append(
            (f"{architecture.final_norm}(resid_post) vs hidden_states[{n}]", final_norm(resid_post))
        )
    candidates.append((f"hidden_states[{n}] (no final norm applied by this model)", resid_post))
    results = [
        LayerFidelity(layer, reference, *_compare(tensor, last_hidden, keep))
        for reference, tensor in candidates
        if tensor.shape == last_hidden.shape
    ]
    if not results:
        return LayerFidelity(
            layer,
            f"not comparable: hidden_states[{n}] is {last_hidden.shape[-1]} wide "
            f"(projected after the final norm), resid_post {resid_post.shape[-1]}",
            float("nan"),
            float("nan"),
        )
    # The documented reference comes first; the raw one is taken only where it matches better,
    # i.e. for a model whose last hidden state is not normed.
    return min(results, key=lambda result: result.max_abs)
