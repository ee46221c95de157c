"""The writer's shard buffers are no larger than the rows a run still has to write: with
``shard_rows=10**9`` (one shard for everything, a researcher's choice) a run of a few thousand
rows reserved two buffer sets of 10**9 rows and failed with ``OSError: [Errno 12] Cannot allocate
memory`` (an internal error), whatever the preflight said."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from extract_helpers import random_sequences, write_tokenization
from test_store import HOOKS, SHARD_ROWS, batches, open_writer, sequence_rows, write_all
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, open_activations
from interpstudio.ml.store import InvalidActivationBatch, read_manifest

TOTAL_ROWS = sum(len(sequence_rows(i)[1]) for i in range(120))  # test_store's N_SEQ sequences


def test_buffers_hold_no_more_than_the_rows_to_come(tmp_path: Path, allocated: list[int]) -> None:
    writer = open_writer(tmp_path / "s", shard_rows=10**9, total_rows=TOTAL_ROWS)
    for batch in batches():
        writer.append(batch)
    writer.close()
    row_bytes = sum(HOOKS.values()) * 2
    assert allocated and max(allocated) < 2 * TOTAL_ROWS * row_bytes + (1 << 20)
    acts = open_activations(tmp_path / "s")
    assert acts.rows == TOTAL_ROWS and len(read_manifest(tmp_path / "s")["shards"]) == 1
    acts.verify()


def test_a_store_opened_for_fewer_rows_is_byte_identical_and_refuses_more(tmp_path: Path) -> None:
    """Sized buffers change nothing on disk: the same shards as a writer told nothing."""
    write_all(tmp_path / "plain")
    write_all(tmp_path / "sized", total_rows=TOTAL_ROWS)
    for name in ("plain", "sized"):
        assert len(read_manifest(tmp_path / name)["shards"]) == -(-TOTAL_ROWS // SHARD_ROWS)
    plain, sized = open_activations(tmp_path / "plain"), open_activations(tmp_path / "sized")
    for hook in HOOKS:
        assert np.array_equal(plain[hook][:], sized[hook][:])
    short = open_writer(tmp_path / "short", shard_rows=10**9, total_rows=10)
    with pytest.raises(InvalidActivationBatch, match="go past the 10 rows left"):
        short.append(next(batches()))
    short.close()


def test_an_extraction_with_a_huge_shard_rows_completes_in_one_shard(tmp_path: Path) -> None:
    tokens = write_tokenization(tmp_path / "tok", random_sequences(12, low=5, high=30, seed=2))
    result = extract(tiny_causal_lm("llama"), tokens, "blocks.*.resid_post",
                     out_dir=tmp_path / "s", shard_rows=10**9)
    assert result.status == "complete" and len(result.manifest["shards"]) == 1
    open_activations(tmp_path / "s").verify()


def test_the_preflight_counts_on_taking_back_the_buffers_the_run_allocates(
    tmp_path: Path, allocated: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight's runtime memory leaves out what ``buffer_cache`` holds that the run takes
    back, matched by size: it must name the sizes the run really maps (sized to the plan)."""
    from interpstudio.ml import extract_preflight, preflight

    tokens = write_tokenization(tmp_path / "tok", random_sequences(12, low=5, high=30, seed=2))
    model = tiny_causal_lm("llama")
    asked: list[list[int]] = []
    taken_back = extract_preflight._Resident.taken_back

    def recorded(self: object, sizes: list[int]) -> int:  # observes; the real method answers
        asked.append(list(sizes))
        return taken_back(self, sizes)  # type: ignore[arg-type]

    monkeypatch.setattr(extract_preflight._Resident, "taken_back", recorded)
    preflight(model, tokens, "blocks.*.resid_post", out_dir=tmp_path / "s", shard_rows=10**6,
              measure_disk=False, calibrate=False)
    allocated.clear()
    extract(model, tokens, "blocks.*.resid_post", out_dir=tmp_path / "s", shard_rows=10**6)
    shard_sets = sorted(allocated)[-2:]  # the two shard sets (the largest mappings)
    assert asked and sorted(asked[-1])[-2:] == shard_sets
