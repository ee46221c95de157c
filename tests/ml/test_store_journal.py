"""The shard journal of the activation store: O(1) commits, torn lines, what readers see.

A commit appends one line to ``shards.jsonl``; ``manifest.json`` is rewritten only when the status
changes. Torn lines are written by hand exactly as a kill in the middle of an append leaves them
(the shard's files whole under their final names, part of its line), since a SIGKILL cannot be
timed to land inside one ``write``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_store import (
    SHARD_ROWS,
    append_whole_shards,
    batches,
    data_files,
    open_writer,
    wait_for_shards,
    write_all,
)

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.store import StoreConfigMismatch, read_manifest, sha256_file
from interpstudio.ml.store_journal import (
    JOURNAL_NAME,
    StoreJournalCorrupted,
    has_committed_line,
)
from interpstudio.ml.store_reader import open_activations


def journal_lines(store: Path) -> list[bytes]:
    return (store / JOURNAL_NAME).read_bytes().splitlines(keepends=True)


def manifest_json(store: Path) -> dict:  # type: ignore[type-arg]
    """``manifest.json`` alone, as a tool that knows nothing of the journal reads it."""
    return json.loads((store / "manifest.json").read_text())


def file_state(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


def partial_store(path: Path) -> dict:  # type: ignore[type-arg]
    """A store aborted after a few whole shards."""
    writer = open_writer(path, durable=False)
    for batch in batches(stop=37):
        writer.append(batch)
    wait_for_shards(writer, 3)
    return writer.abort()


# ------------------------------------------------------------------------------ commit cost
def test_commit_appends_one_line_and_never_rewrites_manifest_json(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = open_writer(store, shard_rows=3, durable=False)
    before = file_state(store / "manifest.json")
    rows = 0
    for batch in batches(stop=40):
        writer.append(batch)
        rows += len(batch.token_ids)
    wait_for_shards(writer, rows // 3)  # every whole shard committed; the rest waits in memory
    shards = len(writer.manifest["shards"])
    assert shards >= 250

    assert file_state(store / "manifest.json") == before  # not rewritten by any commit
    lines = journal_lines(store)
    assert len(lines) == shards and all(line.endswith(b"\n") for line in lines)
    assert [json.loads(line)["shard"] for line in lines] == writer.manifest["shards"]
    sizes = [len(line) for line in lines]
    assert max(sizes) - min(sizes) < 64  # bytes per commit do not grow with the shards before it
    assert (store / JOURNAL_NAME).stat().st_size == sum(sizes)

    writer.close()
    assert file_state(store / "manifest.json") != before  # rewritten once, as it completes
    assert len(journal_lines(store)) == shards + 1  # the last, short shard


# ------------------------------------------------------------------------------ readers
def test_reader_of_a_running_store_sees_exactly_the_committed_shards(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = open_writer(store, durable=False)
    rows = append_whole_shards(writer, 20)
    committed = writer.manifest

    assert manifest_json(store)["shards"] == []  # written at open; the journal has the rest
    seen = read_manifest(store)
    assert seen["status"] == "running"
    assert seen["shards"] == committed["shards"] and seen["counts"] == committed["counts"]
    assert seen["stats_state"] == committed["stats_state"]
    acts = open_activations(store)
    assert acts.rows == rows // SHARD_ROWS * SHARD_ROWS
    acts.verify()

    aborted = writer.abort()  # a status change: manifest.json carries the whole list again
    alone = manifest_json(store)
    assert alone["status"] == "partial" and alone["shards"] == aborted["shards"]
    assert read_manifest(store) == alone


def test_complete_manifest_json_alone_lists_every_shard_with_sha256(tmp_path: Path) -> None:
    store = tmp_path / "s"
    closed = write_all(store, durable=False)
    alone = manifest_json(store)
    assert alone["status"] == "complete" and alone["stats"] == "stats.json"
    assert alone["shards"] == closed["shards"] == [
        json.loads(line)["shard"] for line in journal_lines(store)
    ]
    assert alone["counts"] == json.loads(journal_lines(store)[-1])["counts"]
    for shard in alone["shards"]:
        files = shard["files"]
        for record in (*files["hooks"].values(), files["tokens"], *files["norms"].values()):
            assert record["sha256"] == sha256_file(store / record["path"])

    (store / JOURNAL_NAME).unlink()  # a finished store copied without its journal
    acts = open_activations(store)
    assert acts.rows == closed["counts"]["rows"]
    acts.verify()


# ------------------------------------------------------------------------------ torn lines
def torn_line(line: bytes, kind: str) -> bytes:
    """What a kill during the append of ``line`` can leave behind."""
    if kind == "half":
        return line[: len(line) // 2]
    if kind == "no_newline":
        return line[:-1]
    # "hole": the size and the last page landed, a page in the middle did not
    return line[:20] + b"\0" * (len(line) - 40) + line[-20:]


@pytest.mark.parametrize("kind", ["half", "no_newline", "hole"])
def test_torn_journal_line_is_ignored_then_cut_and_resume_is_byte_identical(
    tmp_path: Path, kind: str
) -> None:
    reference = tmp_path / "reference"
    write_all(reference, durable=False)
    store = tmp_path / "s"
    partial = partial_store(store)
    k = len(partial["shards"])
    whole = (store / JOURNAL_NAME).read_bytes()
    # shard k was written whole, then the process died in the middle of appending its line
    debris = [rel for rel in data_files(reference) if rel.endswith(f"shard_{k:05d}.npy")]
    for rel in debris:
        shutil.copyfile(reference / rel, store / rel)
    (store / f"stats/state_{k:05d}.npz").write_bytes(b"PK not committed")
    with open(store / JOURNAL_NAME, "ab") as f:
        f.write(torn_line(journal_lines(reference)[k], kind))

    seen = read_manifest(store)
    assert seen["shards"] == partial["shards"] and seen["counts"] == partial["counts"]
    assert open_activations(store).rows == partial["counts"]["rows"]

    writer = open_writer(store, resume=True, durable=False)
    assert (store / JOURNAL_NAME).read_bytes() == whole  # the torn line is cut off
    assert not any((store / rel).exists() for rel in debris)
    assert not (store / f"stats/state_{k:05d}.npz").exists()
    for batch in batches(start=writer.resume_point.sequences_complete):
        writer.append(batch)
    writer.close()

    assert data_files(store) == data_files(reference)
    assert (store / "stats.json").read_bytes() == (reference / "stats.json").read_bytes()
    assert manifest_json(store)["shards"] == manifest_json(reference)["shards"]
    assert [json.loads(line)["shard"] for line in journal_lines(store)] == manifest_json(
        reference
    )["shards"]


@pytest.mark.parametrize("kind", ["half", "no_newline", "hole"])
def test_a_store_holds_a_committed_line_unless_its_first_is_torn_or_missing(
    tmp_path: Path, kind: str
) -> None:
    """``has_committed_line`` tells an empty store (stopped before its first whole shard) from
    one with shards by the journal's first line alone, as ``read_journal`` reads it."""
    assert has_committed_line(tmp_path / "none" / JOURNAL_NAME) is None
    reference = tmp_path / "reference"
    write_all(reference, durable=False)
    first = journal_lines(reference)[0]
    store = tmp_path / "s"
    open_writer(store, durable=False).abort()
    journal = store / JOURNAL_NAME
    assert journal.read_bytes() == b"" and has_committed_line(journal) is False
    journal.write_bytes(torn_line(first, kind))  # killed while appending the first line
    assert read_manifest(store)["shards"] == [] and has_committed_line(journal) is False
    journal.write_bytes(first)
    assert len(read_manifest(store)["shards"]) == 1 and has_committed_line(journal) is True
    journal.write_bytes(first + torn_line(journal_lines(reference)[1], kind))
    assert len(read_manifest(store)["shards"]) == 1 and has_committed_line(journal) is True
    assert has_committed_line(reference / JOURNAL_NAME) is True  # a complete store


