"""Background writer of an activation store: the extraction engine appends, a thread writes.

``ActivationWriter.open(path, spec, hooks=..., dtype=...)`` creates (or, with ``resume=True``,
continues) a store laid out as described in ``interpstudio.ml.store``. The engine calls
``append(batch)`` per batch; the call validates, then hands the batch to a bounded queue (so memory
stays flat, and the engine only waits when the disk really is slower than the GPU). The thread
copies rows into one of two preallocated sets of shard buffers; each time a set is full, the
shard is committed in two stages while the other set fills. A folder thread folds it into the
float64 statistics and hashes every hook point's file (CPU work, all hook points in parallel);
then a committer thread writes those files (O_DIRECT, from the buffer), the token shard and the
norm side files (temp name + rename), makes them durable together (one ``syncfs`` on Linux, else
an fsync per file and folder) and commits the shard by appending one line to the shard
journal (``manifest.json`` is rewritten only when the status changes, so a commit does not grow
with the shards before it). Memory does not grow with the shards either: the manifest the writer
holds lists them as the journal's lines (``JournalShards``, 8 bytes a shard), whose entries (a
record per file: ~90 KB a shard at 90 hook points) are read back when someone reads them, and
``manifest.json`` is written from the journal an entry at a time. Each stage takes shards in
order, so the next shard's CPU work never waits for this one's I/O; no shard commits after one
has failed. The folder keeps each shard's row norms in memory (up to ``HELD_NORM_BYTES``) for the
summary; when it holds them all, it makes the summary once the last shard is handed to the
committer, while that shard and the one before it are written.
``close()`` writes the last, short shard, ``stats.json`` and ``status: complete``; ``abort()``
stops fast and leaves a valid partial store. An error in the thread is raised to the caller on
the next ``append`` / ``close``; a full disk becomes ``StoreDiskFull`` and the store keeps only
whole shards.

Deterministic shards, exact resume: every shard holds exactly ``shard_rows`` rows of the row stream
(the last one fewer), so shard boundaries depend only on the data, not on batch sizes or when the
run was interrupted. Resuming reports a ``ResumePoint``: the engine restarts at the first sequence
not known to be fully stored (``sequences_complete`` sequences in stream order are done;
``next_sequence`` is the index of the one to restart at) and simply feeds it again from its first
row; the writer drops the ``rows_to_skip`` rows of it that are already stored, after checking that
they match. The resumed store is byte-identical, shard for shard, to an uninterrupted one.

Contract on batches: rows of one sequence are contiguous in the stream with increasing positions;
the writer takes ownership of the arrays handed to ``append`` (do not write into them afterwards)
until it calls the batch's ``release`` (if it has one), which it does as soon as it has copied
the rows into its shard buffers (or dropped them): the engine reuses that memory.

Lent rows (``lend``, the ``inline`` pace only): instead of appending arrays of its own, the engine
may ask for the shard buffers' next rows (the tail of this shard and the head of the next, once
the commit writing from that set is done) and cast a batch's rows straight into them, then
append the batch with ``loan=`` and no activations: the writer copies nothing (py-spy on the
2-core VM put that copy at ~0.6 s of CPU, on two threads, in a ~13 s run of 90 points of
SmolLM2-135M over 8,192 tokens, all of it waited for by the forward).

Pace (``pace=``): with ``"overlap"`` (a model computing on an accelerator) ``append`` returns as
soon as the batch is queued, and the writer's threads run beside the forward pass at the lowest
priority. With ``"inline"`` (a model computing on the same CPU cores) ``append`` returns once the
batch's rows are in the shard buffers and any shard commit they started has done its CPU work
(statistics and hashing); only the commit's file I/O, which needs the disk rather than the cores,
overlaps the next batch. Why: a torch forward on the CPU is a series of parallel regions that each
wait for their slowest thread, so a writer thread holding a core stalls the whole forward for
longer than its own work takes, even at nice 19. On the 2-core VM (SmolLM2-135M, 90 points, A/B
in one process, medians of 5) inline measured 0.839 of the plain forward against 0.756 for overlap
(see ``docs/ARCHITECTURE.md``).

This module is NOT responsible for running the model, tokenizing, reading stores
(``store_reader``) or defining the statistics (``stats``).
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import queue
import shutil
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from interpstudio.core.errors import AppError, InvalidInput, JobCancelled
from interpstudio.ml import store as layout
from interpstudio.ml import store_manifest as manifests
from interpstudio.ml.buffer_cache import buffer_cache
from interpstudio.ml.direct_io import NpyBuffer
from interpstudio.ml.stats import StatsConfig, StreamingStats
from interpstudio.ml.store import (
    InvalidActivationBatch,
    NotAStoreFolder,
    StoreClosed,
    StoreConfigMismatch,
    StoreDiskFull,
    StoreWriteFailed,
)
from interpstudio.ml.store_batch import ActivationBatch, PreparedBatch, check_order, prepare_batch
from interpstudio.ml.store_manifest import ResumePoint
from interpstudio.ml.store_stats import HeldShard, fold_shard, store_statistics

DEFAULT_SHARD_BYTES = 256 << 20  # activation bytes (all hook points) per shard
# row norms kept in memory for the summary (8 bytes a row a point): enough for a short run, where
# reading them back is a noticeable part of close(); small, so that memory stays flat in a long one
HELD_NORM_BYTES = 16 << 20
PACES = ("overlap", "inline")
_TOKEN_ROW_BYTES = 8 * len(layout.TOKEN_COLUMNS)
_ENOSPC = {28, 122}  # ENOSPC, EDQUOT


class ActivationWriter:
    """Writes one activation store; see the module docstring. Use ``ActivationWriter.open``."""

    def __init__(
        self,
        directory: Path,
        manifest: dict[str, Any],
        stats: dict[str, StreamingStats],
        tail: np.ndarray,
        lock_fd: int,
        *,
        durable: bool,
        max_queued_batches: int,
        workers: int | None,
        pace: str,
        total_rows: int | None = None,
    ) -> None:
        self.path = directory
        self.inline = pace == "inline"
        self.manifest = manifest
        self.stats = stats
        self.durable = durable
        lay = manifest["layout"]
        self.hooks: dict[str, int] = {h["name"]: h["d"] for h in lay["hooks"]}
        self.dtype: str = lay["dtype"]
        self.shard_rows: int = lay["shard_rows"]
        self.error: BaseException | None = None
        self._lock_fd = lock_fd
        # the stats.json document this writer wrote last (None: none yet); the caller's copy,
        # so that it need not read tens of MB back
        self.summary: dict[str, Any] | None = None
        self._tail = tail  # (k, 3) stored rows of the tail sequence, matched on resume
        self._skip = len(tail)
        self._last_token: np.ndarray | None = tail[-1] if len(tail) else None
        self._state = "open"
        self._stop = threading.Event()
        self._fill = 0
        # loans of the shard buffers' next rows, in order, not yet appended (``lend``)
        self._lent: collections.deque[ShardLoan] = collections.deque()
        # two buffer sets: rows are gathered into one while the other's shard is committed
        # rows still to come on this open (None: not said); the buffers hold no more than them
        self._rows_left = (None if total_rows is None
                           else max(0, total_rows - int(manifest["counts"]["rows"])))
        self._capacity = (self.shard_rows if self._rows_left is None
                          else max(1, min(self.shard_rows, self._rows_left)))
        self._sets = [_ShardSet(self.hooks, self._capacity, layout.STORAGE_DTYPES[self.dtype])
                      for _ in range(2)]
        self._current = self._sets[0]
        self._submitted = 0
        # (shard number, error) of the first failed shard: no later shard commits
        self._commit_error: tuple[int, BaseException] | None = None
        self._commit_lock = threading.Lock()
        # a commit runs in two stages, each one shard at a time in shard order, beside the
        # gathering of the next shard: its CPU work (statistics, hashes) on the folder, then its
        # files and journal line on the committer, so that the next shard's CPU work does not
        # wait for this one's I/O
        self._folder = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="store-fold", initializer=background_priority)
        self._committer = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="store-commit", initializer=background_priority)
        self._folded = stats  # statistics after the last shard folded (folder thread only)
        # shards' norms, for the summary: kept by the folder as it computes them (in order), so
        # that the last shard's fold can make the summary while earlier shards are still written
        self._held: dict[str, HeldShard] = {}
        self._held_bytes = 0
        self._first_index = len(manifest["shards"])  # the shard a commit numbered 1 becomes
        self._rows_folded = int(manifest["counts"]["rows"])  # stored + folded since opening
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max_queued_batches)
        # hook points are folded into the statistics and hashed in parallel (the compiled
        # statistics and sha256 release the GIL), and written in parallel on a pool of their
        # own, so that one shard's writes never queue ahead of the next shard's CPU work. Inline,
        # the forward waits for the folding: one thread per core (a third thread on 2 cores
        # made a 90-point shard's fold and hashes 0.17-0.22 s instead of 0.16-0.17)
        threads = min(2 * len(self.hooks), workers or default_workers())
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=folding_threads(pace, len(self.hooks), workers),
            thread_name_prefix="store-hook", initializer=background_priority)
        self._io_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="store-io", initializer=background_priority)
        # inline, the copy of a batch into the shard buffers is shared with these threads (the
        # pool above may be busy folding the previous shard, in overlap mode)
        gatherers = (os.cpu_count() or 1) - 1 if self.inline else 0
        self._shares = [names for i in range(gatherers + 1)
                        if (names := list(self.hooks)[i :: gatherers + 1])]
        self._gather = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, gatherers), thread_name_prefix="store-gather")
        self._thread = threading.Thread(
            target=self._run, name=f"store-writer:{directory.name}", daemon=True
        )
        self._thread.start()

    # ------------------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        spec: dict[str, Any],
        *,
        hooks: Mapping[str, int],
        dtype: str = "float16",
        shard_rows: int | None = None,
        shard_bytes: int = DEFAULT_SHARD_BYTES,
        resume: bool = False,
        stats_config: StatsConfig | None = None,
        max_queued_batches: int = 8,
        durable: bool = True,
        workers: int | None = None,
        pace: str = "overlap",
        total_rows: int | None = None,
    ) -> ActivationWriter:
        """Create the store at ``path``, or continue it with ``resume=True``.

        hooks: hook name -> d. ``shard_rows`` (else ``shard_bytes`` of activations across all
        hook points) fixes the rows per shard. ``total_rows``, when known (the engine's plan),
        is the rows the complete store holds: the shard buffers are then no larger than the rows
        still to come (``shard_rows=10**8`` on a 30,000-row plan reserved two sets of 10**8 rows
        and failed with ENOMEM), and a batch past them is refused. ``durable`` fsyncs files
        before renaming them.
        ``workers``: threads folding and hashing hook points in parallel, and as many writing
        them (default: half the CPUs, at least 3, at most 8). ``pace``: ``"overlap"`` or
        ``"inline"`` (see the module docstring).
        """
        if pace not in PACES:
            raise InvalidInput(f"pace must be one of {', '.join(PACES)}, got {pace!r}",
                               details={"pace": pace, "valid": list(PACES)})
        directory = Path(path)
        config = stats_config or StatsConfig()
        wanted_layout = manifests.make_layout(hooks, dtype, shard_rows, shard_bytes, config)
        digest = layout.config_hash(spec)
        layout.store_folder(directory)
        if not (directory / layout.MANIFEST_NAME).exists():
            other = sorted(e.name for e in directory.iterdir()
                           if e.name != layout.LOCK_NAME and not layout.is_temp_name(e.name))
            if other:  # a store written among someone's files could not be told apart
                raise NotAStoreFolder(directory, other)
        lock_fd = manifests.lock_store(directory)
        try:
            manifest = manifests.existing_manifest(directory, resume)
            if manifest is None:
                manifest = manifests.new_manifest(spec, digest, wanted_layout)
                stats = {h["name"]: StreamingStats(h["d"], config) for h in wanted_layout["hooks"]}
                tail = np.empty((0, 3), np.int64)
            else:
                manifests.check_same(directory, manifest, digest, wanted_layout, spec)
                stats = manifests.restore_stats(directory, manifest, config)
                tail = manifests.tail_tokens(directory, manifest)
                manifest["resumes"].append({"at": manifests.now(), "versions": layout.versions()})
            manifests.remove_debris(directory, manifest, durable=durable)
            manifest = manifests.in_journal(directory, manifest)
            if manifest["status"] != "complete":
                manifest["status"] = "running"
                manifest["error"] = None
                manifest["stats"] = None
            layout.write_manifest(directory, manifest, durable=durable)
        except BaseException:
            os.close(lock_fd)
            raise
        return cls(
            directory,
            manifest,
            stats,
            tail,
            lock_fd,
            durable=durable,
            max_queued_batches=max_queued_batches,
            workers=workers,
            pace=pace,
            total_rows=total_rows,
        )

    @property
    def resume_point(self) -> ResumePoint:
        """Where the engine restarts; see ``ResumePoint``."""
        return manifests.resume_point(self.manifest)

    # ---------------------------------------------------------------------------- engine API
    def append(self, batch: ActivationBatch) -> None:
        """Validate ``batch`` and queue it for the writer thread (blocks only if the queue is
        full). Raises the writer thread's error, if it had one."""
        self._raise_if_failed()
        if self._state != "open" or self.manifest["status"] == "complete":
            raise StoreClosed(self.path, "complete" if self._state == "open" else self._state)
        if batch.ready is not None:
            batch.ready()
        prepared = prepare_batch(batch, self.hooks, self.dtype)
        if (self._lent[0] is not batch.loan) if self._lent else prepared.lent:
            raise InvalidActivationBatch(  # lent rows would be overwritten, or land elsewhere
                "rows lent by this writer are appended in the order they were lent, once "
                "each, before any other batch",
                details={"lent": len(self._lent), "this_lent": prepared.lent})
        stored = self._already_stored(prepared.tokens) if self._skip else 0
        rest = PreparedBatch(
            {h: x[stored:] for h, x in prepared.activations.items()}, prepared.tokens[stored:],
            prepared.release, prepared.lent,
        )
        check_order(rest.tokens, self._last_token)
        if self._rows_left is not None:
            if rest.rows > self._rows_left:  # the buffers were sized to the rows said to come
                raise InvalidActivationBatch(
                    f"this batch's {rest.rows:,} rows go past the {self._rows_left:,} rows left "
                    "of the total_rows the store was opened for",
                    details={"rows": rest.rows, "rows_left": self._rows_left})
            self._rows_left -= rest.rows
        self._skip -= stored
        if rest.rows:
            self._last_token = rest.tokens[-1]
            absorbed = threading.Event() if self.inline else None
            self._put(("batch", (rest, absorbed)))
            if absorbed is not None:
                self._until(lambda: absorbed.wait(0.25))
                if rest.lent:  # its rows are counted in the fill: the next loan starts after
                    self._lent.popleft().settled = True
                self._raise_if_failed()
        elif rest.release is not None:
            rest.release()

    def lend(self, rows: int) -> ShardLoan | None:
        """The shard buffers' next ``rows`` rows (after any lent before and not yet appended),
        for the engine to cast a batch's rows into directly: no staging, no copy by the writer.
        None where that is not offered: the ``overlap`` pace (``append`` returns before the
        rows are absorbed), rows of a resumed tail still to be matched, more rows than the
        current and the next shard hold, or a failed commit. The next shard's buffers are lent
        once the commit that was writing from them is done (waiting for it here, as ``append``
        would when it reached them). Append the batch with ``ActivationBatch(loan=...)``, or
        ``cancel()`` the loan (it and every loan after it)."""
        if (not self.inline or self._skip or self.error is not None or self._state != "open"
                or rows <= 0):
            return None
        start = self._fill + sum(loan.rows for loan in self._lent)
        end = start + rows
        if end > 2 * self.shard_rows or (self._capacity < self.shard_rows
                                         and end > self._capacity):
            return None
        current = self._current
        other = self._sets[1] if current is self._sets[0] else self._sets[0]
        spans: list[tuple[_ShardSet, int, int]] = []
        if start < self.shard_rows:
            spans.append((current, start, min(end, self.shard_rows)))
        if end > self.shard_rows:
            if other.pending is not None:  # its previous shard may still be written from it
                concurrent.futures.wait([other.pending])
                if other.pending.exception() is not None:
                    return None  # ``append`` raises it
            spans.append((other, max(start - self.shard_rows, 0), end - self.shard_rows))
        parts = {hook: [target.buffers[hook][a:b] for target, a, b in spans]
                 for hook in self.hooks}
        loan = ShardLoan(self, rows, parts)
        self._lent.append(loan)
        return loan

    def _cancel_loan(self, loan: ShardLoan) -> None:
        """Take back ``loan`` and every loan made after it (their rows would follow a gap)."""
        if loan.settled or loan not in self._lent:
            return
        while self._lent:
            last = self._lent.pop()
            last.settled = True
            if last is loan:
                return

    def close(self) -> dict[str, Any]:
        """Flush the last rows, write ``stats.json`` and mark the store complete; return the
        manifest. Raises the writer thread's error, if it had one."""
        if self._state == "open":
            self._finish("close", None)
        self._raise_if_failed()
        return self.manifest

    def abort(self, status: str = "partial") -> dict[str, Any]:
        """Stop soon (queued rows and the unfinished shard are dropped) and leave a valid store
        with ``status`` (``partial`` or ``failed``). Never raises the thread's error: read
        ``self.error`` (the caller is usually already handling an exception)."""
        if status not in ("partial", "failed"):
            raise InvalidInput(
                f"abort status must be 'partial' or 'failed', got {status!r}",
                details={"status": status},
            )
        if self._state == "open":
            self._stop.set()
            self._finish("abort", status)
        return self.manifest

    def __enter__(self) -> ActivationWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            # a refused resume wrote nothing: the store stays the partial it was
            kept = isinstance(exc, (JobCancelled, KeyboardInterrupt, StoreConfigMismatch))
            self.abort("partial" if kept else "failed")

    def skip_whole_tail(self, rows: np.ndarray) -> None:
        """After a resume whose tail sequence is whole (the engine's plan keeps no row of it
        past the last stored one): it is not fed again. ``rows`` ((k, 3) token, sequence,
        position) are the plan's rows of that sequence, refused unless they are the stored ones,
        as a re-fed tail's would be."""
        if len(rows) != self._skip or self._skip != len(self._tail):
            raise StoreConfigMismatch(
                self.path, "rows of the tail sequence (whole in the plan, not in the store)",
                len(self._tail), len(rows))
        self._skip -= self._already_stored(rows)

    # ------------------------------------------------------------------------ caller side
    def _already_stored(self, tokens: np.ndarray) -> int:
        """After a resume: how many leading rows of ``tokens`` ((n, 3) token, sequence, position)
        are stored already (the re-fed start of the tail sequence); refuses rows that do not
        match what is stored."""
        done = len(self._tail) - self._skip
        k = min(self._skip, len(tokens))
        expected = self._tail[done : done + k]
        if not np.array_equal(tokens[:k], expected):  # other data than was stored
            raise StoreConfigMismatch(
                self.path, "rows at the resume point (the run must restart at sequence "
                f"{self.resume_point.next_sequence}, after "
                f"{self.resume_point.sequences_complete} sequences, on the same tokenization)",
                expected[:4].tolist(), tokens[:4].tolist())
        return k

    def _put(self, item: tuple[str, Any], *, finishing: bool = False) -> None:
        """Queue ``item``, waiting while the queue is full (see ``_until``)."""

        def attempt() -> bool:
            try:
                self._queue.put(item, timeout=0.25)
            except queue.Full:
                return False
            return True

        self._until(attempt, finishing=finishing)

    def _until(self, attempt: Callable[[], bool], *, finishing: bool = False) -> None:
        """Repeat ``attempt`` (which waits a moment) until it succeeds, unless the thread failed
        (raised, except when ``finishing``) or died (a dead thread never answers)."""
        while not attempt():
            if not finishing:
                self._raise_if_failed()
            if self._thread.is_alive():
                continue
            if finishing:
                return
            raise StoreWriteFailed(self.path, RuntimeError("the store's writer thread stopped"))

    def _finish(self, kind: str, status: str | None) -> None:
        self._state = "closed" if kind == "close" else "aborted"
        self._put((kind, status), finishing=True)
        self._thread.join()
        self._folder.shutdown()
        self._committer.shutdown()
        self._pool.shutdown()
        self._io_pool.shutdown()
        self._gather.shutdown()
        for shard_set in self._sets:  # nothing touches the buffers any more: the next run may
            buffer_cache.give_back(shard_set.memory)
        self._sets = []
        os.close(self._lock_fd)

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    # ------------------------------------------------------------------------ thread side
    def _run(self) -> None:
        background_priority()
        while True:
            kind, payload = self._queue.get()
            if kind == "batch":
                batch, absorbed = payload
                if self.error is None and not self._stop.is_set():
                    self._guard(self._absorb, batch)
                if batch.release is not None:  # its rows are in the shard buffers (or dropped)
                    batch.release()
                if absorbed is not None:
                    absorbed.set()
                continue
            if self.error is None:  # after an error the store was already marked failed
                if kind == "close":
                    self._guard(self._close_store)
                else:
                    self._guard(self._abort_store, payload)
            return

    def _guard(self, step: Any, *args: Any) -> None:
        """Run a thread step; an exception is kept for the caller, never swallowed."""
        try:
            step(*args)
        except Exception as exc:  # handed to the caller thread by _raise_if_failed
            self._settle_commits()  # no commit may still be running when the store is marked
            error = self._wrap(exc)
            if step != self._stop_store:
                try:
                    self._stop_store("failed", error)
                except Exception as also:  # the last valid manifest stays; the cause is reported
                    error.add_note(f"marking the store failed also failed: {also!r}")
            self.error = error  # published last: the caller sees it only once the store says so

    def _wrap(self, exc: Exception) -> BaseException:
        if isinstance(exc, AppError):  # first: StoreDiskFull is an OSError too (ENOSPC)
            return exc
        if isinstance(exc, OSError) and exc.errno in _ENOSPC:
            free = shutil.disk_usage(self.path).free
            itemsize = layout.STORAGE_DTYPES[self.dtype].itemsize
            needed = self.shard_rows * (sum(self.hooks.values()) * itemsize + _TOKEN_ROW_BYTES)
            err = StoreDiskFull(
                path=self.path, needed=needed, free=free, shards=len(self.manifest["shards"])
            )
            err.__cause__ = exc
            return err
        err2 = StoreWriteFailed(self.path, exc)
        err2.__cause__ = exc
        return err2

    def _absorb(self, batch: PreparedBatch) -> None:
        self._raise_failed_commit()
        offset = 0
        while offset < batch.rows:
            take = min(batch.rows - offset, self.shard_rows - self._fill)
            dst = slice(self._fill, self._fill + take)
            target = self._current

            def gather(names: list[str], src: slice = slice(offset, offset + take),
                       dst: slice = dst, target: _ShardSet = target) -> None:
                for name in names:
                    np.copyto(target.buffers[name][dst],
                              layout.encode(batch.activations[name][src], self.dtype),
                              casting="same_kind")

            if not batch.lent:  # lent rows were cast where they belong
                # inline, the forward waits for this copy: every core takes a share of the hooks
                helping = [self._gather.submit(gather, names) for names in self._shares[1:]]
                gather(self._shares[0])
                for future in helping:
                    future.result()
            target.tokens[dst] = batch.tokens[offset : offset + take]
            self._fill += take
            offset += take
            if self._fill == self.shard_rows:
                self._start_commit(self.shard_rows, final=False)

    def _start_commit(self, rows: int, *, final: bool) -> None:
        """Hand the current set's shard to the committer; gather into the other set once its
        own commit is done (raising that commit's error, if it failed)."""
        full = self._current
        self._submitted += 1
        full.submitted = self._submitted
        full.computed = threading.Event()
        full.pending = concurrent.futures.Future()  # set by the commit's last stage
        self._folder.submit(self._fold_shard, full, self._submitted, rows, final=final)
        if self.inline:  # the caller waits for the commit's CPU work, not for its I/O
            full.computed.wait()
        self._current = self._sets[1] if full is self._sets[0] else self._sets[0]
        self._fill = 0
        if self._current.pending is not None:
            self._current.pending.result()
            self._current.pending = None

    def _raise_failed_commit(self) -> None:
        for shard_set in self._sets:
            pending = shard_set.pending
            if pending is not None and pending.done():
                shard_set.pending = None
                pending.result()

    def _settle_commits(self) -> None:
        """Wait for the commits in flight (their errors are the caller's to report)."""
        for shard_set in self._sets:
            if shard_set.pending is not None:
                concurrent.futures.wait([shard_set.pending])

    def _wait_commits(self) -> None:
        """Wait for the commits in flight, raising the first error (commits run in order, and
        none runs after one has failed)."""
        self._settle_commits()
        for shard_set in sorted(self._sets, key=lambda s: s.submitted):
            future, shard_set.pending = shard_set.pending, None
            if future is not None:
                future.result()

    def _close_store(self) -> None:
        if self._fill:
            self._start_commit(self._fill, final=True)
            self._wait_commits()
        else:
            self._wait_commits()
            self._stop_store("complete")

    def _abort_store(self, status: str) -> None:
        self._settle_commits()  # a shard being committed is kept (at most one)
        self._stop_store(status)

    def _stop_store(self, status: str, error: BaseException | None = None, *,
                    summary: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        """Record ``status`` with statistics of the committed shards (best effort on a full disk:
        the previous manifest stays valid if this one cannot be written); ``summary``: those
        statistics, being made by the folder."""
        manifest = dict(self.manifest, status=status, updated_at=manifests.now())
        error = error or self.error
        if error is not None:
            manifest["error"] = {"type": type(error).__name__, "message": str(error)}
        try:
            self._write_stats(manifest, self.stats, summary)
        except Exception as exc:
            if status == "complete":  # never "complete" without its statistics
                if isinstance(exc, OSError) and exc.errno in _ENOSPC:  # not "writing shard N"
                    raise StoreDiskFull(path=self.path, needed=None,
                                        free=shutil.disk_usage(self.path).free,
                                        shards=len(self.manifest["shards"]),
                                        summary=True) from exc
                raise
            manifest["stats"] = None  # e.g. disk still full: the manifest matters more
        # the summary is made: its norms go (a new dict: a summary being made keeps the old)
        self._held, self._held_bytes = {}, 0
        try:
            layout.write_manifest(self.path, manifest, durable=self.durable)
            self.manifest = manifest
        except OSError as exc:
            if self.error is None:
                self.error = self._wrap(exc)

    def _write_stats(self, manifest: dict[str, Any], stats: dict[str, StreamingStats],
                     made: concurrent.futures.Future[dict[str, Any]] | None = None) -> None:
        if made is not None:
            summary = made.result()
        else:
            view = self._summary_view(len(manifest["shards"]), manifest["counts"]["rows"])
            summary = store_statistics(self.path, view, stats, self._pool.map, held=self._held)
        layout.write_json_atomic(self.path / layout.STATS_NAME, summary, durable=self.durable,
                                 indent=False)  # per-dimension arrays: tens of MB
        manifest["stats"] = layout.STATS_NAME
        self.summary = summary

    def _fold_shard(self, shard_set: _ShardSet, number: int, rows: int, *, final: bool) -> None:
        """Stage 1 of a commit, on the folder thread (one shard at a time, in order): fold the
        shard into a copy of the statistics and hash its hook points' files, then hand it to
        the committer. ``computed`` is set either way (an inline caller waits for it)."""
        try:
            if not self._may_go_on(shard_set, number):
                return
            work = self._compute(shard_set, rows, number, final=final)
        except BaseException as exc:
            self._fail_commit(shard_set, number, exc)
            return
        finally:
            shard_set.computed.set()
        try:
            self._committer.submit(self._commit_shard, shard_set, number, rows, work, final=final)
        except BaseException as exc:  # the committer was shut down: not committed
            self._fail_commit(shard_set, number, exc)
            return
        if work.summary is not None:  # made while the committer writes the shards
            self._make_summary(work.summary, work.stats, number)

    def _commit_shard(
        self, shard_set: _ShardSet, number: int, rows: int, work: _Computed, *, final: bool
    ) -> None:
        """Stage 2, on the committer thread (in order): write the shard's files and commit it
        (one journal line; ``manifest.json`` is rewritten only by the last shard, as it
        completes). After a failed shard, later ones refuse to commit: their rows would follow a
        missing shard. After ``abort``, a shard not yet writing is dropped."""
        try:
            if not self._may_go_on(shard_set, number):
                return
            self._write_shard(shard_set, rows, work, final=final)
        except BaseException as exc:
            self._fail_commit(shard_set, number, exc)
            return
        shard_set.pending.set_result(None)

    def _may_go_on(self, shard_set: _ShardSet, number: int) -> bool:
        """Before a stage of shard ``number``: raise an earlier shard's failure; after ``abort``
        settle the shard as not committed and say False."""
        with self._commit_lock:
            failed = self._commit_error
        if failed is not None and failed[0] < number:
            raise failed[1]
        if self._stop.is_set():
            shard_set.pending.set_result(None)  # aborted before this stage began
            return False
        return True

    def _fail_commit(self, shard_set: _ShardSet, number: int, exc: BaseException) -> None:
        with self._commit_lock:
            if self._commit_error is None or number < self._commit_error[0]:
                self._commit_error = (number, exc)
        shard_set.pending.set_exception(exc)

    def _compute(self, shard_set: _ShardSet, rows: int, number: int, *, final: bool) -> _Computed:
        """Fold the first ``rows`` rows of every hook point into a copy of the statistics (in
        parallel; the compiled pass releases the GIL) and hash the hook points' files where
        they are written from the buffer (a third task beside the write would wait for it).
        For the last shard, when every shard's norms are held, ``summary`` is a future the
        folder fills once the shard is handed to the committer (``_make_summary``)."""
        tokens = shard_set.tokens[:rows]  # (rows, 3)
        stats = {h: s.copy() for h, s in self._folded.items()}

        def fold(hook: str) -> np.ndarray:
            raw = shard_set.buffers[hook][:rows]  # (rows, d)
            return fold_shard(stats[hook], raw, tokens, self.dtype)  # (rows,) norms

        folds = {hook: self._pool.submit(fold, hook) for hook in self.hooks}
        hashes = {hook: self._pool.submit(shard.digest, rows)
                  for hook, shard in shard_set.shards.items() if shard.prepare(rows)}
        concurrent.futures.wait([*folds.values(), *hashes.values()])
        norms = {h: f.result() for h, f in folds.items()}
        self._folded = stats  # the next shard folds on from here
        self._rows_folded += rows
        name = layout.shard_name(self._first_index + number - 1)
        self._hold(name, norms, tokens)
        summary: concurrent.futures.Future[dict[str, Any]] | None = None
        if final and all(layout.shard_name(i) in self._held
                         for i in range(self._first_index + number)):
            summary = concurrent.futures.Future()
        return _Computed(stats, norms, {h: f.result() for h, f in hashes.items()}, summary)

    def _make_summary(self, summary: concurrent.futures.Future[dict[str, Any]],
                      stats: dict[str, StreamingStats], number: int) -> None:
        """The store's summary once shard ``number`` (the last) commits, made from the norms
        held, while the committer writes it and the shards before it (a long run, whose norms
        are not all held, reads them back from files once they are written, at the end)."""
        preview = self._summary_view(self._first_index + number, self._rows_folded)
        try:
            summary.set_result(store_statistics(self.path, preview, stats, self._pool.map,
                                                held=self._held))
        except BaseException as exc:  # raised where the committer waits for it
            summary.set_exception(exc)

    def _summary_view(self, shards: int, rows: int) -> dict[str, Any]:
        """What ``store_statistics`` reads of a manifest listing ``shards`` shards of ``rows``
        rows in all: their names, not their entries (which the journal holds)."""
        return {"config_hash": self.manifest["config_hash"], "counts": {"rows": rows},
                "shards": [{"name": layout.shard_name(i)} for i in range(shards)]}

    def _write_shard(
        self, shard_set: _ShardSet, rows: int, work: _Computed, *, final: bool
    ) -> None:
        index = len(self.manifest["shards"])
        name = layout.shard_name(index)
        tokens = shard_set.tokens[:rows]  # (rows, 3)
        written: list[Path] = []
        files: dict[str, Any] = {"hooks": {}, "tokens": None, "norms": {}}

        # durable: one syncfs for the whole shard where Linux has it, else an fsync per file
        grouped = self.durable and layout.can_sync_filesystem()
        each = self.durable and not grouped

        def save(rel: str, array: np.ndarray) -> dict[str, Any]:
            written.append(self.path / rel)
            record = layout.write_npy_atomic(self.path / rel, array, durable=each)
            return {"path": rel, **record}

        def save_shard(hook: str) -> dict[str, Any]:
            rel = layout.shard_path("hooks", index, hook)
            written.append(self.path / rel)
            digest = work.digests.get(hook)
            record = layout.write_buffer_atomic(self.path / rel, shard_set.shards[hook], rows,
                                                durable=each, digest=digest is None)
            if "sha256" not in record:  # hashed by stage 1: the same record, in the same order
                record = {"sha256": digest, "bytes": record["bytes"]}
            return {"path": rel, **record}

        with layout.removing_on_error(written):
            # one thread's fsync overlaps another's write
            futures: dict[tuple[str, str], concurrent.futures.Future[Any]] = {}
            for hook in self.hooks:
                futures["hooks", hook] = self._io_pool.submit(save_shard, hook)
                futures["norms", hook] = self._io_pool.submit(
                    save, layout.shard_path("norms", index, hook), work.norms[hook])
            files["tokens"] = save(layout.shard_path("tokens", index), tokens)
            concurrent.futures.wait(futures.values())  # every task done before any clean-up
            for (kind, hook), future in futures.items():
                files[kind][hook] = future.result()
            state_rel = layout.shard_path("stats", index)
            written.append(self.path / state_rel)
            state = {f"{h}::{k}": v for h, s in work.stats.items()
                     for k, v in s.state_dict().items()}
            layout.write_npz_atomic(self.path / state_rel, manifests.pack_arrays(state),
                                    durable=each)
            commit = manifests.with_shard(
                self.manifest, index, name, rows, tokens, files, state_rel
            )
            if grouped:  # the files, their renames and new folders, before the commit point
                layout.sync_filesystem(self._lock_fd)
            elif self.durable:  # folders the first shard created exist before it is committed
                layout.fsync_dir(self.path)
            # the commit point: nothing after it in this block can fail and delete its files
            manifests.commit_shard(self.path, commit, durable=self.durable)
        previous_state = self.manifest.get("stats_state")
        self.manifest, self.stats = commit.manifest, work.stats
        if previous_state:
            (self.path / previous_state).unlink(missing_ok=True)
        if final:
            self._stop_store("complete", summary=work.summary)

    def _hold(self, name: str, norms: dict[str, np.ndarray], tokens: np.ndarray) -> None:
        """Keep a shard's row norms for the summary (``HeldShard``), within ``HELD_NORM_BYTES``;
        the summary reads the others back from their files. Called by the folder, in shard
        order; a shard that then fails to commit is not in the manifest, which is what the
        summary reads shards from."""
        size = sum(n.nbytes for n in norms.values())
        if self._held_bytes + size > HELD_NORM_BYTES:
            return
        config = next(iter(self.stats.values())).config
        self._held[name] = HeldShard(norms, config.bos_mask(tokens[:, 0], tokens[:, 2],
                                                            len(tokens)))
        self._held_bytes += size


class ShardLoan:
    """Rows of a writer's shard buffers lent to the engine (``ActivationWriter.lend``):
    ``parts[hook]`` are the views, in the store's dtype (bfloat16 as uint16 bits), that a
    batch's ``rows`` rows of ``hook`` go to, in order: two where the batch crosses into the next
    shard. ``cancel()`` gives them back (a batch that is not appended); ``settled`` once
    appended or cancelled."""

    def __init__(self, writer: ActivationWriter, rows: int,
                 parts: dict[str, list[np.ndarray]]) -> None:
        self.rows = rows
        self.parts = parts
        self.settled = False
        self._writer = writer

    def cancel(self) -> None:
        self._writer._cancel_loan(self)


class _Computed(NamedTuple):
    """What stage 1 of a commit computed for stage 2: the statistics after the shard, each hook
    point's row norms, the sha256 of the hook points hashed from their buffers and, for the
    last shard of a short run, the summary."""

    stats: dict[str, StreamingStats]
    norms: dict[str, np.ndarray]
    digests: dict[str, str]
    # the store's summary once this shard (the last) commits, made by the folder (a short run)
    summary: concurrent.futures.Future[dict[str, Any]] | None


class _ShardSet:
    """One set of shard buffers: every hook point's page-aligned rows (room for the ``.npy``
    header in front, so a shard is written from where it lies) and the token rows; ``pending``
    is the commit of the shard it holds, while one runs."""

    def __init__(self, hooks: Mapping[str, int], rows: int, dtype: np.dtype) -> None:
        # one mapping for all hook points (advised to huge pages), carved page-aligned
        sizes = [NpyBuffer.region_bytes((rows, d), dtype) for d in hooks.values()]
        self.memory = buffer_cache.take(sum(sizes))
        starts = np.cumsum([0, *sizes[:-1]])
        self.shards = {h: NpyBuffer((rows, d), dtype, self.memory, int(start))
                       for (h, d), start in zip(hooks.items(), starts, strict=True)}
        self.buffers = {h: shard.array for h, shard in self.shards.items()}
        self.tokens = np.empty((rows, 3), np.int64)  # (rows, 3)
        self.pending: concurrent.futures.Future[None] | None = None
        self.computed = threading.Event()  # the pending commit's CPU work is done
        self.submitted = 0  # order of its last commit


def background_priority() -> None:
    """Lower the calling thread's scheduling priority (Linux: nice is per thread).

    The writer shares the CPU with the forward pass; at equal priority a writer thread that holds
    a core makes one of torch's intra-op threads wait for it, and every parallel region of the
    forward waits for its slowest thread. At nice 19 a waking forward thread takes the core back
    at once, and the writer runs in the gaps (or, if it falls behind, once the queue is full and
    the forward waits for it anyway). Elsewhere ``setpriority`` would renice the whole process, so
    this does nothing."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError):  # not permitted (a sandbox): stay at normal priority
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def folding_threads(pace: str, hooks: int, workers: int | None = None) -> int:
    """Threads that fold and hash a shard's hook points: inline, where the forward waits for
    them, one per core; beside the forward (overlap), ``default_workers``."""
    cores = workers or ((os.cpu_count() or 1) if pace == "inline" else default_workers())
    return max(1, min(2 * hooks, cores))


def default_workers() -> int:
    # at least 3: on 2 cores, a third thread keeps both busy while one waits (the GIL, a page)
    return max(3, min(8, (os.cpu_count() or 2) // 2))
