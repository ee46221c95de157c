"""Activation store: round trip, laziness, crash safety, exact resume, disk full, SAELens export.

Every fault here is real: the writer subprocess is killed with SIGKILL, the disk is a real 1 MiB
tmpfs that fills up, a folder that a shard must go into is replaced by a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers import small_filesystem, wait_for
from interpstudio.ml import store as layout
from interpstudio.ml.stats import StatsConfig
from interpstudio.ml.store import (
    APP_STORE_DIR,
    HookPointNotStored,
    InvalidActivationBatch,
    StoreClosed,
    StoreConfigMismatch,
    StoreCorrupted,
    StoreDiskFull,
    StoreExists,
    StoreLocked,
    StoreNotFound,
    StoreWriteFailed,
    decode,
    encode_bfloat16,
    is_temp_name,
    read_manifest,
)
from interpstudio.ml.store_reader import open_activations
from interpstudio.ml.store_writer import ActivationBatch, ActivationWriter

HOOKS = {"blocks.0.resid_post": 32, "blocks.1.attn_out": 48}
SPEC = {
    "model": "tiny/llama@0123abc",
    "precision": {"requested": "fp16", "used": "fp16"},
    "hook_points": list(HOOKS),
    "batch_size": 5,
}
N_SEQ = 120
SHARD_ROWS = 64


# ------------------------------------------------------------------------------ data and runs
def sequence_rows(index: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sequence ``index``'s rows, the same whichever run asks (pads already removed)."""
    rng = np.random.default_rng([1234, index])
    length = int(rng.integers(3, 40))
    acts = {
        h: (rng.standard_normal((length, d)) + 0.25).astype(np.float32) for h, d in HOOKS.items()
    }
    return acts, rng.integers(1, 1000, size=length)


def batches(start: int = 0, stop: int = N_SEQ, per_batch: int = 5) -> Iterator[ActivationBatch]:
    for a in range(start, stop, per_batch):
        parts = [(i, *sequence_rows(i)) for i in range(a, min(a + per_batch, stop))]
        yield ActivationBatch(
            activations={h: np.concatenate([p[1][h] for p in parts]) for h in HOOKS},
            token_ids=np.concatenate([p[2] for p in parts]),
            sequence_index=np.concatenate([np.full(len(p[2]), p[0]) for p in parts]),
            position=np.concatenate([np.arange(len(p[2])) for p in parts]),
        )


def row_batches(start: int, rows_per_batch: int = 7) -> Iterator[ActivationBatch]:
    """The same rows as ``batches(start)``, cut every ``rows_per_batch`` rows, mid-sequence."""
    for batch in batches(start=start, per_batch=N_SEQ):
        n = len(batch.token_ids)
        for a in range(0, n, rows_per_batch):
            part = slice(a, a + rows_per_batch)
            yield ActivationBatch(
                {h: x[part] for h, x in batch.activations.items()},
                batch.token_ids[part],
                batch.sequence_index[part],
                batch.position[part],
            )


def open_writer(path: Path, *, resume: bool = False, **kwargs: Any) -> ActivationWriter:
    options: dict[str, Any] = {
        "hooks": HOOKS,
        "dtype": "float16",
        "shard_rows": SHARD_ROWS,
        "stats_config": StatsConfig(top_k=4),
    }
    options.update(kwargs)
    return ActivationWriter.open(path, SPEC, resume=resume, **options)


def write_all(path: Path, **kwargs: Any) -> dict[str, Any]:
    writer = open_writer(path, **kwargs)
    for batch in batches():
        writer.append(batch)
    return writer.close()


def crash_child(path: str) -> None:
    """Run in a subprocess: write slowly until the parent kills us."""
    writer = open_writer(Path(path))
    for batch in batches():
        writer.append(batch)
        time.sleep(0.03)
        if len(writer.manifest["shards"]) >= 6:  # part-way: wait here for the parent's SIGKILL
            time.sleep(3600)
    writer.close()


def wait_for_shards(writer: ActivationWriter, shards: int) -> None:
    deadline = time.monotonic() + 30
    while len(writer.manifest["shards"]) < shards and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(writer.manifest["shards"]) >= shards


