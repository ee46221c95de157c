"""What a running extraction job's message says about the shards written, from a real run's
engine reports turned into the job's progress by the task (``progress_fields``).

Found by a browser walk: until its first shard was whole a run read "0.000 GB captured · 0.000
GB written in whole shards", as if its writer were stuck; it now says no whole shard is written
yet, and the GB once one is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interpstudio.jobs.tasks.extraction import progress_fields
from interpstudio.ml import extract
from ml.extract_helpers import random_sequences, write_tokenization
from ml.tiny_models import tiny_causal_lm

SEQUENCES = random_sequences(12, low=4, high=8, seed=5)
# batches of 2 sequences (8-14 rows) against shards of 30 rows: the first reports come before
# the first shard is whole
OPTIONS: dict[str, Any] = {"batch_size": 2, "dtype": "float16", "shard_rows": 30,
                           "durable": False}


def test_running_message_before_the_first_whole_shard_says_none_is_written(
        tmp_path: Path) -> None:
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES)
    reports: list[Any] = []
    extract(tiny_causal_lm("llama"), tokens, ["blocks.*.resid_post"], out_dir=tmp_path / "store",
            progress=reports.append, **OPTIONS)
    running = [p for p in reports if not p.stored and not p.closing]
    before = [p for p in running if p.bytes_written == 0 and p.rows_done > 0]
    after = [p for p in running if p.bytes_written > 0]
    assert before and after  # the case: reports on both sides of the first whole shard

    for p in before:
        message = progress_fields(p, "compute")["message"]
        assert "no whole shard written yet" in message
        assert "GB written" not in message
    for p in after:
        message = progress_fields(p, "compute")["message"]
        assert f"{p.bytes_written / 1e9:.3f} GB written in whole shards" in message
