"""The size of a learned position table, as the import records it (``position_limit`` in
architecture.json) and the extraction checks it: GPT-2's ``wpe`` and OPT's offset table have
one, rotary models none."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import tiny_causal_lm

from interpstudio.ml.extract_plan import position_limit
from interpstudio.ml.model_inspect import inspect_checkpoint


@pytest.mark.parametrize(("family", "expected"), [("gpt2", "n_positions"),
                                                  ("opt", "max_position_embeddings"),
                                                  ("llama", None)])
def test_position_limit_is_the_learned_tables_size(family: str, expected: str | None) -> None:
    model = tiny_causal_lm(family)
    want = None if expected is None else getattr(model.config, expected)
    assert position_limit(model) == want


def test_the_import_inspection_records_the_position_limit(tmp_path: Path) -> None:
    model = tiny_causal_lm("gpt2")
    model.save_pretrained(tmp_path / "gpt2")
    inspection = inspect_checkpoint(tmp_path / "gpt2")
    assert inspection.architecture["position_limit"] == model.config.n_positions
