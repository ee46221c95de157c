"""An export planned before anything is written: ``plan_export`` opens (or takes) a store, makes
every refusal that needs no writing, and finds the rows, the context size and the bytes the
export will write (``ExportPlan``), so that a caller checks up front (the API before it queues a
job, with the free disk from ``ExportPlan.check_disk``) and the writer (``export.write_export``)
goes on from the same opened store and the same pass over its token table.

This module is NOT responsible for writing the export (``export.py``), choosing rows
(``export_rows.py``), naming columns (``export_columns.py``) or float16's range
(``export_float16.py``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from interpstudio.core.errors import Conflict, InsufficientDisk, InvalidInput
from interpstudio.ml.export_columns import ColumnNames, column_map
from interpstudio.ml.export_float16 import refuse_beyond_float16
from interpstudio.ml.export_rows import Rows, select_rows
from interpstudio.ml.hook_points import HookLayerOutOfRange, expand_hook_points, parse_hook_point
from interpstudio.ml.store import HookPointNotStored
from interpstudio.ml.store_reader import Activations, open_activations


class StoreNotComplete(Conflict):
    code = "store_not_complete"

    def __init__(self, path: Path, status: str) -> None:
        super().__init__(
            f"the store at {path} is {status}, not complete, so an export would hold only part of "
            "the run; finish (resume) the extraction first, or pass allow_partial=True to export "
            "the shards written so far",
            details={"path": str(path), "status": status},
        )


@dataclass(frozen=True)
class ExportPlan:
    """An export planned on an opened store (``plan_export``): what it will write, found (and
    every refusal that needs no writing made) before anything is written."""

    acts: Activations
    hooks: list[str]
    columns: dict[str, str]  # dataset column -> hook point
    column_names: ColumnNames
    context_size: int
    dtype: str  # of the written values: float16 / float32
    rows: Rows  # the store rows it takes

    @property
    def dataset_rows(self) -> int:
        """Rows of ``context_size`` tokens (the kept rows' tail short of one is dropped)."""
        return self.rows.total // self.context_size

    @property
    def export_bytes(self) -> int:
        """The bytes of the exported rows as Arrow holds them: per dataset row, each column's
        (context_size, d) values with the context_size + 1 int32 offsets of ``Array2D``'s
        list-of-lists storage, and context_size int32 token ids (a fixed-size list: no
        offsets). Arrow adds its schema and per-batch framing, a few KiB per file."""
        ctx, int32 = self.context_size, np.dtype(np.int32).itemsize
        values = sum(self.acts[h].shape[1] for h in self.hooks) * np.dtype(self.dtype).itemsize
        per_row = ctx * (values + int32) + len(self.columns) * (ctx + 1) * int32  # + offsets
        return self.dataset_rows * per_row

    def check_disk(self, folder: Path) -> None:
        """Refuse when ``folder``'s disk lacks about twice the export: the blocks, then the
        dataset made of them, until the end (a full disk mid-way was a raw ENOSPC from Arrow
        after minutes of work)."""
        needed = 2 * self.export_bytes
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise InsufficientDisk(needed=needed, free=free, path=str(folder))


def plan_export(
    store: str | os.PathLike[str] | Activations,
    *,
    hook_names: str | Sequence[str] | None = None,
    context_size: int | None = None,
    dtype: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    allow_partial: bool = False,
    column_names: ColumnNames = "hook_points",
    modules: Mapping[str, str] | None = None,
    exclude_first_position: bool = False,
) -> ExportPlan:
    """Plan the export of ``store`` (a path, or a store already opened), refusing what can be
    known before writing: a store not complete without ``allow_partial``, unknown points, points
    with no module path, a bad context size or dtype, token ids past int32, fewer rows than one
    dataset row, and (float16) values the statistics show beyond float16's range in the rows
    exported (``export_float16.py``; the blocks are checked again as they are written). Reads
    the token table once, a shard at a time (``should_stop`` checked per shard). Options as
    ``export_saelens``'s."""
    acts = store if isinstance(store, Activations) else open_activations(store)
    if acts.status != "complete" and not allow_partial:
        raise StoreNotComplete(acts.path, acts.status)
    hooks = hook_list(hook_names, acts)
    columns = column_map(hooks, column_names, modules, acts.hook_names)
    if context_size is not None and context_size < 1:
        raise InvalidInput(f"context_size must be >= 1, got {context_size}",
                           details={"context_size": context_size})
    out_dtype = dtype or ("float32" if acts.dtype == "bfloat16" else acts.dtype)
    if out_dtype not in ("float16", "float32"):
        raise InvalidInput(
            f"export dtype {out_dtype!r} is not available in Arrow; use float16 or float32",
            details={"dtype": out_dtype},
        )
    rows = select_rows(acts, exclude_first_position=exclude_first_position,
                        should_stop=should_stop)
    ctx = (context_size if context_size is not None
           else rows.common_length(last_may_be_cut=acts.status != "complete"))
    if rows.total < ctx:
        held = (f"{rows.total} rows past the first position ({rows.first_positions} first-"
                "position rows left out)" if exclude_first_position else f"{rows.total} tokens")
        fix = (f"; pass context_size={rows.total} or less" if rows.total
               else "; export without exclude_first_position")
        raise InvalidInput(
            f"the store holds {held}, fewer than one row of {ctx}{fix}",
            details={"tokens": rows.total, "context_size": ctx,
                     "first_positions_excluded": rows.first_positions},
        )
    plan = ExportPlan(acts, hooks, columns, column_names, ctx, out_dtype, rows)
    if out_dtype == "float16" and acts.dtype != "float16":
        refuse_beyond_float16(acts, hooks, rows, plan.dataset_rows * ctx)
    return plan


def hook_list(hook_names: str | Sequence[str] | None, acts: Activations) -> list[str]:
    """The hook points to export: all when None, one when a plain string; each one stored, each
    once (a name given twice was reported twice, one column written). A pattern, as ``extract``
    takes it (``blocks.*.resid_post``, ``blocks.{0-3}.attn_out``), names the stored points it
    matches: with a ``*``, those stored (at least one); without, every point it lists."""
    if hook_names is None:
        return list(acts.hook_names)
    given = [hook_names] if isinstance(hook_names, str) else list(hook_names)
    if not given:
        raise InvalidInput(
            "hook_names is empty: give at least one hook name, or omit hook_names to export all "
            f"{len(acts.hook_names)} stored hook points",
            details={"hook_names": [], "stored": list(acts.hook_names)},
        )
    return list(dict.fromkeys(hook for name in given for hook in _stored_points(name, acts)))


def _stored_points(name: str, acts: Activations) -> list[str]:
    """The stored points ``name`` (a stored point or a pattern) names; refuses the rest."""
    if name in acts or not isinstance(name, str) or not any(c in name for c in "*{"):
        if name not in acts:
            raise HookPointNotStored(str(name), acts.hook_names)
        return [name]
    layers = 1 + max((parse_hook_point(h).layer for h in acts.hook_names), default=0)
    try:
        points = expand_hook_points(name, n_layers=layers)
    except HookLayerOutOfRange as exc:  # past the store's deepest layer: not stored
        raise HookPointNotStored(name, acts.hook_names) from exc
    if "*" in name:
        points = [point for point in points if point in acts]
    missing = next((point for point in points if point not in acts), None)
    if missing is not None or not points:
        raise HookPointNotStored(missing or name, acts.hook_names)
    return points
