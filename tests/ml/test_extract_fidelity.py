"""Fidelity of the full engine + store on a tiny random model of every supported family.

What is stored under ``blocks.{i}.resid_pre`` / ``resid_post`` must equal HF's
``output_hidden_states[i]`` / ``[i + 1]`` (the last layer through the final norm, as documented in
``ml/fidelity.py``), ``attn_out`` / ``mlp_out`` the sub-module outputs, all within 1e-5 in fp32;
sequences of different lengths are batched with right padding, so this also proves that pad
positions never reach the store and that padding does not change the real positions. The token
table must equal the tokenization exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from extract_helpers import random_sequences, write_tokenization
from tiny_models import SUPPORTED_TEST_FAMILIES, tiny_causal_lm

from interpstudio.ml import extract, open_activations
from interpstudio.ml.architecture import resolve_architecture
from interpstudio.ml.hooks import capture

POINTS = "blocks.*.{resid_pre,resid_post,attn_out,mlp_out}"
TOLERANCE = 1e-5


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_stored_points_equal_hf_hidden_states_and_submodules(family: str, tmp_path: Path) -> None:
    model = tiny_causal_lm(family)
    sequences = random_sequences(7, high=12, seed=1)
    tokens = write_tokenization(tmp_path / "tok", sequences)
    result = extract(model, tokens, POINTS, out_dir=tmp_path / "store", batch_size=3,
                     dtype="float32", durable=False)
    acts = open_activations(result.path)
    architecture = resolve_architecture(model)
    n = architecture.n_layers

    table = acts.tokens[:]  # (rows, 3)
    assert acts.rows == sum(map(len, sequences))
    np.testing.assert_array_equal(table[:, 0], np.concatenate(sequences))
    np.testing.assert_array_equal(
        table[:, 1], np.concatenate([[i] * len(s) for i, s in enumerate(sequences)])
    )
    positions = np.concatenate([np.arange(len(s)) for s in sequences])
    np.testing.assert_array_equal(table[:, 2], positions)

    final_norm = model.get_submodule(architecture.final_norm) if architecture.final_norm else None
    for index, sequence in enumerate(sequences):
        rows = np.flatnonzero(table[:, 1] == index)
        ids = torch.tensor([sequence])
        with torch.no_grad():
            with capture(model, POINTS, stop_early=False) as reference:
                hidden = model(input_ids=ids, output_hidden_states=True, use_cache=False)
            hidden_states = [h[0].double() for h in hidden.hidden_states]  # (T, d) each
            for layer in range(n):
                stored = {kind: torch.from_numpy(acts[f"blocks.{layer}.{kind}"][rows]).double()
                          for kind in ("resid_pre", "resid_post", "attn_out", "mlp_out")}
                checks = [("resid_pre", stored["resid_pre"], hidden_states[layer])]
                if layer < n - 1:
                    checks.append(("resid_post", stored["resid_post"], hidden_states[layer + 1]))
                elif final_norm is not None:
                    normed = final_norm(stored["resid_post"].float()).double()
                    checks.append(("final_norm(resid_post)", normed, hidden_states[n]))
                for kind in ("attn_out", "mlp_out"):
                    checks.append((kind, stored[kind],
                                   reference[f"blocks.{layer}.{kind}"][0].double()))
                for what, got, want in checks:
                    error = (got - want).abs().max().item()
                    assert error <= TOLERANCE, f"{family} layer {layer} {what}: max-abs {error}"
