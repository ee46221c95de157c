"""The imported form of a dataset: its raw files (copied with sha256) and one ``text.parquet``.

An import copies each source file into the dataset folder (``raw/``, temp name then rename, sha256
computed on the way) and then writes every row's text, in order, as the single ``text`` column of
``text.parquet`` (row groups of ``ROWS_PER_GROUP`` rows or ``BYTES_PER_GROUP`` bytes, whichever
comes first), so previews, statistics and tokenization read one format, one row group at a time.

Rows are numbered from 0 in file order; ``read_rows`` and ``sample_rows`` fetch a page or a random
sample without reading the whole file. This module is NOT responsible for parsing source formats
(``text_sources.py``) or for databases and jobs.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpstudio.core.errors import JobCancelled
from interpstudio.ml.dataset_stats import TextStats

TEXT_FILE = "text.parquet"
ROWS_PER_GROUP = 8192
BYTES_PER_GROUP = 32 * 1024 * 1024
COPY_CHUNK = 4 * 1024 * 1024

BytesCallback = Callable[[int], None]
RowsCallback = Callable[[int, int], None]  # (rows written, source bytes read so far or 0)
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class CopiedFile:
    name: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes, "sha256": self.sha256}


def _never() -> bool:
    return False


def copy_with_sha256(source: Path, destination: Path, *, on_bytes: BytesCallback | None = None,
                     should_stop: StopCheck = _never) -> CopiedFile:
    """Copy in chunks under a temp name, hashing on the way; rename when whole."""
    digest = hashlib.sha256()
    temp = destination.with_name(destination.name + ".partial")
    size = 0
    try:
        with open(source, "rb") as src, open(temp, "wb") as out:
            while chunk := src.read(COPY_CHUNK):
                if should_stop():
                    raise JobCancelled()
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)
    return CopiedFile(destination.name, size, digest.hexdigest())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_text_parquet(texts: Iterable[str], destination: Path, *,
                       on_rows: RowsCallback | None = None,
                       should_stop: StopCheck = _never) -> TextStats:
    """Stream ``texts`` into ``destination`` (one ``text`` column) and return their statistics."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("text", pa.large_string())])
    temp = destination.with_name(destination.name + ".partial")
    stats = TextStats()
    batch: list[str] = []
    batch_bytes = 0

    def flush(writer: Any) -> None:
        nonlocal batch, batch_bytes
        if batch:
            writer.write_table(pa.table({"text": pa.array(batch, type=pa.large_string())}),
                               row_group_size=len(batch))
            stats.add_batch(batch)
            pa.default_memory_pool().release_unused()  # keep peak RSS flat in file size
            if on_rows is not None:
                on_rows(stats.rows, 0)
        batch, batch_bytes = [], 0

    try:
        with pq.ParquetWriter(temp, schema, compression="zstd") as writer:
            for text in texts:
                batch.append(text)
                batch_bytes += len(text)
                if len(batch) >= ROWS_PER_GROUP or batch_bytes >= BYTES_PER_GROUP:
                    if should_stop():
                        raise JobCancelled()
                    flush(writer)
            flush(writer)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, destination)
    finally:
        temp.unlink(missing_ok=True)
    return stats


def count_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def iter_text_batches(path: Path, *, start_row: int = 0) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first_row, texts)`` one row group at a time, starting at ``start_row``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    first = 0
    for group in range(parquet.num_row_groups):
        n = parquet.metadata.row_group(group).num_rows
        if first + n > start_row:
            texts = parquet.read_row_group(group, columns=["text"]).column(0).to_pylist()
            pa.default_memory_pool().release_unused()
            skip = max(0, start_row - first)
            yield first + skip, texts[skip:]
        first += n


def _rows_at(path: Path, indices: list[int]) -> dict[int, str]:
    """Texts at sorted row ``indices``, reading only the row groups that hold them."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    found: dict[int, str] = {}
    first, cursor = 0, 0
    for group in range(parquet.num_row_groups):
        n = parquet.metadata.row_group(group).num_rows
        wanted = []
        while cursor < len(indices) and indices[cursor] < first + n:
            wanted.append(indices[cursor])
            cursor += 1
        if wanted:
            column = parquet.read_row_group(group, columns=["text"]).column(0)
            for index in wanted:
                found[index] = column[index - first].as_py()
        first += n
        if cursor >= len(indices):
            break
    return found


def read_rows(path: Path, *, offset: int, limit: int) -> list[tuple[int, str]]:
    """A page of ``(row, text)`` from ``offset``."""
    total = count_rows(path)
    indices = list(range(offset, min(offset + limit, total)))
    found = _rows_at(path, indices)
    return [(i, found[i]) for i in indices]


def sample_rows(path: Path, *, limit: int, seed: int) -> list[tuple[int, str]]:
    """``limit`` distinct random rows (in row order), reproducible for a given ``seed``."""
    total = count_rows(path)
    indices = sorted(random.Random(seed).sample(range(total), min(limit, total)))
    found = _rows_at(path, indices)
    return [(i, found[i]) for i in indices]
