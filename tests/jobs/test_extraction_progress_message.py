"""What a running extraction job's message says about the shards written, from a real run's
engine reports turned into the job's progress by the task (``progress_fields``).

Found by a browser walk: until its first shard was whole a run read "0.000 GB captured · 0.000
GB written in whole shards", as if its writer were stuck; it now says no whole shard is written
yet, and the GB once one is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interpstudio.core.units import format_bytes
from interpstudio.jobs.tasks.extraction import closing_message, kept_message, progress_fields
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
        assert " written in whole shards" not in message
    for p in after:
        message = progress_fields(p, "compute")["message"]
        assert f"{format_bytes(p.bytes_written)} written in whole shards" in message


def test_running_and_closing_messages_say_sizes_in_a_unit_that_fits(tmp_path: Path) -> None:
    """A browser walk: a tiny store's run read "0.000 GB captured" through its first batch and
    "0.000 GB written" after; the UI's facts beside it said "4.10 kB". Sizes now read in the
    unit the UI uses for the same bytes (``format_bytes``), never a row of zeros."""
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES)
    reports: list[Any] = []
    extract(tiny_causal_lm("llama"), tokens, ["blocks.*.resid_post"], out_dir=tmp_path / "store",
            progress=reports.append, **OPTIONS)
    captured = [p for p in reports if not p.stored and not p.closing and p.bytes_captured]
    written = [p for p in reports if p.bytes_written]
    assert captured and written and all(p.bytes_captured < 1e6 for p in captured)  # the case

    for p in captured:
        message = progress_fields(p, "compute")["message"]
        assert message.startswith(f"{format_bytes(p.bytes_captured)} captured · "), message
        assert " kB captured" in message and "0.000" not in message, message
    for p in written:
        message = closing_message(p) if p.closing or p.stored else progress_fields(
            p, "compute")["message"]
        assert f"{format_bytes(p.bytes_written)} " in message and "0.000" not in message, message
    assert kept_message(40, 1, 4_096) == ("kept 40 rows in 1 whole shard · 4.10 kB written; "
                                          "resume to continue from there")
