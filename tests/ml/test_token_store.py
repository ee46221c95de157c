"""The tokenized-dataset format: round trip, lazy reads, and crash-safe appends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from interpstudio.ml.token_store import TokenizationDamaged, TokenStoreWriter, open_tokenized


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


def _finished(folder: Path) -> Path:
    writer = TokenStoreWriter(folder, meta={"tokenizer_key": "m@1", "policy": {}})
    writer.append([[1, 2, 3], [4, 5]], [0, 1])
    writer.finish(counts={})
    return folder


@pytest.mark.parametrize(
    ("name", "damage", "problem"),
    [
        ("tokens.npy", lambda p: p.write_bytes(b"\x80junk bytes, not an array" * 8),
         "does not start with an .npy header"),
        ("tokens.npy", lambda p: p.write_bytes(p.read_bytes()[:-4]), "mmap length"),
        ("offsets.npy", lambda p: p.write_bytes(b""), "the file is empty"),
        ("source_rows.npy", lambda p: p.unlink(), "the file is missing"),
        ("offsets.npy", lambda p: np.save(p, np.array([0, 3, 9], dtype=np.int64)),
         "offsets.npy ends at 9"),
        ("offsets.npy", lambda p: np.save(p, np.array([0, 6, 5], dtype=np.int64)),
         "do not start at 0 and rise"),
        ("tokens.npy", lambda p: np.save(p, np.arange(5, dtype=np.int64)), "not a 1-D uint32"),
        ("manifest.json", lambda p: p.write_text('{"tokenizer_key": '), "JSONDecodeError"),
    ],
)
def test_a_damaged_file_is_named_with_what_to_do(
    tmp_path: Path, name: str, damage: Callable[[Path], object], problem: str
) -> None:
    """A tester overwrote tokens.npy with junk: the extraction that read it failed as
    ``internal_error`` with numpy's "This file contains pickled (object) data ... allow_pickle",
    which names neither the file nor what to do. Every reader opens the folder here."""
    folder = _finished(tmp_path / "t")
    damage(folder / name)
    with pytest.raises(TokenizationDamaged) as info:
        open_tokenized(folder)
    error = info.value
    assert error.code == "tokenization_damaged"
    where = folder / ("tokens.npy" if "ends at" in problem else name)
    assert error.details["path"] == str(where) and str(where) in error.message
    assert problem in error.message and "pickle" not in error.message
    assert "delete it and tokenize the dataset again" in error.message
