"""Preflight of an extraction: exact bytes, memory, free disk, projected time and its bound.

``preflight(model, tokenized, hook_points, out_dir=..., ...)`` checks the request exactly as
``extract`` would (hook points, tokens in vocabulary, non-empty selection), then:

- bytes: the shard files the store will hold, exactly (every ``.npy`` header included: shard
  boundaries are fixed by the row count), plus the small statistics files (estimated);
- memory: the model's resident bytes; the writer's shard buffers (as far as the run's rows fill
  them), its stagings in use at once (``stagings``; on the CPU, at the ``inline`` pace, rows
  are cast into the shard buffers the writer lends, ``ActivationWriter.lend``, and a staging is
  counted only where a planned batch has more rows than the rest of its shard and the next
  shard hold, ``staging_batches``: none for most plans; the calibration then lets its own go
  rather than leave it in ``buffer_cache`` beside the run, and leaves it there for a run that
  will take it back; the queued ones + 2, + the batches computed ahead, on an accelerator),
  held norms and its threads' own heaps; the forward pass's workspace (measured as the peak
  allocation of the calibration batch on CUDA, estimated from shapes on the CPU); and the
  runtime: this process's RSS after the calibration (on the CPU with the model paged in first,
  as the run's fingerprint reads every page of it; with the heap the calibration left it
  holding), less the cached buffers (``buffer_cache``) the run takes back. The figure is for a
  run from the start: a resumed run whose store ends inside a sequence matches that tail in a
  staging (the writer lends no rows until it has).
  The calibration batch is the plan's largest (padded sequences x length), so its peak is the
  run's; on CUDA the model and workspace are VRAM, the rest RAM. On the 2-core CPU VM the RAM
  figure was 0.99-1.09 of a run's peak RSS (SmolLM2-135M at 1 and 90 points, batch 1 and 8;
  random llamas; a first run and a second in the same process), up to 1.18 where the forward's
  workspace is most of it (0.83-1.63 before);
- free disk at ``out_dir`` against the bytes needed (``check_free_disk`` refuses);
- time: a calibration batch of the real plan on the real model and device (one warm-up pass, then
  timed passes including the gather and the copy to the CPU: the median of up to 5 that fit in 1 s,
  at least one; on the CPU a warm-up of 5 s or more is the timed pass) gives tokens/s; a short
  sequential write in ``out_dir``'s file system, done the way shards are (O_DIRECT where taken,
  fsynced), gives the disk rate; since compute and writing overlap, the projection is the larger of
  the two and that one is the ``bound``. On the CPU the writer's own CPU work (the statistics fold
  and sha256; the rows are cast straight into its buffers) runs while the forward waits (the
  writer's ``inline`` pace), so it is timed on the calibration batch's rows too and counted in
  ``compute_s`` (as ``calibration["writer_s"]``); on an accelerator it runs beside the forward on
  the CPU cores and is not counted. The statistics summary that ``close()`` writes after the last
  shard (``finish_s``, timed on the calibration rows) comes after either and is added to the total.

This module is NOT responsible for deciding to run (callers do) or for the run itself
(``extract_engine``).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import nn

from interpstudio.core.errors import AppError, InsufficientDisk, InvalidInput
from interpstudio.ml import direct_io
from interpstudio.ml.buffer_cache import buffer_cache
from interpstudio.ml.extract_engine import (
    ExtractionSession,
    checked_device,
    model_fingerprint,
)
from interpstudio.ml.extract_outcome import shard_file_bytes
from interpstudio.ml.extract_plan import ExtractionPlan
from interpstudio.ml.stats import StatsConfig, StreamingStats
from interpstudio.ml.store import STORAGE_DTYPES, dump_json, encode
from interpstudio.ml.store_batch import ActivationBatch, prepare_batch
from interpstudio.ml.store_stats import fold_shard
from interpstudio.ml.store_writer import DEFAULT_SHARD_BYTES, HELD_NORM_BYTES, folding_threads
from interpstudio.ml.token_store import TokenizedDataset

DISK_PROBE_BYTES = 32 << 20
# a tiny model's batch takes milliseconds, and one pass that a busy machine descheduled made
# the projection 20x too long (47.7 s shown for a 1.6 s run): the median of a few passes
CALIBRATION_PASSES = 5
CALIBRATION_BUDGET_S = 1.0
# on the CPU a warm-up pass at least this long is timed as the calibration itself
LONG_PASS_S = 5.0
# stats.json + stats/state_*.npz per hook point: measured 37 kB at d=64 and 106 kB at d=256
# (per-dimension figures of 3 row groups as JSON text plus their float64 accumulators)
_STATS_BYTES_PER_DIM = 360
_STATS_BYTES_PER_POINT = 16 << 10
# what a run's writer threads hold besides its buffers (the allocator heaps of its ~10 threads,
# the statistics copies each shard folds into, the summary): a run's peak RSS was 20-70 MB above
# the rest of the estimate (SmolLM2-135M at 1 and 90 points, a random 4-layer model of width 1024)
_WRITER_THREAD_BYTES = 64 << 20


class NotEnoughDisk(InsufficientDisk):
    """Refused before starting: the store would not fit on the disk."""

    code = "extraction_insufficient_disk"

    def __init__(self, *, path: Path, needed: int, free: int, dtype: str | None = None) -> None:
        halve = "" if dtype in ("float16", "bfloat16") else ", or store float16"
        AppError.__init__(
            self,
            f"the extraction needs {needed:,} bytes at {path} but only {free:,} are free; free "
            f"{needed - free:,} bytes or store fewer hook points / tokens{halve}",
            details={"path": str(path), "needed_bytes": needed, "free_bytes": free},
        )


@dataclass(frozen=True)
class PreflightReport:
    """Everything the UI shows before the user confirms; ``to_dict`` is JSON-ready."""

    hook_points: list[str]
    widths: dict[str, int]
    dtype: str
    plan: dict[str, Any]
    shard_rows: int
    shards: int
    bytes: dict[str, int]  # activations, tokens, norms, headers (exact); stats (estimate); total
    free_disk_bytes: int
    disk_ok: bool
    memory: dict[str, int | None]  # model, workspace, held_norms, writer, ram_/vram_needed
    calibration: dict[str, Any] | None  # tokens, seconds, tokens_per_s, batch_size, device
    disk_write_bytes_per_s: float | None
    projected: dict[str, Any]  # compute_s, disk_s, total_s, bound
    notes: list[str] = field(default_factory=list)  # what the user may not expect (``plan_notes``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_bytes(
    plan: ExtractionPlan, widths: dict[str, int], dtype: str, shard_rows: int
) -> dict[str, int]:
    """Exact bytes of every shard file the store will hold (+ an estimate of stats files)."""
    sizes = shard_file_bytes(plan.n_rows, widths, dtype, shard_rows)
    stats = sum(_STATS_BYTES_PER_DIM * d + _STATS_BYTES_PER_POINT for d in widths.values())
    return {**sizes, "stats_estimate": stats, "total": sizes["shard_files"] + stats}


def measure_disk_write_rate(
    directory: Path, nbytes: int = DISK_PROBE_BYTES, *, direct: bool = True
) -> float:
    """Sequential write rate (bytes/s) of ``directory``'s file system, ``dd``-style, fsynced: with
    ``direct`` the way the store writes shards (O_DIRECT, where the file system takes it, else
    buffered), without it through the page cache."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / f".disk-probe-{os.getpid()}"
    block = np.random.default_rng(0).integers(0, 255, 4 << 20, dtype=np.uint8)
    blocks = -(-nbytes // block.size)
    try:
        if direct:
            started = time.perf_counter()
            record = direct_io.write_direct(probe, (block for _ in range(blocks)), durable=True)
            if record is not None:
                return int(record["bytes"]) / max(time.perf_counter() - started, 1e-9)
        started = time.perf_counter()
        with open(probe, "wb") as f:
            for _ in range(blocks):
                f.write(block.data)
            f.flush()
            os.fsync(f.fileno())
        elapsed = time.perf_counter() - started
    finally:
        probe.unlink(missing_ok=True)
    return blocks * block.size / max(elapsed, 1e-9)


def staging_batches(plan: ExtractionPlan, shard_rows: int) -> np.ndarray:
    """Indexes of the planned batches whose rows a run on the CPU (the ``inline`` pace, from the
    start) casts into a staging rather than into shard rows the writer lends: those with more
    rows than the rest of the shard being filled plus the next shard (``ActivationWriter.lend``
    lends at most up to the end of the next shard; the shard being filled holds the rows before
    the batch modulo ``shard_rows``). A batch of at most ``shard_rows + 1`` rows is always lent.
    An out-of-memory split only makes chunks smaller, so it adds none."""
    if not plan.n_sequences:
        return np.empty(0, np.int64)
    starts = np.arange(0, plan.n_sequences, plan.batch_size)
    rows = np.add.reduceat(plan.rows_per_sequence.astype(np.int64), starts)  # (n_batches,)
    fill = (np.cumsum(rows) - rows) % shard_rows  # rows in the shard being filled, before each
    return np.flatnonzero((rows > 0) & (fill + rows > 2 * shard_rows))


def plan_notes(plan: ExtractionPlan) -> list[str]:
    """What a researcher may not expect of the plan: "BOS excluded" over sequences none of which
    starts with the BOS token (a tokenizer that adds none, e.g. SmolLM2-Instruct) keeps every
    first position, the attention sink they meant to leave out."""
    policy = plan.policy
    if policy.mode == "exclude_bos" and plan.n_tokens and plan.n_rows == plan.n_tokens:
        return [f"no sequence starts with the BOS token (id {policy.bos_token_id}; this "
                "tokenization adds none), so 'BOS excluded' keeps every position, the first one "
                "included"]
    return []


def check_free_disk(report: PreflightReport, path: str | os.PathLike[str]) -> None:
    """Raise ``NotEnoughDisk`` (needed vs free) unless the store fits."""
    if not report.disk_ok:
        raise NotEnoughDisk(path=Path(path), needed=report.bytes["total"],
                            free=report.free_disk_bytes, dtype=report.dtype)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def preflight(
    model: nn.Module | Any,
    tokenized: TokenizedDataset | str | os.PathLike[str],
    hook_points: str | Iterable[str],
    *,
    out_dir: str | os.PathLike[str],
    batch_size: int = 8,
    positions: str = "all",
    every_k: int = 1,
    dtype: str = "float16",
    max_samples: int | None = None,
    max_tokens: int | None = None,
    device: str | torch.device | None = None,
    calibrate: bool = True,
    measure_disk: bool = True,
    shard_rows: int | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    max_queued_batches: int = 2,
) -> PreflightReport:
    """Check and estimate an extraction without writing it; see the module docstring."""
    session = ExtractionSession.prepare(
        model, tokenized, hook_points, batch_size=batch_size, positions=positions,
        every_k=every_k, dtype=dtype, max_samples=max_samples, max_tokens=max_tokens,
        device=device,
    )
    widths = session.widths
    itemsize = STORAGE_DTYPES[dtype].itemsize
    row_bytes = sum(widths.values()) * itemsize
    rows_per_shard = shard_rows if shard_rows is not None else max(1, shard_bytes // row_bytes)
    plan = session.plan
    sizes = store_bytes(plan, widths, dtype, rows_per_shard)
    target = Path(out_dir)
    free = shutil.disk_usage(_existing_parent(target)).free
    if session.device.type == "cpu":
        # the run reads every page of the model (its fingerprint, ``store_spec``), also the
        # layers after an early stop and an embedding the forward reads a few rows of: a model
        # mapped from its safetensors file (most are) is then all in RAM, and so it is here
        model_fingerprint(session.model)
    # on the CPU, the batches whose rows go through a staging (none: the run allocates none)
    fallback = staging_batches(plan, rows_per_shard) if session.device.type == "cpu" else None
    # the calibration leaves its staging in ``buffer_cache`` only for a run that takes it back
    keep_staging = fallback is None or len(fallback) > 0
    calibration = _calibrate(session, keep_staging=keep_staging) if calibrate else None
    # this process as the run will find it: the heap the calibration left it holding (the
    # allocator keeps it: the run's forward and its writer's statistics grow it as far) and
    # what ``buffer_cache`` holds now
    now = _Resident.now()
    memory = _memory(session, widths, rows_per_shard, row_bytes, max_queued_batches,
                     calibration=calibration, now=now, fallback=fallback)
    rate = measure_disk_write_rate(_existing_parent(target)) if measure_disk else None
    compute_s = (plan.n_tokens * (calibration["seconds"] + calibration["writer_s"])
                 / calibration["tokens"]) if calibration else None
    disk_s = sizes["total"] / rate if rate else None
    finish_s = calibration["finish_s"] if calibration else None
    known = {k: v for k, v in (("compute", compute_s), ("disk", disk_s)) if v is not None}
    bound = max(known, key=lambda k: known[k]) if known else None
    total_s = max(known.values()) + (finish_s or 0.0) if known else None
    return PreflightReport(
        hook_points=session.hook_names, widths=widths, dtype=dtype, plan=plan.to_dict(),
        shard_rows=rows_per_shard, shards=-(-plan.n_rows // rows_per_shard), bytes=sizes,
        free_disk_bytes=int(free), disk_ok=sizes["total"] <= free, memory=memory,
        calibration=calibration, disk_write_bytes_per_s=rate,
        projected={"compute_s": compute_s, "disk_s": disk_s, "finish_s": finish_s,
                   "total_s": total_s, "bound": bound},
        notes=plan_notes(plan) + _staging_notes(fallback, plan, rows_per_shard, memory),
    )


def _staging_notes(fallback: np.ndarray | None, plan: ExtractionPlan, rows_per_shard: int,
                   memory: dict[str, int | None]) -> list[str]:
    """Why a run on the CPU holds a staging (it does only where a batch cannot be lent)."""
    if fallback is None or not len(fallback):
        return []
    return [f"{len(fallback)} of {plan.n_batches} batches keep more rows (up to "
            f"{plan.max_batch_rows:,}) than the writer can lend from the rest of a shard and "
            f"the next one ({rows_per_shard:,} rows a shard): their rows go through a staging "
            f"of {memory['stagings']:,} bytes, counted in the RAM needed; a smaller batch size "
            "or larger shards avoid it"]


def _calibrate(session: ExtractionSession, *, keep_staging: bool = True) -> dict[str, Any]:
    """Time the largest planned batch (after one warm-up pass; the median of up to
    ``CALIBRATION_PASSES`` passes, as many as fit in ``CALIBRATION_BUDGET_S``, at least one; on
    the CPU a warm-up of ``LONG_PASS_S`` or more is the one timed pass) on the real model and
    device: its
    memory peak is the run's (the first batch may be far shorter, and attention grows with the
    square of the length), and its rate errs on the slow side. Its staging goes to
    ``buffer_cache`` for the run with ``keep_staging``, else it is let go (a run on the CPU
    whose every batch is lent would find it held beside its own memory for ``idle_s``)."""
    batch = session.plan.largest_batch
    cuda = session.device.type == "cuda"
    # warm-up (kernels, allocator, caches); released, so the timed batch reuses its staging
    started = time.perf_counter()
    warm = session.compute(batch, skip_before=0)
    warm_s = time.perf_counter() - started
    if cuda:
        torch.cuda.synchronize(session.device)
        torch.cuda.reset_peak_memory_stats(session.device)
    pass_seconds: list[float] = []
    rows: list[ActivationBatch] = []
    if not cuda and warm_s >= LONG_PASS_S:
        # on the CPU a pass this long is its own warm-up (what it warms is a small part of it):
        # a second pass doubled the wait before the user could start (2 x 15 s for the demo's
        # SmolLM2 batch of 2,048 tokens on 2 cores), for a projection a few percent apart
        rows, pass_seconds = warm, [warm_s]
    else:
        _release(warm)
        while True:  # timed passes: a hiccup of a busy machine does not set the rate
            _release(rows)
            started = time.perf_counter()
            rows = session.compute(batch, skip_before=0)
            if cuda:
                torch.cuda.synchronize(session.device)
            pass_seconds.append(time.perf_counter() - started)
            if (len(pass_seconds) >= CALIBRATION_PASSES
                    or sum(pass_seconds) >= CALIBRATION_BUDGET_S):
                break
    seconds = float(np.median(pass_seconds))
    try:
        for batch_rows in rows:  # an accelerator's copies to the host are done
            if batch_rows.ready is not None:
                batch_rows.ready()
        writer_s = _writer_seconds(rows, session) if session.device.type == "cpu" else 0.0
        finish_s = _finish_seconds(rows, session)
    finally:
        _release(rows)
        # the capture keeps its last pass's tensors (on the CPU, views of the staging): let them
        # go, so that a staging let go below is unmapped now, not with the session
        session.hooks.activations = {}
        session.recycle_memory(keep=keep_staging)  # for the run that takes the staging back
    return {
        "tokens": batch.tokens, "seconds": seconds, "pass_seconds": pass_seconds,
        "writer_s": writer_s, "finish_s": finish_s,
        "tokens_per_s": batch.tokens / max(seconds, 1e-9), "batch_size": len(batch.lengths),
        "device": str(session.device),
        "peak_allocated_bytes": int(torch.cuda.max_memory_allocated(session.device))
        if cuda else None,
    }


def _release(rows: list[ActivationBatch]) -> None:
    for batch_rows in rows:
        if batch_rows.release is not None:
            batch_rows.release()


def _writer_seconds(rows: list[ActivationBatch], session: ExtractionSession) -> float:
    """Wall seconds the store's writer spends on the CPU for ``rows``: each hook point's
    statistics fold and sha256, timed one after another, then shared by the cores the writer's
    pool uses (a run on the CPU casts its rows straight into the shard buffers: no copy)."""
    widths = session.widths
    fold_shard(StreamingStats(1, StatsConfig()), np.zeros((1, 1), np.float32), np.zeros(
        (1, 3), np.int64), "float32")  # loads the compiled statistics (once per process)
    started = time.perf_counter()
    for batch in rows:
        prepared = prepare_batch(batch, widths, session.dtype)
        for name, x in prepared.activations.items():
            raw = x  # the staging holds the rows in the storage dtype, as a shard does
            fold_shard(StreamingStats(widths[name], StatsConfig()), raw, prepared.tokens,
                       session.dtype)
            hashlib.sha256(raw).digest()
    serial = time.perf_counter() - started
    pace = "inline" if session.device.type == "cpu" else "overlap"  # the run's default
    return serial / min(os.cpu_count() or 1, folding_threads(pace, len(widths)))


def _stored(x: np.ndarray, dtype: str) -> np.ndarray:
    """Rows ``x`` as the writer's shard buffer holds them (the storage dtype's encoding)."""
    stored = np.empty(x.shape, STORAGE_DTYPES[dtype])
    np.copyto(stored, encode(x, dtype), casting="same_kind")
    return stored


def _finish_seconds(rows: list[ActivationBatch], session: ExtractionSession) -> float:
    """Seconds ``close()`` spends on the statistics summary once the last shard is written (each
    hook point's statistics finalized, ``stats.json`` encoded), on any device: timed on the
    calibration rows of one hook point per width, counted for every hook point of that width.
    About 0.5 s for 90 points of width 576 on a 2-core CPU: a few percent of a short run."""
    prepared = [prepare_batch(batch, session.widths, session.dtype) for batch in rows]
    tokens = np.concatenate([p.tokens for p in prepared])  # (n, 3)
    by_width: dict[int, list[str]] = {}
    for name, d in session.widths.items():
        by_width.setdefault(d, []).append(name)
    total = 0.0
    for d, names in by_width.items():
        raw = np.concatenate([p.activations[names[0]] for p in prepared])  # (n, d)
        stats = StreamingStats(d, StatsConfig())
        norms = fold_shard(stats, _stored(raw, session.dtype), tokens, session.dtype)
        chunks = [(norms, stats.config.bos_mask(tokens[:, 0], tokens[:, 2], len(tokens)))]
        started = time.perf_counter()
        dump_json(stats.finalize(chunks.__iter__), indent=True)
        total += (time.perf_counter() - started) * len(names)
    return total


@dataclass(frozen=True)
class _Resident:
    """This process's resident bytes now, and the mappings ``buffer_cache`` holds: (size, bytes
    of it in RAM)."""

    rss: int
    cached: list[tuple[int, int]]

    @classmethod
    def now(cls) -> _Resident:
        return cls(psutil.Process().memory_info().rss, buffer_cache.resident())

    def taken_back(self, sizes: list[int]) -> int:
        """Resident bytes of the cached mappings a run taking mappings of ``sizes`` reuses (a
        mapping of exactly that size, each at most once); the others stay held beside it."""
        left = list(self.cached)
        taken = 0
        for size in sizes:
            match = next((i for i, (held, _) in enumerate(left) if held == size), None)
            if match is not None:
                taken += left.pop(match)[1]
        return taken


def _memory(
    session: ExtractionSession,
    widths: dict[str, int],
    rows_per_shard: int,
    row_bytes: int,
    max_queued_batches: int,
    *,
    calibration: dict[str, Any] | None,
    now: _Resident,
    fallback: np.ndarray | None,
) -> dict[str, int | None]:
    model_bytes = sum(t.numel() * t.element_size() for t in session.model.parameters())
    model_bytes += sum(t.numel() * t.element_size() for t in session.model.buffers())
    # the largest batch the data makes, not the size asked for: batch_size 4096 over 247
    # sequences projected 28 GB for a run that peaked at 3.6 GB
    largest = session.plan.largest_batch
    batch_seqs, width = len(largest.lengths), int(largest.lengths.max())
    batch_tokens = batch_seqs * width
    compute_item = next(session.model.parameters()).element_size()
    cuda = session.device.type == "cuda"
    # the writer's pace follows the device (``ExtractionSession.run``): ``inline`` on the CPU
    inline = session.device.type == "cpu"
    # an accelerator holds one batch's points until the pass ends; on the CPU each point is cast
    # into the staging inside its hook, so only the widest one is ever held at a time
    captured = batch_tokens * compute_item * (
        max(widths.values()) if inline else sum(widths.values()))
    arch = session.architecture
    heads = getattr(getattr(session.model, "config", None), "num_attention_heads", 1) or 1
    workspace = batch_tokens * (arch.d_model * 8 + (arch.d_mlp or 4 * arch.d_model) * 3)
    workspace = workspace * compute_item + batch_seqs * heads * width**2 * compute_item
    if calibration and calibration.get("peak_allocated_bytes"):  # measured on the largest batch
        workspace = max(0, calibration["peak_allocated_bytes"] - model_bytes)
    # the stagings the kept rows are cast into, in use at once: ``inline`` (the CPU), none
    # where every batch is lent shard rows, else one (``staging_batches``: the batches past
    # what ``lend`` offers; ``append`` returns once such a batch is in the shard buffers, and
    # its staging is released for the next); else the queued ones, the one being filled and the
    # one being copied (+ the batches computed ahead, see ExtractionSession.batches_ahead)
    if inline:
        in_use = int(fallback is None or len(fallback) > 0)
    else:
        in_use = max_queued_batches + 2 + session.batches_ahead
    staging_size = session.plan.max_batch_rows * row_bytes
    stagings = in_use * staging_size
    # two sets of shard buffers (one fills while the other is committed), each touched as far as
    # its shards' rows go: a short run never fills a shard, nor uses the second set
    storage = STORAGE_DTYPES[session.dtype]
    n_rows = session.plan.n_rows
    shard_sets = sum(
        sum(direct_io.NpyBuffer.region_bytes((rows, d), storage) for d in widths.values())
        + rows * 24  # + the token rows
        for rows in (min(rows_per_shard, n_rows),
                     min(rows_per_shard, max(0, n_rows - rows_per_shard))) if rows)
    # the row norms it wrote, held for the summary (float64, one per row and point), bounded
    held_norms = min(HELD_NORM_BYTES, n_rows * len(widths) * 8)
    writer = shard_sets + stagings + held_norms + _WRITER_THREAD_BYTES
    on_device = model_bytes + workspace + captured
    # Python, torch and the libraries themselves (~0.5 GB on the CPU), as this process holds
    # them after the calibration (the model all in RAM; the heap a batch leaves them holding:
    # SmolLM2-135M, 8 x 128 tokens, 90 points ~80 MB), less what ``buffer_cache`` holds that the
    # run takes back (in ``writer``: a previous run's shard sets, and the calibration's staging
    # where the run uses one); what it holds of other shapes stays beside the run and counts here
    # a set holds a shard's rows, or all the run's where there are fewer (``total_rows``)
    set_rows = max(1, min(rows_per_shard, n_rows))
    set_size = sum(direct_io.NpyBuffer.region_bytes((set_rows, d), storage)
                   for d in widths.values())
    takes = [set_size, set_size] + ([] if cuda else [max(mmap.PAGESIZE, staging_size)] * in_use)
    runtime = max(0, now.rss - now.taken_back(takes) - (0 if cuda else model_bytes))
    return {
        "model": model_bytes, "workspace": workspace, "captured_batch": captured,
        "held_norms": held_norms, "stagings": stagings,
        "staging_batches": None if fallback is None else len(fallback),
        "writer": writer, "runtime": runtime,
        "ram_needed": runtime + writer + (captured if cuda else on_device),
        "vram_needed": on_device if cuda else None,
    }


def device_in_process(device: str) -> bool:
    """Whether this process can put a model on ``device`` (``cuda:1`` needs two GPUs here), by
    the engine's own check (``extract_engine.checked_device``)."""
    try:
        checked_device(device)
    except InvalidInput:
        return False
    return True


def auto_device(device: str | None) -> str:
    """``auto`` (or None): the first CUDA device when there is one, else the CPU."""
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def load_for_extraction(
    model_dir: str | os.PathLike[str], *, precision: str, device: str | None,
    memory_budget_bytes: int | None = None,
    quantized_cache: str | os.PathLike[str] | None = None,
) -> Any:
    """``loading.load_model`` at ``precision`` (with its fallback toward less memory), reading
    and keeping packed layers in ``quantized_cache`` when given."""
    from interpstudio.ml.loading import load_model

    return load_model(model_dir, precision=precision, device=auto_device(device),
                      memory_budget_bytes=memory_budget_bytes, quantized_cache=quantized_cache)


def preflight_on_disk(
    *, model_dir: str | os.PathLike[str], tokenization_dir: str | os.PathLike[str],
    hook_points: Iterable[str], out_dir: str | os.PathLike[str], precision: str,
    device: str | None, memory_budget_bytes: int | None = None, calibrate: bool = True,
    quantized_cache: str | os.PathLike[str] | None = None, **options: Any,
) -> dict[str, Any]:
    """Load the model from disk, preflight, and return the JSON-ready report with the load
    facts (precision actually used, resident bytes) under ``"model"``."""
    loaded = load_for_extraction(model_dir, precision=precision, device=device,
                                 memory_budget_bytes=memory_budget_bytes,
                                 quantized_cache=quantized_cache)
    try:
        report = preflight(loaded.model, tokenization_dir, list(hook_points), out_dir=out_dir,
                           calibrate=calibrate, **options).to_dict()
    finally:
        facts = model_facts(loaded)
        del loaded
    report["model"] = facts
    return report


def model_facts(loaded: Any) -> dict[str, Any]:
    """What a report says of the loaded model: the precision asked for and used (with why it
    fell back), its resident bytes and its device."""
    summary = loaded.summary()
    return {key: summary[key] for key in (
        "precision_requested", "precision_used", "fallback_reason", "resident_bytes", "device")}
