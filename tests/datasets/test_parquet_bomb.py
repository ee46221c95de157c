"""A parquet file of a kilobyte whose first row group decodes to a gigabyte (one dictionary
value, repeated in every row, stored without the arrow schema so that it reads back as plain
strings): inspecting and reading it must hold a bounded number of rows in memory. The API
inspects an upload in its own process, so reading a whole row group let such a file take the
server's memory. Each read runs in a child process whose address space is capped (RLIMIT_AS)
at what it already uses plus 400 MB: the old whole-row-group read fails there with a memory
error instead of growing the test machine's memory.

A second file keeps its arrow dictionary type (stored schema), so the batch itself stays small
but its 256 rows name one 4 MiB value: the reader must not turn the whole batch into 256 Python
strings at once (1 GiB), only runs of at most ``max_record_bytes``.

A third file holds a binary column beside its text: 64 rows naming one 16 MiB value (1 GiB
decoded), each value under the record limit. The inspection decoded every column of its first
50 rows (800 MB in arrow, as much again as Python bytes); a column that cannot be the text is
not read at all now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROWS, VALUE_BYTES = 100_000, 10_000  # 1 GB decoded
DICTIONARY_ROWS, LONG_VALUE_BYTES = 256, 4 * 2**20  # one batch, 1 GiB as Python strings
BINARY_ROWS, BINARY_VALUE_BYTES = 64, 16 * 2**20  # 1 GiB decoded, each value under the limit

CHILD = """
import resource, sys
import pyarrow.parquet  # its libraries and allocator mapped before the cap is measured
from pathlib import Path
from interpstudio.ml.source_inspection import inspect_sources
from interpstudio.ml.text_sources import ReadOptions, iter_texts
path, what = Path(sys.argv[1]), sys.argv[2]
with open("/proc/self/statm") as statm:
    used = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (used + 400 * 2**20, resource.RLIM_INFINITY))
if what == "inspect":
    print(inspect_sources([path], ReadOptions()).text_column)
else:
    print(sum(1 for _ in iter_texts([path], ReadOptions(text_column="text"))))
"""


@pytest.fixture(scope="module")
def parquet_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.parquet"
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(ROWS, dtype=np.int32)),
                                            pa.array(["a" * VALUE_BYTES]))
    pq.write_table(pa.table({"text": column}), path, row_group_size=ROWS, store_schema=False)
    assert path.stat().st_size < 10_000
    return path


@pytest.fixture(scope="module")
def dictionary_batch_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "dictionary.parquet"
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(DICTIONARY_ROWS, dtype=np.int32)),
                                            pa.array(["a" * LONG_VALUE_BYTES]))
    pq.write_table(pa.table({"text": column}), path)  # read back as a dictionary column
    return path


@pytest.fixture(scope="module")
def binary_column_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "binary.parquet"
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(BINARY_ROWS, dtype=np.int32)),
                                            pa.array([b"\0" * BINARY_VALUE_BYTES]))
    # without the stored arrow schema the column reads back as plain binary: every row a copy
    pq.write_table(pa.table({"image": column, "caption": ["a picture"] * BINARY_ROWS}), path,
                   store_schema=False)
    assert path.stat().st_size < 2**20
    return path


@pytest.mark.parametrize(("what", "expected"), [("inspect", "text"), ("read", str(ROWS))])
def test_parquet_bomb_is_read_in_bounded_memory(parquet_bomb: Path, what: str,
                                                expected: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(parquet_bomb), what],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == expected


def test_parquet_batch_of_one_repeated_long_value_is_read_in_bounded_memory(
    dictionary_batch_bomb: Path,
) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(dictionary_batch_bomb), "read"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(DICTIONARY_ROWS)


def test_parquet_inspection_never_decodes_a_binary_column(binary_column_bomb: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CHILD, str(binary_column_bomb), "inspect"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "caption"
