"""The manifest of an activation store as it grows, and the checks and clean-up of a resume.

``make_layout`` validates what a run asks for and ``new_manifest`` starts a manifest;
``in_journal`` makes its shard list the journal's (``JournalShards``: the entries stay on disk,
so a writer's memory does not grow with its shards); ``with_shard`` returns the next version with
one more whole shard and updated counts (sequences, and the tail sequence that may still be open),
with the shard's journal line, and ``commit_shard`` commits that shard by appending the line to
the shard journal (``store_journal``); ``manifest.json`` itself is written by the writer only when
the status changes. On resume ``check_same`` refuses another configuration,
``restore_stats`` loads the float64 accumulators saved with the last shard, ``tail_tokens`` reads
back the stored rows of the tail sequence (to match the re-fed rows), ``remove_debris`` deletes
whatever the manifest does not list (and cuts a torn journal line) and ``resume_point`` tells the
engine where to restart. ``lock_store`` keeps a second writer out.

This module is NOT responsible for writing shards (``store_writer``) or the file formats
(``store``, ``store_journal``).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import orjson

from interpstudio.core.errors import InvalidInput
from interpstudio.ml import store as layout
from interpstudio.ml import store_journal as journal
from interpstudio.ml.npy_load import load_npy, load_npz
from interpstudio.ml.stats import StatsConfig, StreamingStats
from interpstudio.ml.store import StoreConfigMismatch, StoreExists, StoreLocked


@dataclass(frozen=True)
class ResumePoint:
    """Where a (re)opened store stands; the engine restarts from here."""

    rows: int  # rows in whole shards
    shards: int
    sequences_complete: int  # leading sequences (stream order) fully stored: skip them
    next_sequence: int | None  # index of the sequence to restart at (None: start from scratch)
    rows_to_skip: int  # rows of next_sequence already stored; append() drops them itself
    complete: bool  # the run already finished; nothing to append


def make_layout(
    hooks: Mapping[str, int],
    dtype: str,
    shard_rows: int | None,
    shard_bytes: int,
    config: StatsConfig,
) -> dict[str, Any]:
    """The store's layout (validated): hooks with d, dtype, rows per shard, stats config."""
    if dtype not in layout.STORAGE_DTYPES:
        raise InvalidInput(
            f"storage dtype {dtype!r} is not supported; use one of "
            f"{', '.join(layout.STORAGE_DTYPES)}",
            details={"dtype": dtype},
        )
    if not hooks:
        raise InvalidInput("name at least one hook point to store", details={})
    for name, d in hooks.items():
        layout.validate_hook_name(name)
        if int(d) < 1:
            raise InvalidInput(
                f"hook point {name!r} has d={d}; d must be >= 1", details={"hook": name, "d": d}
            )
    row_bytes = sum(int(d) for d in hooks.values()) * layout.STORAGE_DTYPES[dtype].itemsize
    rows = shard_rows if shard_rows is not None else max(1, shard_bytes // row_bytes)
    if rows < 1:
        raise InvalidInput(f"shard_rows must be >= 1, got {rows}", details={"shard_rows": rows})
    return {
        "hooks": [{"name": h, "d": int(d)} for h, d in hooks.items()],
        "dtype": dtype,
        "shard_rows": int(rows),
        "token_columns": list(layout.TOKEN_COLUMNS),
        "stats": config.to_dict(),
    }


class ShardCommit(NamedTuple):
    """A shard ready to be committed (``with_shard``)."""

    manifest: dict[str, Any]  # the manifest once the shard is in
    line: bytes  # its journal line: appending it is the commit


def with_shard(
    manifest: dict[str, Any],
    index: int,
    name: str,
    rows: int,
    tokens: np.ndarray,
    files: dict[str, Any],
    state_rel: str,
) -> ShardCommit:
    """The manifest with one more shard and updated counts (the old one is left untouched), and
    the shard's journal line: its entry, with the counts and statistics state the manifest has
    once it is in. ``manifest["shards"]`` is a ``JournalShards`` (``in_journal``)."""
    counts = dict(manifest["counts"])
    seq = tokens[:, 1]
    previous_tail = counts["tail_sequence"]
    starts = np.flatnonzero(seq[1:] != seq[:-1]) + 1  # rows where a new sequence begins
    continues_tail = previous_tail is not None and seq[0] == previous_tail
    counts["sequences"] += len(starts) + (0 if continues_tail else 1)
    last_run = rows - (int(starts[-1]) if len(starts) else 0)
    counts["tail_sequence_rows"] = last_run + (
        counts["tail_sequence_rows"] if continues_tail and not len(starts) else 0
    )
    counts["tail_sequence"] = int(seq[-1])
    counts["rows"] += rows
    counts["tokens"] = counts["rows"]  # one row per stored token (pads are never stored)
    counts["per_hook_rows"] = {h: counts["rows"] for h in counts["per_hook_rows"]}
    shard = {
        "index": index,
        "name": name,
        "rows": rows,
        "first": tokens[0, 1:].tolist(),
        "last": tokens[-1, 1:].tolist(),
        "files": files,
    }
    updated_at = now()
    line = journal.encode_line(
        {"shard": shard, "counts": counts, "stats_state": state_rel, "updated_at": updated_at}
    )
    shards: journal.JournalShards = manifest["shards"]
    return ShardCommit(
        dict(
            manifest,
            counts=counts,
            shards=shards.appended(len(line)),
            stats_state=state_rel,
            updated_at=updated_at,
        ),
        line,
    )


def commit_shard(directory: Path, commit: ShardCommit, *, durable: bool) -> None:
    """Commit the shard of ``commit`` (from ``with_shard``): append its journal line. Its files
    must be whole and synced already."""
    journal.append_line(directory / layout.JOURNAL_NAME, commit.line, durable=durable)


def in_journal(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its shards as the journal's first lines (``JournalShards``), which must
    hold them (``remove_debris`` has cut any torn line): a writer keeps 8 bytes a shard instead
    of the entries. A complete store's list stays as it is (nothing is appended to it, and a
    store of format version 1 has no journal)."""
    if manifest["status"] == "complete":
        return manifest
    path = directory / layout.JOURNAL_NAME
    return dict(manifest, shards=journal.JournalShards.of_lines(path, len(manifest["shards"])))


def resume_point(manifest: dict[str, Any]) -> ResumePoint:
    counts = manifest["counts"]
    rows = counts["rows"]
    complete = manifest["status"] == "complete"
    if complete or not rows:
        return ResumePoint(rows, len(manifest["shards"]), counts["sequences"], None, 0, complete)
    return ResumePoint(
        rows=rows,
        shards=len(manifest["shards"]),
        sequences_complete=counts["sequences"] - 1,
        next_sequence=counts["tail_sequence"],
        rows_to_skip=counts["tail_sequence_rows"],
        complete=False,
    )


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def lock_store(directory: Path) -> int:
    fd = os.open(directory / layout.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLocked(directory) from None
    return fd


def existing_manifest(directory: Path, resume: bool) -> dict[str, Any] | None:
    if not (directory / layout.MANIFEST_NAME).exists():
        return None
    manifest = layout.read_manifest(directory)
    if not resume:
        raise StoreExists(directory, manifest["status"])
    version = manifest["format_version"]
    if version != layout.FORMAT_VERSION and manifest["status"] != "complete":
        what = f"format version ({version}; this version writes {layout.FORMAT_VERSION})"
        raise StoreConfigMismatch(directory, what, version, layout.FORMAT_VERSION)
    return manifest


def new_manifest(spec: dict[str, Any], digest: str, wanted: dict[str, Any]) -> dict[str, Any]:
    hooks = [h["name"] for h in wanted["hooks"]]
    return {
        "format": layout.FORMAT,
        "format_version": layout.FORMAT_VERSION,
        "spec": spec,
        "config_hash": digest,
        "layout": wanted,
        "d": {h["name"]: h["d"] for h in wanted["hooks"]},
        "dtype": wanted["dtype"],
        "versions": layout.versions(),
        "status": "running",
        "error": None,
        "counts": {
            "rows": 0,
            "tokens": 0,
            "sequences": 0,
            "tail_sequence": None,
            "tail_sequence_rows": 0,
            "per_hook_rows": dict.fromkeys(hooks, 0),
        },
        "shards": [],
        "stats_state": None,
        "stats": None,
        "created_at": now(),
        "updated_at": now(),
        "resumes": [],
    }


def check_same(
    directory: Path, manifest: dict[str, Any], digest: str, wanted: dict[str, Any],
    wanted_spec: dict[str, Any] | None = None,
) -> None:
    """Refuse a resume whose spec or layout differs; the refusal names the spec's keys that
    differ (``model_fingerprint``, ``tokens_fingerprint``, ``dtype``...), with both values of
    those short enough to read (``precision_used: fp32 stored, bf16 in this run``)."""
    if manifest["config_hash"] != digest:
        stored, spec = manifest.get("spec", {}), wanted_spec or {}
        differ = sorted(k for k in {*stored, *spec} if stored.get(k) != spec.get(k))
        what = f"config ({', '.join(differ)})" if differ else "config hash"
        values = [f"{k}: {_readable(stored.get(k))} stored, {_readable(spec.get(k))} in this run"
                  for k in differ if _short(stored.get(k)) and _short(spec.get(k))]
        raise StoreConfigMismatch(directory, what, manifest["config_hash"], digest,
                                  values="; ".join(values))
    if manifest["layout"] != wanted:
        raise StoreConfigMismatch(directory, "layout", manifest["layout"], wanted)


def _short(value: Any) -> bool:
    """A spec value a refusal can show as it is: a number, a name (not a fingerprint) or none."""
    return value is None or isinstance(value, (bool, int, float)) or (
        isinstance(value, str) and len(value) <= 24)


def _readable(value: Any) -> str:
    return "none" if value is None else str(value)


def restore_stats(
    directory: Path, manifest: dict[str, Any], config: StatsConfig
) -> dict[str, StreamingStats]:
    hooks = {h["name"]: h["d"] for h in manifest["layout"]["hooks"]}
    if manifest["stats_state"] is None:
        return {h: StreamingStats(d, config) for h, d in hooks.items()}
    state = unpack_arrays(load_npz(directory / manifest["stats_state"]))
    return {
        h: StreamingStats.from_state_dict(
            {k.split("::", 1)[1]: v for k, v in state.items() if k.startswith(f"{h}::")}, config
        )
        for h in hooks
    }


def pack_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Many small arrays as two ``.npz`` entries (an index and their bytes): a store with 90
    hook points has ~2,300 accumulator arrays, and ``np.savez`` spends ~20 us on each entry
    (47 ms per shard, on the writer's cores)."""
    index = []
    parts = []
    offset = 0
    for name, value in arrays.items():
        value = np.asarray(value)
        descr = np.lib.format.dtype_to_descr(value.dtype)  # structured dtypes keep their fields
        index.append([name, descr, list(value.shape), offset])
        parts.append(value.tobytes())  # C order, 0-d included
        offset += value.nbytes
    data = np.frombuffer(b"".join(parts), np.uint8)
    return {"index": np.frombuffer(orjson.dumps(index), np.uint8), "data": data}


def unpack_arrays(saved: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays ``pack_arrays`` packed (a file of one array per entry comes back as it is)."""
    if set(saved) != {"index", "data"}:
        return saved
    data = saved["data"]
    out = {}
    for name, descr, shape, start in orjson.loads(saved["index"].tobytes()):
        dtype = np.lib.format.descr_to_dtype(_as_tuples(descr))
        size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        out[name] = data[start : start + size].view(dtype).reshape(tuple(shape)).copy()
    return out


def _as_tuples(descr: Any) -> Any:
    """A dtype description read back from JSON: its field entries are tuples again."""
    if not isinstance(descr, list):
        return descr  # a plain type such as "<f8"
    fields = []
    for name, kind, *shape in descr:  # (name, type) or (name, type, subarray shape)
        name = tuple(name) if isinstance(name, list) else name  # (title, name)
        fields.append((name, _as_tuples(kind), *(tuple(s) for s in shape)))
    return fields


def tail_tokens(directory: Path, manifest: dict[str, Any]) -> np.ndarray:
    """(k, 3) stored token rows of the tail sequence (read backwards over token shards)."""
    need = manifest["counts"]["tail_sequence_rows"]
    parts: list[np.ndarray] = []
    for shard in reversed(manifest["shards"]):
        if need <= 0:
            break
        tokens = load_npy(directory / "tokens" / shard["name"])
        parts.insert(0, np.array(tokens[max(0, len(tokens) - need) :]))
        need -= len(tokens)
    return np.concatenate(parts) if parts else np.empty((0, 3), np.int64)


def remove_debris(directory: Path, manifest: dict[str, Any], *, durable: bool) -> None:
    """Delete files the manifest does not list: half-written shards, temp files, and the torn
    last line of the journal (the journal of a new store starts empty)."""
    keep = {rel for rel, _ in layout.listed_files(manifest)}
    if manifest["stats_state"]:
        keep.add(manifest["stats_state"])
    for sub in layout.STORE_DIRS:
        for file in sorted((directory / sub).rglob("*")) if (directory / sub).exists() else []:
            if file.is_file() and file.relative_to(directory).as_posix() not in keep:
                file.unlink()
    for file in directory.iterdir():
        if file.is_file() and layout.is_temp_name(file.name):
            file.unlink()
    if manifest["status"] != "complete":
        (directory / layout.STATS_NAME).unlink(missing_ok=True)
        journal.keep_lines(
            directory / layout.JOURNAL_NAME, len(manifest["shards"]), durable=durable
        )