def append_whole_shards(writer: ActivationWriter, stop: int) -> int:
    """Append sequences ``[0, stop)`` and wait until every whole shard of them is committed (no
    further commit happens until more rows come); returns the rows appended."""
    rows = 0
    for batch in batches(stop=stop):
        writer.append(batch)
        rows += len(batch.token_ids)
    wait_for_shards(writer, rows // SHARD_ROWS)
    return rows


def data_files(root: Path) -> dict[str, bytes]:
    """Every shard file (hooks, tokens, norms) by relative path."""
    out = {}
    for sub in ("hooks", "tokens", "norms"):
        for f in sorted((root / sub).rglob("*.npy")):
            out[f.relative_to(root).as_posix()] = f.read_bytes()
    return out


def temp_files(root: Path) -> list[Path]:
    return [f for f in root.rglob("*") if is_temp_name(f.name)]


def expected_arrays(dtype: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """What the store must hold after ``write_all``: values in the storage dtype, tokens."""
    parts = [sequence_rows(i) for i in range(N_SEQ)]
    acts = {h: np.concatenate([p[0][h] for p in parts]) for h in HOOKS}
    acts = {
        h: encode_bfloat16(x) if dtype == "bfloat16" else x.astype(dtype) for h, x in acts.items()
    }
    tokens = np.stack(
        [
            np.concatenate([p[1] for p in parts]),
            np.concatenate([np.full(len(p[1]), i) for i, p in enumerate(parts)]),
            np.concatenate([np.arange(len(p[1])) for p in parts]),
        ],
        axis=1,
    )
    return acts, tokens


# ---------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_round_trip_is_bit_exact_per_dtype(tmp_path: Path, dtype: str) -> None:
    manifest = write_all(tmp_path / "s", dtype=dtype, durable=False)
    want, tokens = expected_arrays(dtype)
    acts = open_activations(tmp_path / "s")
    assert acts.status == manifest["status"] == "complete"
    assert acts.rows == len(tokens) == manifest["counts"]["rows"]
    assert manifest["counts"]["sequences"] == N_SEQ
    assert len(manifest["shards"]) == -(-len(tokens) // SHARD_ROWS)
    assert np.array_equal(acts.tokens[:], tokens)
    for hook, x in want.items():
        arr = acts[hook]
        assert arr.shape == (len(tokens), HOOKS[hook]) and len(arr) == len(tokens)
        assert arr.dtype == (np.float32 if dtype == "bfloat16" else np.dtype(dtype))
        assert np.array_equal(arr.read_raw(slice(None)), x)  # the stored bits
        assert np.array_equal(np.concatenate(list(arr)), arr[:])  # iteration over shards
        decoded = arr[:]
        assert np.array_equal(arr[100:300], decoded[100:300])  # crosses shard boundaries
        assert np.array_equal(arr[[5, 700, -1, 64]], decoded[[5, 700, -1, 64]])
        assert np.array_equal(arr[3:900:17], decoded[3:900:17])
        assert np.array_equal(arr[-1], decoded[-1])
        mask = tokens[:, 2] > 0  # the notebook idiom: rows chosen by a mask over the tokens
        assert np.array_equal(arr[mask], decoded[mask])
        assert np.array_equal(arr[mask, 0], decoded[mask, 0])
        # paired like numpy: values (5, 0) and (700, 3), not the 2 x 2 block they span
        assert np.array_equal(arr[[5, 700], [0, 3]], decoded[[5, 700], [0, 3]])
        assert np.array_equal(arr[mask, np.zeros(int(mask.sum()), int)], decoded[mask, 0])
        assert np.array_equal(arr[2:9, [0, 3]], decoded[2:9, [0, 3]])  # a slice stays outer
        assert np.array_equal(arr[..., 1], decoded[..., 1])
        assert np.array_equal(arr[...], decoded)
        with pytest.raises(IndexError, match="boolean index of 3 rows"):
            arr[np.ones(3, bool)]
    acts.verify()


def test_bfloat16_from_torch_tensor_matches_torch_rounding(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    x = torch.randn(10, 4, dtype=torch.float32) * 3
    x[0, 0] = float("nan")
    writer = ActivationWriter.open(
        tmp_path / "s", SPEC, hooks={"h": 4}, dtype="bfloat16", durable=False
    )
    ids = torch.arange(10)
    writer.append(ActivationBatch({"h": x.bfloat16()}, ids, torch.zeros(10, dtype=torch.long), ids))
    writer.close()
    stored = open_activations(tmp_path / "s")["h"]
    want_bits = x.bfloat16().view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(stored.read_raw(slice(None)), want_bits)
    ours = encode_bfloat16(x.numpy())  # float32 input rounds the same (NaN patterns may differ)
    assert np.array_equal(ours.ravel()[1:], want_bits.ravel()[1:])
    assert np.isnan(decode(ours, "bfloat16")[0, 0])
    np.testing.assert_array_equal(stored[:], x.bfloat16().float().numpy())


def test_stats_json_equals_float64_recompute_over_stored_data(tmp_path: Path) -> None:
    write_all(tmp_path / "s", dtype="bfloat16", durable=False)
    acts = open_activations(tmp_path / "s")
    stats = acts.stats
    assert stats is not None and stats["rows"] == acts.rows
    position = acts.tokens[:, 2]
    for hook in HOOKS:
        x = acts[hook][:].astype(np.float64)
        norms = np.linalg.norm(x, axis=1)
        for group, rows in (
            ("all", slice(None)),
            ("bos", position == 0),
            ("non_bos", position != 0),
        ):
            got = stats["hooks"][hook]["groups"][group]
            np.testing.assert_allclose(got["per_dim"]["mean"], x[rows].mean(0), rtol=1e-9)
            np.testing.assert_allclose(got["per_dim"]["std"], x[rows].std(0), rtol=1e-9)
            np.testing.assert_allclose(got["std"], x[rows].std(), rtol=1e-9)
            for q, value in got["norm"]["quantiles"].items():
                np.testing.assert_allclose(value, np.quantile(norms[rows], float(q)), rtol=1e-9)
        np.testing.assert_allclose(acts.norms(hook)[:], norms, rtol=1e-12)


def test_unknown_hook_point_is_a_key_error_naming_stored_ones(tmp_path: Path) -> None:
    write_all(tmp_path / "s", durable=False)
    acts = open_activations(tmp_path / "s")
    with pytest.raises(HookPointNotStored, match=r"blocks\.0\.resid_post") as info:
        acts["blocks.9.mlp_out"]
    assert isinstance(info.value, KeyError)
    assert "blocks.9.mlp_out" not in acts and list(acts) == list(HOOKS)


def test_open_takes_the_apps_extraction_folder_and_refuses_other_paths(tmp_path: Path) -> None:
    """The app keeps a store at ``extractions/<id>/store``; the README's quickstart opened
    ``extractions/<id>`` and got "no activation store"."""
    folder = tmp_path / "extractions" / "3"
    write_all(folder / APP_STORE_DIR, durable=False)
    assert open_activations(folder).rows == open_activations(folder / APP_STORE_DIR).rows
    with pytest.raises(StoreNotFound, match="no activation store"):
        open_activations(tmp_path / "extractions")


# ------------------------------------------------------------------------------------ laziness
def test_a_tokenization_opened_as_a_store_is_named_for_what_it_is(tmp_path: Path) -> None:
    """It was "not an interpstudio activation store ... it may come from a newer or different
    tool", also for ``extract(..., out_dir=<the tokenization>)``."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml.token_store import TokenStoreWriter

    writer = TokenStoreWriter(tmp_path / "tok", meta={"tokenizer_key": "t", "policy": {}})
    writer.append([[1, 2, 3]], [0])
    writer.finish(counts={})
    for attempt in (lambda: open_activations(tmp_path / "tok"),
                    lambda: open_writer(tmp_path / "tok"),
                    lambda: open_writer(tmp_path / "tok", resume=True)):
        with pytest.raises(InvalidInput, match="is a tokenization, not an activation store"):
            attempt()


def test_open_and_small_slice_read_only_what_they_need(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    d = 1024
    writer = ActivationWriter.open(
        tmp_path / "big", SPEC, hooks={"h": d}, dtype="float32", shard_rows=2048, durable=False
    )
    rng = np.random.default_rng(0)
    for s in range(16):  # 16 x 2048 rows x 4 KiB = 128 MiB of activations
        x = rng.standard_normal((2048, d), dtype=np.float32)
        ids = np.arange(2048)
        writer.append(ActivationBatch({"h": x}, ids, np.full(2048, s), ids))
    writer.close()
    del writer, x
    gc.collect()
    process = psutil.Process()

    def mapped_shards() -> set[str]:
        return {m.path for m in process.memory_maps(grouped=True) if "/hooks/h/" in m.path}

    rss_before = process.memory_info().rss
    acts = open_activations(tmp_path / "big")
    arr = acts["h"]
    assert arr.shape == (16 * 2048, d) and arr.nbytes == 128 << 20
    assert mapped_shards() == set()  # opening read only the manifest
    rows = arr[5000:5010]  # inside shard 2
    assert rows.shape == (10, d)
    assert mapped_shards() == {str(tmp_path / "big/hooks/h/shard_00002.npy")}
    assert process.memory_info().rss - rss_before < 8 << 20  # far below the 128 MiB stored


# ------------------------------------------------------------------------ crash, resume, errors
def test_sigkill_mid_run_then_resume_gives_byte_identical_store(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    write_all(reference)
    store = tmp_path / "crashed"
    code = (
        f"import sys; sys.path[:0] = [{str(Path(__file__).parent)!r}, "
        f"{str(Path(__file__).parents[1])!r}]; "
        f"import test_store; test_store.crash_child({str(store)!r})"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if (store / "manifest.json").exists() and len(read_manifest(store)["shards"]) >= 6:
                break
            time.sleep(0.005)
        assert child.poll() is None, "the writer finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    manifest = read_manifest(store)  # manifest.json merged with the shard journal
    assert manifest["status"] == "running"
    # nothing half-written under a final name: every visible shard file is whole
    for rel, data in data_files(store).items():
        loaded = np.load(store / rel)
        assert loaded.shape[0] == SHARD_ROWS, rel
        assert len(data) == (store / rel).stat().st_size
    acts = open_activations(store)
    acts.verify()  # the killed store reads as its whole shards
    assert acts.rows == manifest["counts"]["rows"] == SHARD_ROWS * len(manifest["shards"])

    writer = open_writer(store, resume=True)
    point = writer.resume_point
    assert point.rows == acts.rows and not point.complete
    assert point.next_sequence == point.sequences_complete  # sequence index == stream ordinal
    assert temp_files(store) == []
    for batch in batches(start=point.sequences_complete):  # restart at the cut sequence
        writer.append(batch)
    resumed = writer.close()

    assert data_files(store) == data_files(reference)
    final = json.loads((reference / "manifest.json").read_text())
    assert resumed["counts"] == final["counts"]
    assert resumed["shards"] == final["shards"]
    assert json.loads((store / "stats.json").read_text()) == json.loads(
        (reference / "stats.json").read_text()
    )
    assert len(resumed["resumes"]) == 1


def test_abort_leaves_partial_store_that_resumes_exactly(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    write_all(reference, durable=False)
    store = tmp_path / "store"
    writer = open_writer(store, durable=False)
    for batch in batches(stop=37):
        writer.append(batch)
    wait_for_shards(writer, 3)
    manifest = writer.abort()
    assert len(manifest["shards"]) >= 3
    assert manifest["status"] == "partial"
    assert open_activations(store).stats["rows"] == manifest["counts"]["rows"]
    with pytest.raises(StoreClosed):
        writer.append(next(batches()))
    writer = open_writer(store, resume=True, durable=False)
    assert writer.resume_point.rows_to_skip > 0
    # batches cut mid-sequence: the stored start of the tail sequence spans several of them
    for batch in row_batches(start=writer.resume_point.sequences_complete, rows_per_batch=3):
        writer.append(batch)
    writer.close()
    assert data_files(store) == data_files(reference)


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = open_writer(store, durable=False)
    writer.append(next(batches()))
    writer.abort()
    with pytest.raises(StoreConfigMismatch, match=r"config \(batch_size\)") as info:
        ActivationWriter.open(
            store,
            {**SPEC, "batch_size": 8},
            hooks=HOOKS,
            dtype="float16",
            shard_rows=SHARD_ROWS,
            resume=True,
        )
    assert info.value.details["stored"] != info.value.details["requested"]
    with pytest.raises(StoreConfigMismatch, match="layout"):
        open_writer(store, resume=True, shard_rows=SHARD_ROWS * 2)
    with pytest.raises(StoreExists, match="pass resume=True to continue it"):
        open_writer(store)


def test_a_second_run_into_a_complete_store_is_not_told_to_resume_it(tmp_path: Path) -> None:
    """It was told "pass resume=True to continue it": a resume of a complete store returns it
    unchanged, so the new run a researcher wanted never happened."""
    write_all(tmp_path / "s", durable=False)
    with pytest.raises(StoreExists, match="it is whole: open it with open_activations") as info:
        open_writer(tmp_path / "s")
    assert "resume=True" not in str(info.value)


def test_resume_refuses_a_wrong_restart_point(tmp_path: Path) -> None:
    store = tmp_path / "s"
    writer = open_writer(store, durable=False)
    for batch in batches(stop=20):
        writer.append(batch)
    wait_for_shards(writer, 2)  # abort drops what is still queued
    writer.abort()
    writer = open_writer(store, resume=True, durable=False)
    assert writer.resume_point.rows_to_skip > 0
    wrong_start = writer.resume_point.sequences_complete + 1
    with pytest.raises(StoreConfigMismatch, match="restart at sequence"), writer:
        writer.append(next(batches(start=wrong_start)))
    assert read_manifest(store)["status"] == "partial"  # a refused resume fails nothing


def test_a_whole_tail_is_skipped_only_with_the_rows_stored(tmp_path: Path) -> None:
    """The engine skips a tail sequence its plan says is whole (``skip_whole_tail``); the rows it
    names are checked against the stored ones, as a re-fed tail's are."""
    store = tmp_path / "s"
    writer = open_writer(store, durable=False)
    for batch in batches(stop=20):
        writer.append(batch)
    wait_for_shards(writer, 2)
    writer.abort()
    writer = open_writer(store, resume=True, durable=False)
    point = writer.resume_point
    writer.abort()
    assert point.rows_to_skip > 0 and read_manifest(store)["status"] == "partial"
    tail = np.asarray(open_activations(store).tokens[point.rows - point.rows_to_skip :])
    other = tail.copy()
    other[-1, 0] += 1
    for wrong in (tail[:-1], other):
        writer = open_writer(store, resume=True, durable=False)
        with pytest.raises(StoreConfigMismatch), writer:
            writer.skip_whole_tail(wrong)
    writer = open_writer(store, resume=True, durable=False)
    writer.skip_whole_tail(tail)
    writer.abort()
    assert read_manifest(store)["counts"]["rows"] == point.rows


def test_second_writer_on_the_same_store_is_refused(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "s", durable=False)
    with pytest.raises(StoreLocked):
        open_writer(tmp_path / "s", resume=True)
    writer.close()


def test_a_store_goes_only_into_a_new_or_empty_folder(tmp_path: Path) -> None:
    """A file, a path under a file: the OS's "File exists" / "Not a directory" said nothing of
    what to do. A folder of someone's files: the store was written in among them."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml.store import NotAStoreFolder

    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidInput, match="is a file; a store needs a folder"):
        open_writer(tmp_path / "a-file")
    with pytest.raises(InvalidInput, match="a part of the path above it is a file"):
        open_writer(tmp_path / "a-file" / "s")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "paper.tex").write_text("months of work")
    for resume in (False, True):
        with pytest.raises(NotAStoreFolder, match=r"not empty \(paper.tex\)"):
            open_writer(notes, resume=resume)
    assert [p.name for p in notes.iterdir()] == ["paper.tex"]  # not even a lock file left
    (tmp_path / "empty").mkdir()
    write_all(tmp_path / "empty", durable=False)  # an empty folder is fine


def test_append_validates_hooks_shapes_and_order(tmp_path: Path) -> None:
    writer = open_writer(tmp_path / "s", durable=False)
    good = next(batches())
    n = len(good.token_ids)
    with pytest.raises(InvalidActivationBatch, match="missing"):
        writer.append(
            ActivationBatch(
                {"blocks.0.resid_post": good.activations["blocks.0.resid_post"]},
                good.token_ids,
                good.sequence_index,
                good.position,
            )
        )
    with pytest.raises(InvalidActivationBatch, match=r"\(\d+, 48\)"):
        bad = {**good.activations, "blocks.1.attn_out": np.zeros((n, 47), np.float32)}
        writer.append(ActivationBatch(bad, good.token_ids, good.sequence_index, good.position))
    with pytest.raises(InvalidActivationBatch, match="positions must increase"):
        writer.append(
            ActivationBatch(
                good.activations, good.token_ids, good.sequence_index, good.position[::-1].copy()
            )
        )
    writer.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pace", ["overlap", "inline"])
def test_write_error_in_thread_surfaces_on_next_call(tmp_path: Path, pace: str) -> None:
    store = tmp_path / "s"
    writer = open_writer(store, durable=False, pace=pace)
    (store / "hooks").mkdir()
    (store / "hooks" / "blocks.1.attn_out").write_text("a file where a folder must go")
    with pytest.raises(StoreWriteFailed) as info:
        for batch in batches():
            writer.append(batch)
        writer.close()
    assert info.value.__cause__ is not None
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["shards"] == []
    assert "error" in manifest and manifest["error"]["type"] == "StoreWriteFailed"
    assert not list((store / "hooks").rglob("*.npy")) and temp_files(store) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize("pace", ["overlap", "inline"])
def test_an_error_while_marking_the_store_failed_still_reaches_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pace: str
) -> None:
    """The first fault is real (a file where a folder must go); the second, an unexpected error
    while the failed store's statistics are summarised, is simulated: it once killed the writer
    thread, and the next ``append`` waited forever on the full queue."""
    import interpstudio.ml.store_writer as store_writer

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("unexpected error in the statistics summary")

    monkeypatch.setattr(store_writer, "store_statistics", broken)
    store = tmp_path / "s"
    writer = open_writer(store, durable=False, max_queued_batches=1, pace=pace)
    (store / "hooks").mkdir()
    (store / "hooks" / "blocks.1.attn_out").write_text("a file where a folder must go")
    with pytest.raises(StoreWriteFailed):
        for batch in batches():
            writer.append(batch)
        writer.close()
    manifest = json.loads((store / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["stats"] is None
    assert manifest["error"]["type"] == "StoreWriteFailed"


def test_verify_names_a_corrupted_shard(tmp_path: Path) -> None:
    write_all(tmp_path / "s", durable=False)
    shard = tmp_path / "s/hooks/blocks.1.attn_out/shard_00003.npy"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreCorrupted) as info:
        open_activations(tmp_path / "s").verify()
    assert info.value.details["problems"] == [
        {"file": "hooks/blocks.1.attn_out/shard_00003.npy", "problem": "sha256 mismatch"}
    ]




def test_an_opened_store_reads_well_in_a_notebook(tmp_path: Path) -> None:
    """``acts`` in a notebook cell showed ``<interpstudio.ml.store_reader.Activations object at
    0x...>``; it says what the store holds (``repr``)."""
    write_all(tmp_path / "s", durable=False)
    shown = repr(open_activations(tmp_path / "s"))
    rows = read_manifest(tmp_path / "s")["counts"]["rows"]
    assert shown == (f"Activations({str(tmp_path / 's')!r}, complete, {rows:,} rows in "
                     f"{-(-rows // SHARD_ROWS)} shard(s), float16, 2 hook point(s): "
                     "blocks.0.resid_post (32), blocks.1.attn_out (48))")

@pytest.mark.parametrize(("damage", "problem"), [
    (lambda f: f.write_bytes(b"not an npy file at all" * 10),
     "it does not start with an .npy header: junk bytes or another kind of file"),
    (lambda f: f.write_bytes(f.read_bytes()[:200]), "ValueError: mmap length is greater"),
    (lambda f: f.unlink(), "the file is missing"),
    (lambda f: np.save(f, np.zeros((3, 48), np.float16)),
     "holds a float16 array of shape (3, 48), not the float16 (64, 48) listed"),
])
def test_reading_a_damaged_shard_names_it_not_numpys_message(
        tmp_path: Path, damage: Any, problem: str) -> None:
    """Junk bytes read as numpy's "pickled (object) data ... allow_pickle", which says nothing
    of the store; a wrong-shape shard was read silently (rows past it, or a short read)."""
    write_all(tmp_path / "s", durable=False)
    damage(tmp_path / "s/hooks/blocks.1.attn_out/shard_00001.npy")
    acts = open_activations(tmp_path / "s")
    assert acts["blocks.1.attn_out"][:64].shape == (64, 48)  # shard 0 reads as before
    with pytest.raises(StoreCorrupted) as info:
        acts["blocks.1.attn_out"][100]
    (found,) = info.value.details["problems"]
    assert found["file"] == "hooks/blocks.1.attn_out/shard_00001.npy"
    assert found["problem"].startswith(problem)
    assert info.value.details["path"] == str(tmp_path / "s")


WIDE = {f"blocks.{i}.resid_post": 16 for i in range(8)}


def write_wide(store: Path, *, sequences: int) -> None:
    """Eight hook points, 64-row shards, durable: each shard writes 18 files."""
    writer = ActivationWriter.open(store, SPEC, hooks=WIDE, dtype="float32", shard_rows=64,
                                   durable=True)
    with writer:
        for s in range(sequences):
            ids = np.arange(32)
            x = np.random.default_rng(s).standard_normal((32, 16), dtype=np.float32)
            writer.append(ActivationBatch({h: x for h in WIDE}, ids, np.full(32, s), ids))


@pytest.mark.skipif(not layout.can_sync_filesystem(), reason="syncfs is Linux only")
def test_a_durable_shard_is_synced_once_not_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spies only (the real fsync and syncfs run): an fsync of every file and of its folder
    cost ~360 syncs per shard of a 90-point run, seconds of a short one on a VM's disk."""
    calls = {"fsync": 0, "syncfs": 0}
    real_fsync, real_sync = os.fsync, layout.sync_filesystem

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def sync(fd: int) -> None:
        calls["syncfs"] += 1
        real_sync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(layout, "sync_filesystem", sync)
    write_wide(tmp_path / "s", sequences=8)  # 256 rows: 4 shards
    acts = open_activations(tmp_path / "s")
    acts.verify()
    assert acts.rows == 256 and len(acts.manifest["shards"]) == 4
    assert calls["syncfs"] == 4  # one per shard, before its journal line
    # the journal line of each shard, and the store's own documents: not one per file
    assert calls["fsync"] <= 4 + 10, calls


@pytest.mark.skipif(not layout.can_sync_filesystem(), reason="syncfs is Linux only")
@pytest.mark.parametrize(("code", "error"), [(5, StoreWriteFailed), (28, StoreDiskFull)])
def test_a_writeback_error_at_the_shard_sync_leaves_the_shards_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, error: type
) -> None:
    """Simulated (a disk's writeback error cannot be caused here for real): the second shard's
    syncfs reports EIO / ENOSPC, as Linux does for an error met while writing back. That shard
    is not committed and its files go; the store is a valid partial one of the first shard."""
    real_sync = layout.sync_filesystem
    calls = []

    def sync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(code, os.strerror(code))
        real_sync(fd)

    monkeypatch.setattr(layout, "sync_filesystem", sync)
    store = tmp_path / "s"
    with pytest.raises(error):
        write_wide(store, sequences=8)
    manifest = read_manifest(store)
    assert manifest["status"] == "failed" and len(manifest["shards"]) == 1
    assert {f.name for f in (store / "hooks").rglob("*.npy")} == {"shard_00000.npy"}
    assert temp_files(store) == []
    acts = open_activations(store)
    acts.verify()
    assert acts.rows == 64


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs to fill up."""
    with small_filesystem(tmp_path / "tiny_disk", "1M") as mount_point:
        yield mount_point


def test_disk_full_leaves_a_valid_partial_store(tiny_disk: Path) -> None:
    store = tiny_disk / "s"
    writer = ActivationWriter.open(
        store, SPEC, hooks={"h": 256}, dtype="float32", shard_rows=128
    )  # 128 KiB of activations per shard
    rng = np.random.default_rng(0)
    with pytest.raises(StoreDiskFull) as info:
        for s in range(40):
            ids = np.arange(128)
            x = rng.standard_normal((128, 256), dtype=np.float32)
            writer.append(ActivationBatch({"h": x}, ids, np.full(128, s), ids))
        writer.close()
    assert info.value.errno == 28 and isinstance(info.value, OSError)
    manifest = json.loads((store / "manifest.json").read_text())
    whole = len(manifest["shards"])
    assert 0 < whole < 8 and manifest["status"] == "failed"
    assert temp_files(store) == []
    listed = {f"hooks/h/{s['name']}" for s in manifest["shards"]}
    assert {f.relative_to(store).as_posix() for f in (store / "hooks").rglob("*.npy")} == listed
    acts = open_activations(store)
    acts.verify()
    assert acts.rows == 128 * whole
    # shards are committed beside the gathering of the next one: none may be committed after a
    # failed one (its rows would follow a missing shard)
    np.testing.assert_array_equal(acts.tokens[:][:, 1], np.repeat(np.arange(whole), 128))
    x0 = np.random.default_rng(0).standard_normal((128, 256), dtype=np.float32)
    np.testing.assert_array_equal(acts["h"][:128], x0)


def test_a_disk_full_at_the_statistics_says_so_not_a_shard(tiny_disk: Path) -> None:
    """A tester: every shard was in and stats.json did not fit, yet the error said "disk full
    while writing shard 6 (8,853,504 bytes needed)": there was no shard 6."""
    store = tiny_disk / "s"
    writer = ActivationWriter.open(store, SPEC, hooks={"h": 64}, dtype="float16", shard_rows=128)
    rng = np.random.default_rng(0)
    for s in range(4):  # four whole shards, committed as they fill
        ids = np.arange(128)
        writer.append(ActivationBatch({"h": rng.standard_normal((128, 64), dtype=np.float32)},
                                      ids, np.full(128, s), ids))
    wait_for(lambda: len(read_manifest(store)["shards"]) == 4, timeout=20)
    filler = tiny_disk / "filler"
    # someone else fills the disk before the run ends (the last write, or the close, fails)
    with contextlib.suppress(OSError), open(filler, "wb") as f:
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    with pytest.raises(StoreDiskFull, match="disk full while writing the statistics") as info:
        writer.close()
    assert "all 4 shard(s) are kept: free space, then resume" in info.value.message
    assert info.value.details["step"] == "statistics"
    filler.unlink()
    open_activations(store).verify()  # marking it failed found the disk full too: best effort
    assert len(read_manifest(store)["shards"]) == 4
    ActivationWriter.open(store, SPEC, hooks={"h": 64}, dtype="float16", shard_rows=128,
                          resume=True).close()  # space freed: the resume only summarises
    assert open_activations(store).status == "complete" and (store / "stats.json").is_file()


# -------------------------------------------------------------------------------- SAELens export
def test_export_saelens_loads_with_datasets_and_matches(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from interpstudio.ml.export import export_saelens

    store = tmp_path / "fixed"  # fixed-length sequences: one dataset row per sequence
    writer = ActivationWriter.open(
        store, SPEC, hooks=HOOKS, dtype="bfloat16", shard_rows=50, durable=False
    )
    rng = np.random.default_rng(3)
    for b in range(6):
        seq = np.repeat(np.arange(4 * b, 4 * b + 4), 16)
        pos = np.tile(np.arange(16), 4)
        acts = {h: rng.standard_normal((64, d)).astype(np.float32) for h, d in HOOKS.items()}
        writer.append(ActivationBatch(acts, rng.integers(0, 1000, 64), seq, pos))
    writer.close()
    progress: list[tuple[int, int]] = []
    result = export_saelens(store, tmp_path / "out", progress=lambda a, b: progress.append((a, b)))
    assert (result.context_size, result.rows, result.tokens_dropped) == (16, 24, 0)
    assert progress[-1] == (24, 24)

    ds = datasets.load_from_disk(str(tmp_path / "out"))
    assert len(ds) == 24
    assert ds.features["blocks.1.attn_out"] == datasets.Array2D(shape=(16, 48), dtype="float32")
    assert ds.features["token_ids"] == datasets.Sequence(datasets.Value("int32"), length=16)
    ds.set_format("numpy")
    source = open_activations(store)
    for hook, d in HOOKS.items():
        assert np.array_equal(ds[hook][:].reshape(-1, d), source[hook][:])
    assert np.array_equal(ds["token_ids"][:].reshape(-1), source.tokens[:, 0])

    ragged = tmp_path / "ragged"
    write_all(ragged, durable=False)
    with pytest.raises(Exception, match="context_size"):
        export_saelens(ragged, tmp_path / "out2")
    packed = export_saelens(ragged, tmp_path / "out3", context_size=32, dtype="float16")
    assert packed.tokens_exported + packed.tokens_dropped == open_activations(ragged).rows
    assert packed.tokens_dropped < 32
    ds3 = datasets.load_from_disk(str(tmp_path / "out3")).with_format("numpy")
    first = open_activations(ragged)["blocks.0.resid_post"][:32]
    assert np.array_equal(ds3[0]["blocks.0.resid_post"], first)
    # found by a tester: a hook named twice was reported twice (one column written)
    twice = export_saelens(ragged, tmp_path / "out4", context_size=32,
                           hook_names=["blocks.0.resid_post", "blocks.0.resid_post"])
    assert twice.hook_names == ["blocks.0.resid_post"]


def test_export_saelens_cancel_writes_nothing(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from interpstudio.core.errors import JobCancelled
    from interpstudio.ml.export import export_saelens

    write_all(tmp_path / "s", durable=False)
    with pytest.raises(JobCancelled):
        export_saelens(tmp_path / "s", tmp_path / "out", context_size=16, should_stop=lambda: True)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no temp folder left


def test_export_saelens_refuses_a_partial_store_unless_allowed(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from interpstudio.ml.export import StoreNotComplete, export_saelens

    writer = open_writer(tmp_path / "s", durable=False)
    for batch in batches(stop=37):
        writer.append(batch)
    wait_for_shards(writer, 3)
    writer.abort("partial")  # a cancelled run: the whole shards so far stay
    with pytest.raises(StoreNotComplete, match="allow_partial=True") as info:
        export_saelens(tmp_path / "s", tmp_path / "out", context_size=16)
    assert info.value.code == "store_not_complete" and info.value.details["status"] == "partial"
    assert not (tmp_path / "out").exists()
    done = export_saelens(tmp_path / "s", tmp_path / "out", context_size=16, allow_partial=True)
    stored = open_activations(tmp_path / "s").rows
    assert done.rows > 0 and done.tokens_exported == stored // 16 * 16


def test_export_saelens_hook_names_empty_refused_and_string_is_one_name(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml.export import export_saelens

    write_all(tmp_path / "s", durable=False)
    with pytest.raises(InvalidInput, match="give at least one hook name, or omit hook_names"):
        export_saelens(tmp_path / "s", tmp_path / "out", hook_names=[], context_size=16)
    assert not (tmp_path / "out").exists()
    done = export_saelens(tmp_path / "s", tmp_path / "out", hook_names="blocks.0.resid_post",
                          context_size=16)
    assert done.hook_names == ["blocks.0.resid_post"]
    columns = datasets.load_from_disk(str(tmp_path / "out")).column_names
    assert sorted(columns) == ["blocks.0.resid_post", "token_ids"]


def test_export_saelens_hook_names_take_extracts_patterns(tmp_path: Path) -> None:
    """``extract`` takes ``blocks.*.resid_post``; the export refused the same words
    (HookPointNotStored) from a notebook and from ``interpstudio export --hooks``."""
    pytest.importorskip("datasets")
    from interpstudio.ml.export import plan_export
    from interpstudio.ml.store import HookPointNotStored

    write_all(tmp_path / "s", durable=False)  # blocks.0.resid_post, blocks.1.attn_out

    def hooks(names: object) -> list[str]:
        return plan_export(tmp_path / "s", hook_names=names, context_size=16).hooks  # type: ignore[arg-type]

    assert hooks("blocks.*.resid_post") == ["blocks.0.resid_post"]
    assert hooks("blocks.*.*") == ["blocks.0.resid_post", "blocks.1.attn_out"]
    assert hooks(["blocks.{0,1}.*", "blocks.0.resid_post"]) == [
        "blocks.0.resid_post", "blocks.1.attn_out"]
    for not_stored in ("blocks.*.mlp_out", "blocks.{0-1}.resid_post", "blocks.{0-7}.attn_out"):
        with pytest.raises(HookPointNotStored, match=r"stored: blocks\.0\.resid_post"):
            hooks(not_stored)


def test_an_export_context_size_past_the_store_says_which_fits(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml.export import plan_export

    write_all(tmp_path / "s", durable=False)
    rows = open_activations(tmp_path / "s").rows
    with pytest.raises(InvalidInput, match=f"fewer than one row of {rows + 1}; pass "
                                           f"context_size={rows} or less"):
        plan_export(tmp_path / "s", context_size=rows + 1)
    assert plan_export(tmp_path / "s", context_size=rows).dataset_rows == 1


def test_export_saelens_overwrite_replaces_only_after_success(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from interpstudio.ml.export import ExportTargetExists, export_saelens
    from interpstudio.ml.store import HookPointNotStored

    write_all(tmp_path / "s", durable=False)
    export_saelens(tmp_path / "s", tmp_path / "out", context_size=16)
    with pytest.raises(ExportTargetExists):
        export_saelens(tmp_path / "s", tmp_path / "out", context_size=32)
    with pytest.raises(HookPointNotStored):
        export_saelens(tmp_path / "s", tmp_path / "out", hook_names=["nope"], overwrite=True)
    assert datasets.load_from_disk(str(tmp_path / "out")).features["token_ids"].length == 16
    export_saelens(tmp_path / "s", tmp_path / "out", context_size=32, overwrite=True)
    assert datasets.load_from_disk(str(tmp_path / "out")).features["token_ids"].length == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "s"]  # no temp folder left


def test_export_saelens_never_replaces_the_store_or_what_is_not_an_export(
    tmp_path: Path,
) -> None:
    """``overwrite`` into the store, or a folder holding it, deleted the whole extraction."""
    pytest.importorskip("datasets")
    from interpstudio.core.errors import InvalidInput
    from interpstudio.ml.export import ExportTargetExists, export_saelens

    store = tmp_path / "project" / "run1"
    write_all(store, durable=False)
    before = sorted(p.relative_to(store) for p in store.rglob("*"))
    for target in (store, store.parent, tmp_path):
        with pytest.raises(InvalidInput, match="the store itself or a folder holding it"):
            export_saelens(store, target, context_size=16, overwrite=True)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "paper.tex").write_text("months of work")
    with pytest.raises(ExportTargetExists, match="only an earlier export"):
        export_saelens(store, notes, context_size=16, overwrite=True)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidInput, match="is a file"):
        export_saelens(store, tmp_path / "a-file", context_size=16)
    assert (notes / "paper.tex").read_text() == "months of work"
    assert sorted(p.relative_to(store) for p in store.rglob("*")) == before
    open_activations(store).verify()


def test_json_documents_refuse_nan_and_keep_floats_exact() -> None:
    """orjson writes NaN as null; a store document must never hold one silently."""
    import orjson

    from interpstudio.ml.store import dump_json

    value = {"x": [0.1, 1 / 3, 1e-300, np.float64(2.5)], "none": None, "arr": np.arange(3.0)}
    assert orjson.loads(dump_json(value, indent=True)) == {
        "x": [0.1, 1 / 3, 1e-300, 2.5], "none": None, "arr": [0.0, 1.0, 2.0]}
    for bad in ({"x": float("nan")}, {"x": [1.0, float("inf")]}, {"a": np.array([np.nan])}):
        with pytest.raises(ValueError, match="NaN or Inf"):
            dump_json(bad)


# ------------------------------------------------------------------------- batch memory reuse
def reusing(source: Iterator[ActivationBatch], released: list[int]) -> Iterator[ActivationBatch]:
    """The batches of ``source`` with a ``release`` that records the batch and overwrites its
    activations, as an engine reusing the memory for the next batch would."""
    for i, batch in enumerate(source):
        acts = {h: np.array(x) for h, x in batch.activations.items()}

        def release(i: int = i, acts: dict[str, np.ndarray] = acts) -> None:
            released.append(i)
            for x in acts.values():
                x.fill(np.nan)

        yield dataclasses.replace(batch, activations=acts, release=release)


def test_batches_are_released_once_and_only_after_their_rows_are_taken(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    write_all(reference, durable=False)
    released: list[int] = []
    writer = open_writer(tmp_path / "reused", durable=False)
    for batch in reusing(batches(), released):
        writer.append(batch)
    writer.close()
    assert sorted(released) == list(range(len(list(batches()))))
    assert data_files(tmp_path / "reused") == data_files(reference)  # overwriting came after


def test_batches_dropped_by_abort_or_skipped_on_resume_are_released(tmp_path: Path) -> None:
    released: list[int] = []
    writer = open_writer(tmp_path / "aborted", durable=False, max_queued_batches=64)
    appended = 0
    for batch in reusing(batches(stop=60), released):
        writer.append(batch)
        appended += 1
    writer.abort()  # batches still queued are dropped
    assert sorted(released) == list(range(appended))

    store = tmp_path / "store"
    writer = open_writer(store, durable=False)
    append_whole_shards(writer, 10)
    writer.abort()  # whole shards kept; the last one ends inside a sequence
    released.clear()
    writer = open_writer(store, resume=True, durable=False)
    assert writer.resume_point.rows_to_skip > 0  # one-row batches: those are stored already
    appended = 0
    for batch in reusing(row_batches(writer.resume_point.sequences_complete, 1), released):
        writer.append(batch)
        appended += 1
    writer.close()
    assert sorted(released) == list(range(appended))


def test_statistics_state_packs_and_unpacks_every_array_exactly() -> None:
    from interpstudio.ml.store_manifest import pack_arrays, unpack_arrays

    arrays = {"h::d": np.asarray(7), "h::mean": np.linspace(0, 1, 5), "h::count": np.arange(3),
              "g::top": np.ones((2, 3), np.float32), "g::empty": np.empty((0, 4)),
              "g::records": np.array([(1.5, 3, (2, 4))],
                                     dtype=[("norm", "<f8"), ("row", "<i8"), ("at", "<i4", 2)])}
    packed = pack_arrays(arrays)
    assert set(packed) == {"index", "data"}
    back = unpack_arrays(packed)
    assert list(back) == list(arrays)
    for name, value in arrays.items():
        assert back[name].dtype == value.dtype and back[name].shape == value.shape
        np.testing.assert_array_equal(back[name], value)
    assert unpack_arrays(arrays) is arrays  # a state file of one entry per array (older stores)


# ------------------------------------------------------------------------------------------- pace
@pytest.mark.timeout(60)
def test_inline_pace_returns_once_rows_are_taken_and_commits_have_computed(
    tmp_path: Path,
) -> None:
    """Inline (a model on the CPU): ``append`` returns only after the writer has copied the
    batch (its memory is released) and any shard commit it started has folded and hashed; the
    store is byte-identical to one written at the overlapping pace."""
    reference = tmp_path / "overlap"
    write_all(reference, durable=False, pace="overlap")
    released: list[int] = []
    writer = open_writer(tmp_path / "inline", durable=False, pace="inline",
                         max_queued_batches=64)
    for i, batch in enumerate(reusing(batches(), released)):
        writer.append(batch)
        assert released[-1:] == [i]  # taken before append returned, never queued behind
        assert all(s.computed.is_set() for s in writer._sets if s.pending is not None)
    writer.close()
    assert data_files(tmp_path / "inline") == data_files(reference)


def lent(writer: ActivationWriter, batch: ActivationBatch) -> ActivationBatch:
    """``batch`` as the CPU engine hands it over: its rows cast into the writer's lent rows
    (the float16 cast done here, as the engine's hook does), no activations of its own; as it
    is where the writer lends none."""
    loan = writer.lend(len(batch.token_ids))
    if loan is None:
        return batch
    for hook, parts in loan.parts.items():
        start = 0
        for part in parts:
            part[...] = batch.activations[hook][start : start + len(part)]
            start += len(part)
    return dataclasses.replace(batch, activations={}, release=loan.cancel, loan=loan)


@pytest.mark.parametrize("rows_per_batch", [7, 50, 64, 100])
def test_rows_cast_into_lent_shard_rows_make_the_same_store(
    tmp_path: Path, rows_per_batch: int
) -> None:
    """Inline (the CPU), the engine casts a batch's rows straight into the shard buffers the
    writer lends (no staging, no copy by the writer), also across a shard boundary into the
    next set of buffers (64-row shards), and where a batch needs more rows than this shard's
    rest and the next one (100) it is copied from its own: the store is byte-identical to one
    written from batches of their own."""
    reference = tmp_path / "copied"
    writer = open_writer(reference, durable=False, pace="inline")
    for batch in row_batches(0, rows_per_batch):
        writer.append(batch)
    writer.close()
    writer = open_writer(tmp_path / "lent", durable=False, pace="inline")
    crossed, own = 0, 0
    for batch in row_batches(0, rows_per_batch):
        batch = lent(writer, batch)
        if batch.loan is None:
            own += 1
        else:
            crossed += len(batch.loan.parts["blocks.0.resid_post"]) == 2
        writer.append(batch)
    writer.close()
    assert crossed > 0 or rows_per_batch == 64  # 64: every batch is one whole shard
    assert (own > 0) == (rows_per_batch == 100)
    assert data_files(tmp_path / "lent") == data_files(reference)
    assert json.loads((tmp_path / "lent" / "stats.json").read_text()) == json.loads(
        (reference / "stats.json").read_text())


def test_shard_rows_are_lent_only_where_they_can_be(tmp_path: Path) -> None:
    """No loan at the overlapping pace (``append`` returns before the rows are absorbed), nor
    for more rows than the rest of this shard and the next hold; lent rows are appended in
    order, before any batch of its own; a cancelled loan takes back the ones after it."""
    with open_writer(tmp_path / "overlap", durable=False, pace="overlap") as writer:
        assert writer.lend(5) is None
    writer = open_writer(tmp_path / "s", durable=False, pace="inline")
    first, second = list(row_batches(0, 10))[:2]
    assert writer.lend(2 * SHARD_ROWS + 1) is None
    one = lent(writer, first)
    two = lent(writer, second)
    assert writer.lend(2 * SHARD_ROWS - 19) is None  # 20 rows lent already
    with pytest.raises(InvalidActivationBatch, match="in the order they were lent"):
        writer.append(two)
    with pytest.raises(InvalidActivationBatch, match="in the order they were lent"):
        writer.append(second)  # rows of its own would land on the lent ones
    one.loan.cancel()  # e.g. out of memory: both go back, the next loan starts where one did
    assert one.loan.settled and two.loan.settled
    again = lent(writer, first)
    assert np.shares_memory(again.loan.parts["blocks.0.resid_post"][0],
                            one.loan.parts["blocks.0.resid_post"][0])
    writer.append(again)
    with pytest.raises(InvalidActivationBatch, match="in the order they were lent"):
        writer.append(again)  # once
    writer.append(second)
    writer.close()
    assert open_activations(tmp_path / "s")["blocks.0.resid_post"].shape[0] == 20


def test_unknown_pace_is_refused(tmp_path: Path) -> None:
    from interpstudio.core.errors import InvalidInput

    with pytest.raises(InvalidInput, match="overlap, inline"):
        open_writer(tmp_path / "s", pace="sometimes")
    assert not (tmp_path / "s" / "manifest.json").exists()


# ------------------------------------------------------------------------------ commit stages
def _hold_first_shard_writes(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the hook-point files of shard 0 wait until the returned event is set: a slow disk,
    which a test cannot cause for real. Its ``entered`` is set once a write of shard 0 waits
    there (shard 0 is being written)."""
    from interpstudio.ml import store

    gate = threading.Event()
    gate.entered = threading.Event()  # type: ignore[attr-defined]
    write = store.write_buffer_atomic

    def slow(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name.startswith("shard_00000"):
            gate.entered.set()  # type: ignore[attr-defined]
            assert gate.wait(30), "the test never opened the gate"
        return write(path, *args, **kwargs)

    monkeypatch.setattr(store, "write_buffer_atomic", slow)
    return gate


def _second_shard_computed(writer: ActivationWriter) -> bool:
    return any(s.submitted == 2 and s.computed.is_set() for s in writer._sets)


@pytest.mark.timeout(90)
def test_the_next_shards_statistics_do_not_wait_for_this_shards_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit's CPU work (statistics, hashes) and its file I/O are two stages, each in shard
    order: shard 1 is folded and hashed while shard 0's files are still being written, and the
    store is the same as one written without the wait."""
    reference = tmp_path / "reference"
    write_all(reference, durable=False, pace="overlap")
    gate = _hold_first_shard_writes(monkeypatch)
    writer = open_writer(tmp_path / "s", durable=False, pace="overlap", max_queued_batches=64)
    for batch in batches():
        writer.append(batch)
    try:
        wait_for(lambda: _second_shard_computed(writer), timeout=20)
        assert writer.manifest["shards"] == []  # shard 0 is still being written
    finally:
        gate.set()
    writer.close()
    assert data_files(tmp_path / "s") == data_files(reference)
    assert read_manifest(tmp_path / "s")["counts"] == read_manifest(reference)["counts"]


@pytest.mark.timeout(90)
def test_abort_keeps_the_shard_being_written_and_drops_one_not_yet_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = _hold_first_shard_writes(monkeypatch)
    writer = open_writer(tmp_path / "s", durable=False, pace="overlap", max_queued_batches=64)
    for batch in batches():
        writer.append(batch)
    wait_for(lambda: _second_shard_computed(writer), timeout=20)
    # shard 0 is being written (a starved committer may not have begun it yet: it would then be
    # dropped, rightly, and this test is about the one being written)
    assert gate.entered.wait(20)
    aborting = threading.Thread(target=writer.abort)
    aborting.start()
    wait_for(writer._stop.is_set, timeout=20)
    gate.set()
    aborting.join(30)
    manifest = read_manifest(tmp_path / "s")
    assert manifest["status"] == "partial"
    assert [s["name"] for s in manifest["shards"]] == ["shard_00000.npy"]
    assert manifest["counts"]["rows"] == SHARD_ROWS
    opened = open_activations(tmp_path / "s")
    assert len(opened.tokens) == SHARD_ROWS


@pytest.fixture
def read_back(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the store's statistics read (``store_stats.load_npy``), in order."""
    from interpstudio.ml import store_stats

    paths: list[Path] = []
    load = store_stats.load_npy

    def counting(path: Path) -> Any:
        paths.append(path)
        return load(path)

    monkeypatch.setattr(store_stats, "load_npy", counting)
    return paths


def test_the_summary_uses_the_norms_just_written_and_equals_one_read_from_the_files(
    tmp_path: Path, read_back: list[Path]
) -> None:
    """The writer keeps the norms it wrote for ``stats.json`` (no norm file is read back), and
    the summary is exactly the one computed from the norm files."""
    from interpstudio.ml import store_manifest, store_stats

    write_all(tmp_path / "s", durable=False)
    assert not [p for p in read_back if "norms" in p.parts]
    manifest = read_manifest(tmp_path / "s")
    config = StatsConfig(top_k=4)
    stats = store_manifest.restore_stats(tmp_path / "s", manifest, config)
    from_files = store_stats.store_statistics(tmp_path / "s", manifest, stats)
    assert len([p for p in read_back if "norms" in p.parts]) == len(HOOKS) * len(
        manifest["shards"])
    assert json.loads((tmp_path / "s" / "stats.json").read_text()) == json.loads(
        json.dumps(from_files))


def test_norms_beyond_the_held_limit_are_read_back_and_the_summary_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_back: list[Path]
) -> None:
    """Memory stays flat in a long run: past ``HELD_NORM_BYTES`` the norms are not kept, and the
    summary reads those shards' norm files instead."""
    from interpstudio.ml import store_writer

    reference = write_all(tmp_path / "reference", durable=False)
    monkeypatch.setattr(store_writer, "HELD_NORM_BYTES", SHARD_ROWS * len(HOOKS) * 8)  # a shard
    read_back.clear()  # the reference's own reads
    manifest = write_all(tmp_path / "s", durable=False)
    norm_reads = [p for p in read_back if "norms" in p.parts]
    assert len(norm_reads) == len(HOOKS) * (len(manifest["shards"]) - 1)
    assert "shard_00000.npy" not in {p.name for p in norm_reads}  # the first one was held
    assert (tmp_path / "s" / "stats.json").read_bytes() == (
        tmp_path / "reference" / "stats.json").read_bytes()
    assert reference["counts"] == manifest["counts"]


def test_the_last_shard_makes_the_summary_before_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """close() of a short run does not wait for the summary after the last shard's files: the
    folder makes it as it folds that shard (every shard's norms held), while the committer is
    still writing the shard before it. The document is the one made from the stored shards."""
    from interpstudio.ml import store_manifest, store_stats, store_writer

    calls: list[tuple[str, int, int]] = []
    made = store_writer.store_statistics

    def recording(directory: Path, manifest: dict[str, Any], *args: Any, **kw: Any) -> Any:
        on_disk = len(read_manifest(directory)["shards"])
        calls.append((threading.current_thread().name, len(manifest["shards"]), on_disk))
        return made(directory, manifest, *args, **kw)

    monkeypatch.setattr(store_writer, "store_statistics", recording)
    manifest = write_all(tmp_path / "s", durable=False, shard_rows=50)
    shards = len(manifest["shards"])
    assert manifest["counts"]["rows"] % 50  # the last shard is a short one
    [(thread, summarised, committed)] = calls
    assert thread.startswith("store-fold") and summarised == shards and committed < shards
    stats = store_manifest.restore_stats(tmp_path / "s", manifest, StatsConfig(top_k=4))
    from_files = store_stats.store_statistics(tmp_path / "s", manifest, stats)
    assert json.loads((tmp_path / "s" / "stats.json").read_text()) == json.loads(
        json.dumps(from_files))


def test_a_resumed_store_whose_norms_are_not_held_sums_up_from_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a resume the shards stored before are not in memory: the summary waits for the
    last commit and reads them back, equal to an uninterrupted run's."""
    from interpstudio.ml import store_writer

    write_all(tmp_path / "reference", durable=False, shard_rows=50)
    writer = open_writer(tmp_path / "s", durable=False, shard_rows=50)
    for batch in batches(stop=37):
        writer.append(batch)
    wait_for_shards(writer, 3)
    writer.abort()
    threads: list[str] = []
    made = store_writer.store_statistics

    def recording(*args: Any, **kw: Any) -> Any:
        threads.append(threading.current_thread().name)
        return made(*args, **kw)

    monkeypatch.setattr(store_writer, "store_statistics", recording)
    writer = open_writer(tmp_path / "s", durable=False, shard_rows=50, resume=True)
    for batch in row_batches(start=writer.resume_point.sequences_complete, rows_per_batch=7):
        writer.append(batch)
    writer.close()
    assert [t.split("_")[0] for t in threads] == ["store-commit"]
    assert (tmp_path / "s" / "stats.json").read_bytes() == (
        tmp_path / "reference" / "stats.json").read_bytes()


@pytest.mark.parametrize("pace", ["inline", "overlap"])
def test_inline_every_core_folds_and_the_preflight_counts_the_same_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pace: str
) -> None:
    """Inline, the forward waits for the fold: one thread per core (of 6 here, as many as the 2
    hook points' 4 tasks, not ``default_workers``' 3); the preflight's writer time is shared by
    the same number."""
    from interpstudio.ml import store_writer

    monkeypatch.setattr(store_writer.os, "cpu_count", lambda: 6)
    writer = open_writer(tmp_path / "s", durable=False, pace=pace)
    try:
        expected = 4 if pace == "inline" else 3
        assert store_writer.default_workers() == 3
        assert writer._pool._max_workers == expected
        assert store_writer.folding_threads(pace, len(HOOKS)) == expected
    finally:
        writer.abort()
