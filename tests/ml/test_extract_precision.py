"""Extraction across model precisions: what the result says when a stored value is not finite.

Found by the precision tester: a float16 model whose own forward overflowed (a value past
65,504 is Inf in its compute dtype) got the advice to "extract again with dtype bfloat16 or
float32 to keep these values", which keeps nothing: the Inf is the model's, float32 storage
holds the same Inf. The result now says where a point was computed and what to change.

NOT covered here: the exactness of stored points per family and precision
(``test_extract_fidelity.py``, ``test_extract.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from extract_helpers import write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, open_activations

POINT = "blocks.0.resid_pre"  # GPT-2: token + position embedding, the sum computed by the model


def overflowing_gpt2(dtype: torch.dtype) -> torch.nn.Module:
    """Token 7 at position 0 sums to 120,000 in dimension 0: finite in fp32 / bf16, Inf in fp16."""
    model = tiny_causal_lm("gpt2")
    with torch.no_grad():
        model.transformer.wte.weight[7, 0] = 60_000.0
        model.transformer.wpe.weight[0, 0] = 60_000.0
    return model.to(dtype)


@pytest.mark.parametrize("storage", ["float16", "float32"])
def test_a_float16_models_own_overflow_is_not_blamed_on_the_storage_dtype(
    storage: str, tmp_path: Path
) -> None:
    data = write_tokenization(tmp_path / "t", [[7, 5, 9], [5, 7]])
    result = extract(overflowing_gpt2(torch.float16), data, POINT, out_dir=tmp_path / "s",
                     dtype=storage, durable=False)
    stored = open_activations(result.path)[POINT]
    assert np.isinf(stored[0, 0]) and np.isfinite(stored[1:]).all()  # the model's Inf, kept
    assert len(result.warnings) == 1
    warning = result.warnings[0]
    assert warning.startswith(f"{POINT}: 1 rows hold Inf (1 values)")
    assert "computes this point in float16" in warning
    assert "load the model at bf16 or fp32" in warning
    assert "extract again with dtype" not in warning  # another storage dtype keeps no value


@pytest.mark.parametrize("model_dtype", [torch.float32, torch.bfloat16])
def test_a_wider_models_values_past_float16_storage_still_name_the_storage_dtype(
    model_dtype: torch.dtype, tmp_path: Path
) -> None:
    data = write_tokenization(tmp_path / "t", [[7, 5, 9], [5, 7]])
    model = overflowing_gpt2(model_dtype)
    half = extract(model, data, POINT, out_dir=tmp_path / "h", dtype="float16", durable=False)
    assert len(half.warnings) == 1
    assert "extract again with dtype bfloat16 or float32" in half.warnings[0]
    assert "computes this point in float16" not in half.warnings[0]
    full = extract(model, data, POINT, out_dir=tmp_path / "f", dtype="float32", durable=False)
    assert full.warnings == []
    kept = float(open_activations(full.path)[POINT][0, 0])
    assert abs(kept - 120_000.0) <= 120_000.0 / 256  # bf16 keeps 8 significant bits
