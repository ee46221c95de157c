"""The tokenized-dataset format: round trip, lazy reads, and crash-safe appends."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from interpstudio.ml.token_store import TokenStoreWriter, open_tokenized


def test_round_trip_keeps_every_sequence_without_padding(tmp_path: Path) -> None:
    writer = TokenStoreWriter(tmp_path / "t", meta={"tokenizer_key": "m@1", "policy": {"a": 1}})
    writer.append([[1, 2, 3], [4]], [0, 1])
    writer.append([[5, 6], []], [2, 3], extra={"rows_done": 4})
    writer.finish(counts={"dropped_rows": 0})
    data = open_tokenized(tmp_path / "t")
    assert len(data) == 4 and data.n_tokens == 6
    assert [list(s) for s in data.iter_sequences()] == [[1, 2, 3], [4], [5, 6], []]
    assert list(data.lengths) == [3, 1, 2, 0]
    assert list(data.source_rows) == [0, 1, 2, 3]
    assert isinstance(data.tokens, np.memmap)
    assert data.tokenizer_key == "m@1" and data.policy == {"a": 1}
    assert data.manifest["counts"]["sequences"] == 4
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == [
        "manifest.json",
        "offsets.npy",
        "source_rows.npy",
        "tokens.npy",
    ]


def test_reopened_writer_drops_uncommitted_bytes_and_continues(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    writer = TokenStoreWriter(folder, meta={})
    writer.append([[1, 2]], [0], extra={"rows_done": 1})
    with open(folder / "tokens.u32.partial", "ab") as handle:  # a crash mid-append
        handle.write(np.array([9, 9, 9], dtype=np.uint32).tobytes())
    again = TokenStoreWriter(folder, meta={})
    assert (again.committed_sequences, again.extra) == (1, {"rows_done": 1})
    again.append([[3]], [1])
    again.finish(counts={})
    assert [list(s) for s in open_tokenized(folder).iter_sequences()] == [[1, 2], [3]]
