"""The SAELens export planned before it writes (``ml/export_plan.py``): float16's range refused
from the store's statistics before any block (and, where the statistics cannot tell, by the
blocks' check), and the free-disk estimate equal to the bytes the export writes. Real stores
written by ``ActivationWriter``; small export blocks (``ml.export._BLOCK_BYTES``, a size, not a
fake) make a tiny store take many blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.export import export_saelens, plan_export
from interpstudio.ml.stats import StatsConfig

HOOK = "blocks.0.resid_post"
BOS = 1


def write_store(path: Path, values: np.ndarray, token_ids: np.ndarray, *, length: int,
                stats: StatsConfig | None = None, dtype: str = "float32") -> None:
    """A complete store of ``values`` (rows, d) at ``HOOK``: sequences of ``length`` rows."""
    from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter

    n = len(values)
    writer = ActivationWriter.open(path, {"model": "tiny"}, hooks={HOOK: values.shape[1]},
                                   dtype=dtype, durable=False, stats_config=stats)
    writer.append(ActivationBatch({HOOK: values}, token_ids, np.arange(n) // length,
                                  np.arange(n) % length))
    writer.close()


def test_a_float16_export_is_refused_from_the_statistics_before_any_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A value past float16's range in the last sequence's first row was refused only when its
    block was written, after every block before it (minutes, for a large store). The store's
    statistics show it: refused before the first block, naming the point and the first
    positions that hold it; left out with them (the statistics' BOS rows are exactly the first
    positions here), the export is not refused and writes."""
    pytest.importorskip("datasets")
    rng = np.random.default_rng(3)
    values = rng.standard_normal((64, 8)).astype(np.float32)  # 8 sequences of 8 rows
    values[56, 2] = -9e4  # the last sequence's first row: the last block
    write_store(tmp_path / "s", values, np.arange(64) + 3, length=8)
    monkeypatch.setattr("interpstudio.ml.export._BLOCK_BYTES", 8 * 8 * 2)  # a row a block
    written: list[int] = []
    with pytest.raises(InvalidInput, match=rf"{HOOK} holds values beyond float16's range "
                                           r"\(\|x\| up to 90,000 > 65,504\)") as refused:
        export_saelens(tmp_path / "s", tmp_path / "out", dtype="float16",
                       progress=lambda done, total: written.append(done))
    assert written == []
    assert refused.value.details["found_in"] == "statistics"
    assert "only in the BOS rows (first positions, attention sinks): leave out first " \
           "positions, or export as float32 (the store is float32)" in str(refused.value)
    assert not (tmp_path / "out").exists()
    done = export_saelens(tmp_path / "s", tmp_path / "out", dtype="float16",
                          exclude_first_position=True)
    assert (done.rows, done.context_size) == (8, 7)


def test_a_value_the_statistics_cannot_place_is_left_to_the_blocks_check(tmp_path: Path) -> None:
    """With a BOS token id configured, the statistics' BOS rows are the first positions AND that
    token further in; leaving out first positions keeps the latter. A value past float16 in one
    of those is not certain from the statistics (it could be a first position's): the plan
    lets it through and the block holding it is refused. One in the tail that fills no dataset
    row is not exported at all: planned and written, nothing refused."""
    pytest.importorskip("datasets")
    rng = np.random.default_rng(5)
    values = rng.standard_normal((64, 8)).astype(np.float32)
    token_ids = np.arange(64) + 3
    token_ids[::8] = BOS
    token_ids[20] = BOS  # a BOS token at position 4 of the third sequence
    values[20, 5] = 7e4
    write_store(tmp_path / "s", values, token_ids, length=8, stats=StatsConfig(bos_token_id=BOS))
    options = {"dtype": "float16", "exclude_first_position": True}
    plan_export(tmp_path / "s", **options)  # not certain: not refused
    with pytest.raises(InvalidInput, match=rf"{HOOK} holds values beyond float16") as refused:
        export_saelens(tmp_path / "s", tmp_path / "out", **options)
    assert refused.value.details["found_in"] == "block"
    assert not (tmp_path / "out").exists()

    values[20, 5], values[63, 1] = 0.5, 7e4  # the last row: past 9 rows of 6 (56 kept rows)
    write_store(tmp_path / "t", values, np.arange(64) + 3, length=8)
    plan = plan_export(tmp_path / "t", context_size=6, **options)
    assert (plan.dataset_rows, plan.rows.total) == (9, 56)
    done = export_saelens(tmp_path / "t", tmp_path / "out", context_size=6, **options)
    assert (done.rows, done.tokens_dropped) == (9, 2)


@pytest.mark.parametrize(("exclude_first", "dtype"), [(False, "float32"), (True, "float16")])
def test_the_disk_estimate_is_the_bytes_the_export_writes(tmp_path: Path, exclude_first: bool,
                                                          dtype: str) -> None:
    """The up-front free-disk check counted every stored row: an export without first positions
    was held to the bytes of rows it leaves out. The plan's bytes are the exported rows' (each
    column's values with Array2D's offsets and the int32 token ids, the tail short of a row
    left out), and what Arrow writes is that plus its schema and framing, a few KiB."""
    datasets = pytest.importorskip("datasets")
    rng = np.random.default_rng(1)
    write_store(tmp_path / "s", rng.standard_normal((800, 256)).astype(np.float32),
                np.arange(800) + 3, length=8)
    plan = plan_export(tmp_path / "s", dtype=dtype, exclude_first_position=exclude_first,
                       context_size=6)
    kept = 700 if exclude_first else 800
    itemsize = np.dtype(dtype).itemsize  # values, int32 token ids, Array2D's int32 offsets
    assert plan.export_bytes == (kept // 6) * (6 * (256 * itemsize + 4) + (6 + 1) * 4)
    export_saelens(tmp_path / "s", tmp_path / "out", dtype=dtype,
                   exclude_first_position=exclude_first, context_size=6)
    assert len(datasets.load_from_disk(str(tmp_path / "out"))) == kept // 6
    arrow = sum(f.stat().st_size for f in (tmp_path / "out").glob("*.arrow"))
    assert 0 <= arrow - plan.export_bytes < 4 << 10, (arrow, plan.export_bytes)
