"""Data-correctness checks of what an extraction stores and how it reads back, found by an
adversarial QA pass: each test failed on the code before its fix.

Real tiny models, real stores on disk; no mocks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from extract_helpers import write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, open_activations


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_np_asarray_of_a_hook_point_is_its_rows_not_its_shards_stacked(
    dtype: str, tmp_path: Path
) -> None:
    """``np.asarray(acts[hook])`` built the array from ``__iter__`` (one shard at a time): 24
    rows in 3 shards of 8 came back as (3, 8, 64), silently, and ``.mean(0)`` averaged across
    shards; 25 rows (a short last shard) raised."""
    model = tiny_causal_lm("llama")
    for rows in (24, 25):
        tokens = write_tokenization(tmp_path / f"tok{rows}",
                                    [[5, 6, 7, 8]] * 6 + [[9]] * (rows - 24))
        extract(model, tokens, ["blocks.1.resid_post"], out_dir=tmp_path / f"s{rows}",
                batch_size=3, dtype=dtype, shard_rows=8, durable=False)
        acts = open_activations(tmp_path / f"s{rows}")
        points = acts["blocks.1.resid_post"]
        read = np.asarray(points)
        assert read.shape == points.shape == (rows, 64)
        assert read.dtype == points.dtype
        np.testing.assert_array_equal(read, points[:])
        np.testing.assert_array_equal(np.asarray(acts.tokens), acts.tokens[:])
        assert np.asarray(points, dtype=np.float64).dtype == np.float64
        with pytest.raises(ValueError, match="always copies"):
            np.asarray(points, copy=False)
