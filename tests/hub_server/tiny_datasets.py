"""A small text dataset in the two file formats Hub dataset repos commonly hold.

What it is: `build_tiny_dataset(folder)` writes the same rows (`id: int64`, `text: string`, from
`tiny_corpus.generate_texts`) as `data/train-00000-of-00001.parquet` (pyarrow) and as
`data/train.jsonl` (one JSON object per line, UTF-8), deterministic for a given (n_rows, seed).

What it is NOT: no `datasets` library, no dataset card, no splits other than train.
"""

from __future__ import annotations

import json
from pathlib import Path

from hub_server.staging import staged_folder
from hub_server.tiny_corpus import generate_texts

PARQUET_FILE = "data/train-00000-of-00001.parquet"
JSONL_FILE = "data/train.jsonl"


def tiny_dataset_rows(n_rows: int = 300, *, seed: int = 0) -> list[dict[str, int | str]]:
    """The rows `build_tiny_dataset` writes, for tests that compare against them."""
    return [{"id": i, "text": text} for i, text in enumerate(generate_texts(n_rows, seed=seed))]


def build_tiny_dataset(folder: Path | str, *, n_rows: int = 300, seed: int = 0) -> Path:
    """Write the tiny dataset (parquet + jsonl, same rows) into `folder`; return the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = tiny_dataset_rows(n_rows, seed=seed)
    table = pa.table(
        {
            "id": pa.array([r["id"] for r in rows], type=pa.int64()),
            "text": pa.array([r["text"] for r in rows], type=pa.string()),
        }
    )
    with staged_folder(folder) as staging:
        (staging / "data").mkdir()
        pq.write_table(table, staging / PARQUET_FILE)
        with (staging / JSONL_FILE).open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return Path(folder)
