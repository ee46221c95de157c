"""Whether a float16 SAELens export can hold a store's values: float16 writes |x| past its range
(65,504; from 65,520 a value rounds to inf) as inf, and an SAE trained on it gets a NaN loss.

Checked twice, with one rule (a finite stored value that float16 makes inf; an inf already in the
store is written as it is):

- up front (``refuse_beyond_float16``), from the store's statistics (``stats.json``: each hook
  point's signed min / max over its finite rows, kept apart for the BOS rows), before anything
  is written: an API start answers with the refusal instead of a job that fails minutes later.
  It refuses only when it is certain that an exported row holds such a value: the statistics
  must cover the rows the export reads (a store stopped by a crash has none; one resumed since
  has new rows), and their group must lie inside the exported rows: ``all`` when every row is
  exported, ``non_bos`` (rows past position 0, without the configured BOS token) when first
  positions are left out. The last kept rows that fill no dataset row are not exported: when
  they too hold such a value, the statistics cannot say which rows do.
- per block (``check_float16_block``), on the values as they are written: the backstop for what
  the statistics leave open (a BOS token past position 0 when first positions are left out,
  values in rows whose other elements are NaN / inf, a store without statistics).

This module is NOT responsible for choosing the rows (``export_rows.py``) or writing them
(``export.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from interpstudio.core.errors import InvalidInput
from interpstudio.ml.export_rows import Rows
from interpstudio.ml.store_reader import Activations


def refuse_beyond_float16(acts: Activations, hooks: Sequence[str], rows: Rows,
                          exported: int) -> None:
    """Refuse a float16 export of ``hooks`` when the statistics show a value beyond float16's
    range in the first ``exported`` kept rows (``rows``); say nothing when they cannot tell."""
    stats = _covering_stats(acts)
    if stats is None:
        return  # the blocks' check decides
    group = "non_bos" if rows.excludes_first else "all"
    for hook in hooks:
        groups = stats["hooks"].get(hook, {}).get("groups", {})
        largest = _largest(groups.get(group))
        if not _beyond(np.array([largest])).any():
            continue
        if exported < rows.total and _tail_beyond(acts, hook, rows, exported):
            continue  # the value may be in the rows left out: the blocks' check decides
        in_bos_only = (not rows.excludes_first
                       and not _beyond(np.array([_largest(groups.get("non_bos"))])).any())
        hint = ("; the statistics find them only in the BOS rows (first positions, attention "
                "sinks): leave out first positions, or" if in_bos_only else ";")
        raise _refusal(hook, largest, acts.dtype, hint, found="statistics")


def check_float16_block(hook: str, stored: np.ndarray, written: np.ndarray,
                        storage: str) -> None:
    """Refuse the block of ``hook`` about to be written: ``stored`` (rows, d) as read, ``written``
    the same cast to float16."""
    if not np.isinf(written).any():
        return
    over = np.isinf(written) & np.isfinite(stored)
    if not over.any():
        return  # inf already in the store, written as it is
    raise _refusal(hook, float(np.abs(stored[over]).max()), storage, ";", found="block")


def _covering_stats(acts: Activations) -> dict[str, Any] | None:
    """The store's statistics when they cover exactly the rows it holds now."""
    stats = acts.stats
    if stats is None or stats.get("shards") != len(acts.manifest["shards"]):
        return None
    return stats if stats.get("rows") == len(acts.tokens) else None


def _largest(figures: dict[str, Any] | None) -> float:
    """The largest |x| of a statistics group (its signed min / max; 0 for a group of no rows)."""
    extremes = [abs(float(v)) for v in ((figures or {}).get("min"), (figures or {}).get("max"))
                if v is not None]
    return max(extremes, default=0.0)


def _tail_beyond(acts: Activations, hook: str, rows: Rows, exported: int) -> bool:
    """Whether the kept rows past ``exported`` (fewer than one dataset row) hold such a value."""
    source, _, keep = rows.read(exported, rows.total)
    return bool(_beyond(acts[hook][source][keep]).any())


def _beyond(values: np.ndarray) -> np.ndarray:
    """Finite values that float16 writes as inf (the same cast as the export's)."""
    with np.errstate(over="ignore"):
        return np.isinf(values.astype(np.float16)) & np.isfinite(values)


def _refusal(hook: str, largest: float, storage: str, hint: str, *, found: str) -> InvalidInput:
    return InvalidInput(
        f"{hook} holds values beyond float16's range (|x| up to {largest:,.6g} > 65,504), which "
        f"a float16 export would write as inf{hint} export as float32 (the store is {storage})",
        details={"hook_point": hook, "max_abs": largest, "dtype": "float16",
                 "storage_dtype": storage, "found_in": found})
