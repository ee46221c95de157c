"""gguf_fast: one parse per GGUF file during a load, with readers equal to gguf's own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from interpstudio.ml import gguf_fast
from interpstudio.ml.loading import bundled_model_path


def _gguf_files(tiny: Path) -> list[Path]:
    bundled = bundled_model_path()  # a real Q4_1 file with 49,152-string arrays
    return [tiny] if bundled is None else [tiny, bundled]


def test_shared_readers_hold_exactly_what_ggufs_own_reader_reads(tiny_gguf_file: Path) -> None:
    import gguf
    from gguf.gguf_reader import GGUFReader as Original

    with gguf_fast.shared_reads():  # installs the replacement
        assert gguf.GGUFReader is not Original
    for path in _gguf_files(tiny_gguf_file):
        theirs = Original(path)
        with gguf_fast.shared_reads():
            gguf.GGUFReader(path)
            ours = gguf.GGUFReader(path)  # handed out again
        assert isinstance(ours, Original)
        assert list(ours.fields) == list(theirs.fields)
        for name, field in theirs.fields.items():
            mine = ours.fields[name]
            assert (mine.offset, mine.types, mine.data) == (field.offset, field.types, field.data)
            assert len(mine.parts) == len(field.parts)
            for a, b in zip(mine.parts, field.parts, strict=True):
                assert a.dtype == b.dtype and np.array_equal(a, b)
        assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
        for a, b in zip(ours.tensors, theirs.tensors, strict=True):
            assert (a.tensor_type, a.data_offset, list(a.shape)) == (
                b.tensor_type, b.data_offset, list(b.shape))
            assert a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)


def test_a_file_is_parsed_once_inside_the_block_and_nothing_is_kept_after(
        tiny_gguf_file: Path, tmp_path: Path) -> None:
    import gguf

    path = tmp_path / "copy.gguf"
    path.write_bytes(tiny_gguf_file.read_bytes())
    with gguf_fast.shared_reads():
        first = gguf.GGUFReader(path)
        assert gguf.GGUFReader(str(path)) is first
        with gguf_fast.shared_reads():  # nested blocks share, and the outer one keeps its cache
            assert gguf.GGUFReader(path) is first
        assert gguf.GGUFReader(path) is first
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # changed file
        assert gguf.GGUFReader(path) is not first
    assert gguf_fast._readers == {}
    assert gguf.GGUFReader(path) is not gguf.GGUFReader(path)  # outside: a fresh parse each time


def test_a_missing_file_still_raises_file_not_found(tmp_path: Path) -> None:
    import gguf

    with gguf_fast.shared_reads(), pytest.raises(FileNotFoundError):
        gguf.GGUFReader(tmp_path / "absent.gguf")


def test_the_tensor_name_map_is_built_once_per_architecture() -> None:
    import gguf

    with gguf_fast.shared_reads():
        pass
    llama = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 4)
    assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 4) is llama
    assert gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, 5) is not llama
    assert llama.get_name("model.layers.1.self_attn.q_proj") == "blk.1.attn_q"
