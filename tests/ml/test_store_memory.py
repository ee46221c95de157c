"""The store writer's memory does not grow with its shards; what it holds instead reads the same.

A shard's manifest entry holds a record (path, sha256, bytes) for every file of every hook point:
~90 KB a shard at 90 hook points, hundreds of MB over a long run. The writer keeps where each
journal line ends instead (``JournalShards``) and reads entries back from the journal; these tests
measure the heap it keeps (tracemalloc, never wall-clock time) and check that every view of the
shards (the writer's manifest, ``manifest.json``, readers) is what it was.
"""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from test_store import open_writer, wait_for_shards

from interpstudio.ml import store_writer
from interpstudio.ml.store import dump_json, read_manifest
from interpstudio.ml.store_journal import JOURNAL_NAME, JournalShards, StoreJournalCorrupted
from interpstudio.ml.store_reader import open_activations
from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter

MANY_HOOKS = {f"blocks.{i}.hook_resid_post": 4 for i in range(24)}
ROWS = 4  # rows per shard: many shards, each with 24 x 3 file records


def rows(start: int, count: int) -> ActivationBatch:
    """Rows ``[start, start + count)`` of a stream of 10-row sequences."""
    index = np.arange(start, start + count)
    rng = np.random.default_rng(start)
    return ActivationBatch(
        {h: rng.standard_normal((count, d)).astype(np.float32) for h, d in MANY_HOOKS.items()},
        token_ids=index % 97 + 1, sequence_index=index // 10, position=index % 10,
    )


def fill_shards(writer: ActivationWriter, first: int, last: int) -> None:
    """Append the rows of shards ``[first, last)`` and wait until they are committed."""
    for start in range(first * ROWS, last * ROWS, 3 * ROWS):
        writer.append(rows(start, min(3 * ROWS, last * ROWS - start)))
    wait_for_shards(writer, last)


def retained() -> int:
    """Bytes of Python heap alive now (after a collection), as tracemalloc counts them."""
    time.sleep(0.05)  # the committer is done with the shard it just published
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def many_hooks_writer(path: Path, **kwargs: Any) -> ActivationWriter:
    return open_writer(path, hooks=MANY_HOOKS, shard_rows=ROWS, durable=False, workers=2,
                       **kwargs)


def test_writer_heap_does_not_grow_with_shards(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # held norms are bounded (HELD_NORM_BYTES) but grow until then: out of this measure
    monkeypatch.setattr(store_writer, "HELD_NORM_BYTES", 0)
    tracemalloc.start()
    try:
        writer = many_hooks_writer(tmp_path / "s")
        fill_shards(writer, 0, 20)
        before = retained()
        fill_shards(writer, 20, 140)
        after = retained()
        manifest = writer.close()
    finally:
        tracemalloc.stop()
    # the entries took ~20 KB a shard here (72 file records); a line's end takes 8 bytes
    assert (after - before) / 120 < 1024
    assert len(manifest["shards"]) == 140
    assert manifest["shards"] == [json.loads(line)["shard"]
                                  for line in (tmp_path / "s" / JOURNAL_NAME).open("rb")]


def test_writer_lets_go_of_held_norms_once_the_summary_is_made(tmp_path: Path) -> None:
    writer = many_hooks_writer(tmp_path / "s")
    fill_shards(writer, 0, 5)
    assert writer._held  # the summary reads them from memory, not from the files
    writer.close()
    assert writer.summary is not None and not writer._held


def test_manifest_json_is_the_manifest_as_indented_json(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = many_hooks_writer(store)
    # at open (no shard): the document as write_json_atomic wrote it
    on_disk = (store / "manifest.json").read_bytes()
    assert on_disk == dump_json(orjson.loads(on_disk), indent=True)
    assert orjson.loads(on_disk)["shards"] == []
    fill_shards(writer, 0, 7)
    aborted = writer.abort()  # a status change: every shard's entry, from the journal
    on_disk = (store / "manifest.json").read_bytes()
    listed = orjson.loads(on_disk)
    assert on_disk == dump_json(listed, indent=True)
    assert listed == {**aborted, "shards": list(aborted["shards"])} == read_manifest(store)
    assert len(listed["shards"]) == 7

    resumed = many_hooks_writer(store, resume=True)
    assert isinstance(resumed.manifest["shards"], JournalShards)
    assert resumed.manifest["shards"] == listed["shards"]
    start = resumed.resume_point.next_sequence * 10  # fed again from its sequence's start
    resumed.append(rows(start, 9 * ROWS + 1 - start))
    closed = resumed.close()
    on_disk = (store / "manifest.json").read_bytes()
    assert on_disk == dump_json(orjson.loads(on_disk), indent=True)
    assert orjson.loads(on_disk)["shards"] == closed["shards"] and len(closed["shards"]) == 10
    open_activations(store).verify()  # every sha256 listed, checked


def test_journal_shards_read_each_committed_entry_back(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = many_hooks_writer(store)
    fill_shards(writer, 0, 4)
    early = writer.manifest["shards"]
    fill_shards(writer, 4, 6)
    shards = writer.manifest["shards"]
    lines = [json.loads(line)["shard"] for line in (store / JOURNAL_NAME).open("rb")]

    assert isinstance(shards, JournalShards) and len(shards) == 6
    assert shards == lines and lines == shards and shards != lines[:-1]
    assert [shards[i] for i in range(6)] == lines and shards[-1] == lines[5]
    assert shards[1:4] == lines[1:4] and shards[::2] == lines[::2]
    assert list(reversed(shards)) == lines[::-1]
    assert early == lines[:4]  # a snapshot: the shards committed after it are not in it
    with pytest.raises(IndexError):
        shards[6]
    writer.close()

    data = (store / JOURNAL_NAME).read_bytes()
    (store / JOURNAL_NAME).write_bytes(data.replace(b'"index":2,', b'"index":3,', 1))
    with pytest.raises(StoreJournalCorrupted, match="line 3"):
        shards[2]


def test_journal_shards_snapshots_each_read_their_own_lines(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    line = [orjson.dumps({"shard": {"index": i, "name": f"n{i}"}, "counts": {}}) + b"\n"
            for i in range(3)]
    path.write_bytes(line[0])
    one = JournalShards.of_lines(path, 1)
    lost = one.appended(len(line[1]) + 7)  # a commit whose line never landed
    two = one.appended(len(line[1]))  # the next try, from the same snapshot
    path.write_bytes(line[0] + line[1])
    three = two.appended(len(line[2]))
    path.write_bytes(b"".join(line))
    assert [s["name"] for s in three] == ["n0", "n1", "n2"]
    assert [s["name"] for s in two] == ["n0", "n1"] and len(one) == 1 and len(lost) == 2
    with pytest.raises(StoreJournalCorrupted):
        lost[1]  # it expected a longer line there
