"""O_DIRECT shard writing: the bytes are exactly ``np.save``'s, the record's sha256 is the file's,
refusal falls back to ordinary writes, and a full disk leaves no temp file."""

from __future__ import annotations

import errno
import hashlib
import io
import mmap
import os
from pathlib import Path

import numpy as np
import pytest

from helpers import small_filesystem
from interpstudio.ml import direct_io
from interpstudio.ml import store as layout


def _np_save_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def _check(path: Path, record: dict, array: np.ndarray) -> None:
    data = path.read_bytes()
    assert data == _np_save_bytes(array)
    assert record == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    np.testing.assert_array_equal(np.load(path, mmap_mode="r"), array)


@pytest.mark.parametrize("rows", [1000, 999, 1, 0])
def test_npy_buffer_writes_np_save_bytes_for_full_and_short_shards(tmp_path: Path,
                                                                    rows: int) -> None:
    buffer = direct_io.NpyBuffer((1000, 77), np.dtype(np.float16))  # 154 bytes a row: unaligned
    assert buffer.array.ctypes.data % 64 == 0 and buffer.array.flags.writeable
    buffer.array[:] = np.random.default_rng(0).standard_normal((1000, 77)).astype(np.float16)
    path = tmp_path / "hooks" / "x" / "shard_00000.npy"
    record = layout.write_buffer_atomic(path, buffer, rows, durable=True)
    _check(path, record, buffer.array[:rows])
    assert os.listdir(path.parent) == [path.name]  # the temp name was renamed


@pytest.mark.parametrize("nbytes", [direct_io.MIN_BYTES, direct_io.CHUNK_BYTES * 2 + 6])
def test_large_arrays_go_through_the_bounce_buffer_exactly(tmp_path: Path, nbytes: int) -> None:
    array = np.random.default_rng(1).integers(0, 255, nbytes, dtype=np.uint8).view(np.uint16)
    path = tmp_path / "a.npy"
    _check(path, layout.write_npy_atomic(path, array, durable=False), array)


def test_refused_o_direct_falls_back_to_buffered_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every filesystem here takes O_DIRECT, so a filesystem that refuses it (EINVAL at open, as
    some FUSE and network filesystems do) is simulated on ``os.open``."""
    real_open = os.open

    def refusing_open(path, flags, *args):  # type: ignore[no-untyped-def]
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(direct_io.os, "open", refusing_open)
    buffer = direct_io.NpyBuffer((4096, 128), np.dtype(np.float32))
    buffer.array[:] = 1.5
    path = tmp_path / "s.npy"
    _check(path, layout.write_buffer_atomic(path, buffer, 4000, durable=True),
           buffer.array[:4000])
    big = np.arange(1 << 19, dtype=np.float32)
    _check(tmp_path / "b.npy", layout.write_npy_atomic(tmp_path / "b.npy", big, durable=True),
           big)


def test_full_disk_raises_enospc_and_leaves_no_temp_file(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small", "2M") as small:
        buffer = direct_io.NpyBuffer((1024, 1024), np.dtype(np.float32))  # 4 MB
        with pytest.raises(OSError) as raised:
            layout.write_buffer_atomic(small / "s.npy", buffer, 1024, durable=True)
        assert raised.value.errno == errno.ENOSPC
        assert os.listdir(small) == []


@pytest.mark.parametrize("direct", [True, False])
def test_disk_rate_probe_measures_both_ways_and_leaves_nothing(tmp_path: Path,
                                                               direct: bool) -> None:
    from interpstudio.ml.extract_preflight import measure_disk_write_rate

    rate = measure_disk_write_rate(tmp_path, (8 << 20) + 5, direct=direct)
    assert rate > 0 and os.listdir(tmp_path) == []


def test_buffers_carved_from_one_mapping_write_their_own_np_save_bytes(tmp_path: Path) -> None:
    """A shard set's buffers share one huge-page-advised mapping; each writes only its rows."""
    shapes = [(300, 77), (300, 5), (300, 130)]
    dtype = np.dtype(np.float16)
    sizes = [direct_io.NpyBuffer.region_bytes(s, dtype) for s in shapes]
    assert all(size % mmap.PAGESIZE == 0 for size in sizes)
    memory = direct_io.anonymous_memory(sum(sizes))
    offsets = np.cumsum([0, *sizes])
    buffers = [direct_io.NpyBuffer(s, dtype, memory, int(o))
               for s, o in zip(shapes, offsets[:-1], strict=True)]
    rng = np.random.default_rng(2)
    for buffer in buffers:
        buffer.array[:] = rng.standard_normal(buffer.array.shape).astype(dtype)
    expected = [np.array(buffer.array[:299]) for buffer in buffers]
    records = [layout.write_buffer_atomic(tmp_path / f"s{i}.npy", buffer, 299, durable=False)
               for i, buffer in enumerate(buffers)]  # no header lands on a neighbour's rows
    for i, (record, array) in enumerate(zip(records, expected, strict=True)):
        _check(tmp_path / f"s{i}.npy", record, array)
    with pytest.raises(ValueError, match="page-aligned"):
        direct_io.NpyBuffer((4, 4), dtype, memory, 100)

