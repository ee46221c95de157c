"""What an extraction reports: per-batch progress, the final result, and the check that a
"complete" store holds every planned row.

This module is NOT responsible for running anything (``extract_engine``).
"""

from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interpstudio.core.errors import AppError
from interpstudio.ml import store as layout


class ExtractionIncomplete(AppError, RuntimeError):
    """A run that ended "complete" without every planned row in the store (never reported as
    success: the output is verified against the plan)."""

    code = "extraction_incomplete"

    def __init__(self, path: Path, rows: int, planned: int) -> None:
        super().__init__(
            f"the store at {path} holds {rows:,} rows but the plan has {planned:,}: retry the "
            "extraction (a resume cannot fix a store that claims to be complete)",
            details={"path": str(path), "rows": rows, "planned_rows": planned},
        )


@dataclass(frozen=True)
class ExtractionProgress:
    """What the ``progress`` callback receives after every batch."""

    tokens_done: int
    tokens_total: int
    rows_done: int
    rows_total: int
    bytes_written: int  # committed shard files
    # bytes the rows computed so far take in shard files (committed or not yet): the store's
    # files once they are all written (``bytes_written`` then equals it)
    bytes_captured: int
    elapsed_s: float
    tokens_per_s: float | None  # this run's tokens (not counting resumed-over ones) / elapsed
    batch_size: int  # current (after any OOM halving)
    # tokens this run computed (a resume's recomputed batch included, resumed-over ones not)
    tokens_computed: int = 0
    # True: the counts are what the store holds (whole shards), as at a resume's start and after
    # the writer closed (a run's end, a stop, a failure); False: rows computed so far
    stored: bool = False
    # True: every row is computed and with the writer, which is writing the last shard and the
    # statistics (close()); the report after it (``stored``) is the closed store's. A job showed
    # "ETA any moment" at 100 % for that while (0.4-0.7 s of a 13 s run; longer on a slow disk)
    closing: bool = False


@dataclass
class ExtractionResult:
    """What ``extract`` did."""

    path: Path
    status: str  # store status: complete (or partial / failed when raised out of extract)
    hook_points: list[str]
    widths: dict[str, int]
    dtype: str
    plan: dict[str, Any]
    rows: int
    tokens_computed: int  # tokens run through the model by this call
    elapsed_s: float
    tokens_per_s: float | None
    bytes_written: int
    resumed_from_rows: int
    batch_size_final: int
    oom_events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. float16 storage overflowed
    # the writer's: its ``shards`` are a ``JournalShards``, read back from the store's journal
    # when used (a sequence of the same entries; ``list()`` it for ``json.dumps``)
    manifest: dict[str, Any] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """JSON-ready, without the manifest."""
        out = asdict(self)
        out.pop("manifest")
        out["path"] = str(self.path)
        return out


def shard_file_bytes(rows: int, widths: dict[str, int], dtype: str,
                     shard_rows: int) -> dict[str, int]:
    """Exact bytes of the shard files ``rows`` rows fill (shards of ``shard_rows``, the last one
    holding the rest): activations, the token table, the row norms and the ``.npy`` headers."""
    stored = layout.STORAGE_DTYPES[dtype]
    full, rest = divmod(rows, shard_rows)
    act = rows * sum(widths.values()) * stored.itemsize
    tokens = rows * 3 * 8
    norms = rows * 8 * len(widths)
    headers = 0
    for n, count in ((shard_rows, full), (rest, 1 if rest else 0)):
        if count:
            per = sum(_npy_header_bytes(stored, (n, d)) for d in widths.values())
            per += _npy_header_bytes(np.dtype(np.int64), (n, 3))
            per += len(widths) * _npy_header_bytes(np.dtype(np.float64), (n,))
            headers += count * per
    return {"activations": act, "tokens": tokens, "norms": norms, "headers": headers,
            "shard_files": act + tokens + norms + headers}


@functools.lru_cache(maxsize=1024)
def _npy_header_bytes(dtype: np.dtype[Any], shape: tuple[int, ...]) -> int:
    buffer = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return len(buffer.getvalue())


def stored_counts(store: Path) -> dict[str, int]:
    """Rows, tokens, sequences, whole shards and bytes of the shards ``store`` has committed
    (``store.read_manifest``'s errors pass through: the caller says what an unreadable store
    means to it)."""
    manifest = layout.read_manifest(store)
    counts = manifest["counts"]
    return {"rows": int(counts.get("rows", 0)), "tokens": int(counts.get("tokens", 0)),
            "sequences": int(counts.get("sequences", 0)), "shards": len(manifest["shards"]),
            "bytes": BytesCounter().bytes(manifest)}


class BytesCounter:
    """Bytes of the committed shard files, counted incrementally as shards are added."""

    def __init__(self) -> None:
        self._shards = 0
        self._bytes = 0

    def bytes(self, manifest: dict[str, Any]) -> int:
        shards = manifest["shards"]
        if len(shards) > self._shards:
            partial = dict(manifest, shards=shards[self._shards :])
            self._bytes += sum(record["bytes"] for _, record in layout.listed_files(partial))
            self._shards = len(shards)
        return self._bytes


FLOAT16_MAX = 65504.0


def nonfinite_warnings(
    stats: dict[str, Any] | None, dtype: str, computed: dict[str, str] | None = None
) -> list[str]:
    """One line per hook point whose stored rows hold Inf or NaN (statistics leave those rows
    out), saying where they come from. ``computed``: the dtype each point was computed in.
    Computed in float16 (a fp16 model), the model's own values overflowed (an Inf there, and
    the NaN it makes downstream): no storage dtype keeps them, the model must run in bf16 or
    fp32. Computed wider and stored in float16, an Inf is almost always a value past +/-65,504
    that the cast overflowed, so the line says which storage dtype keeps it."""
    out: list[str] = []
    for name, summary in (stats or {}).get("hooks", {}).items():
        every = summary["groups"]["all"]
        if not every["nonfinite_rows"]:
            continue
        line = (f"{name}: {every['nonfinite_rows']} rows hold Inf ({every['inf_count']} values) "
                f"or NaN ({every['nan_count']}); statistics leave them out")
        if (computed or {}).get(name) == "float16":
            line += (f"; the model computes this point in float16 (at most +/-{FLOAT16_MAX:,.0f})"
                     ", so these are its own overflows, which no storage dtype undoes: load the "
                     "model at bf16 or fp32 to get these values")
        elif dtype == "float16" and every["inf_count"]:
            line += (f"; float16 storage holds at most +/-{FLOAT16_MAX:,.0f}: extract again "
                     "with dtype bfloat16 or float32 to keep these values")
        out.append(line)
    return out
