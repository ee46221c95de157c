"""``datasets add`` / ``show`` print counts as every other table does (``4,152``): the add line,
the tokenization table and the longest row's length printed ``60000 rows, 72641661 bytes``,
``399192`` sequences and ``51096576`` tokens beside tables that group digits."""

from __future__ import annotations

import re
from pathlib import Path

from dataset_helpers import register_model_row
from test_datasets_cli import _cli, _json

from interpstudio.core.settings import Settings


def test_counts_group_their_digits(ds_settings: Settings, import_root: Path,
                                   tiny_llama_dir: Path) -> None:
    lines = [f"line {i} " + "word " * (300 if i == 0 else 3) for i in range(1_500)]
    (import_root / "many.txt").write_text("\n".join(lines) + "\n")
    added = _cli(ds_settings, "add", str(import_root / "many.txt")).stdout
    size = (import_root / "many.txt").stat().st_size
    assert re.search(rf"dataset \d+ ready: 1,500 rows, {size:,} bytes", added), added
    dataset_id = _json(_cli(ds_settings, "list", "--json"))["items"][0]["id"]
    model_id = register_model_row(ds_settings, tiny_llama_dir)
    tokenized = _json(_cli(ds_settings, "tokenize", str(dataset_id), "--model", str(model_id),
                           "--max-length", "16", "--mode", "pack", "--json"))
    shown = _cli(ds_settings, "show", str(dataset_id)).stdout
    counts = tokenized["counts"]
    assert counts["sequences"] >= 1_000 and counts["tokens"] >= 10_000
    assert f"{counts['sequences']:,}" in shown and f"{counts['tokens']:,}" in shown, shown
    longest = max(len(line) for line in lines)
    assert f"max {longest:,}" in shown, shown