# ------------------------------------------------------------------------------ damage
def test_damaged_journal_is_refused_naming_the_line(tmp_path: Path) -> None:
    store = tmp_path / "s"
    partial_store(store)
    lines = journal_lines(store)

    (store / JOURNAL_NAME).write_bytes(lines[0] + b"{not json\n" + b"".join(lines[2:]))
    with pytest.raises(StoreJournalCorrupted, match="line 2: not valid JSON"):
        read_manifest(store)

    (store / JOURNAL_NAME).write_bytes(lines[1] + lines[0] + b"".join(lines[2:]))
    with pytest.raises(StoreJournalCorrupted, match="line 1: holds shard 1"):
        open_activations(store)

    (store / JOURNAL_NAME).write_bytes(b"".join(lines[:-1]))  # manifest.json lists one more
    with pytest.raises(StoreJournalCorrupted, match=f"does not hold shard {len(lines) - 1}"):
        read_manifest(store)
    with pytest.raises(StoreJournalCorrupted):
        open_writer(store, resume=True, durable=False)


def test_format_versions_are_named_and_version_1_stays_readable(tmp_path: Path) -> None:
    store = tmp_path / "s"
    write_all(store, durable=False)
    manifest = manifest_json(store)
    (store / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(InvalidInput, match="version 99; this version reads") as info:
        open_activations(store)
    assert info.value.details["version"] == 99

    # version 1 wrote the whole list into manifest.json at every commit and had no journal
    (store / "manifest.json").write_text(json.dumps({**manifest, "format_version": 1}))
    (store / JOURNAL_NAME).unlink()
    acts = open_activations(store)
    assert acts.rows == manifest["counts"]["rows"]
    acts.verify()

    partial = tmp_path / "p"
    partial_store(partial)
    aborted = manifest_json(partial)  # the writer's own lists its shards from the journal
    (partial / "manifest.json").write_text(json.dumps({**aborted, "format_version": 1}))
    with pytest.raises(StoreConfigMismatch, match=r"format version \(1; this version writes 2\)"):
        open_writer(partial, resume=True, durable=False)
