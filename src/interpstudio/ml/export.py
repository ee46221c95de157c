"""Export an activation store to SAELens's cached-activations layout (HF ``datasets`` Arrow).

What SAELens 6.x reads (``CacheActivationsRunner`` writes it; ``ActivationsStore`` loads it with
``datasets.load_from_disk`` and checks ``features[hook_name].shape == (context_size, d_in)``): a
dataset saved with ``save_to_disk`` whose rows are sequences, with

- one column per hook name: ``Array2D(shape=(context_size, d), dtype=<"float16"/"float32">)``;
- ``token_ids``: ``Sequence(Value("int32"), length=context_size)``.

SAELens flattens every row back to ``context_size`` token rows when it trains, so sequence
boundaries matter only for a store whose sequences all have one length (packed / fixed-length
tokenization): there the default ``context_size`` is that length and each dataset row is one
sequence. A store with pad positions removed has ragged sequences; pass ``context_size`` and the
token stream is packed into rows of that many tokens (the last ``rows % context_size`` tokens are
dropped and reported; rows that hold two sequences' tokens are counted in a warning). Arrow has
no bfloat16, so bfloat16 stores export as float32 (exact). Rows holding Inf / NaN (a float16
store of larger values, a float16 model's own overflow) are written as stored, and a warning per
point counts them: an SAE trained on them gets a NaN loss.

SAELens takes a dataset row for ``context_size`` consecutive tokens of text. A store extracted
under another position policy than ``all`` (its manifest's ``spec["positions"]``) does not hold
them: ``last`` keeps one token per sequence (the default context size is then 1, and a larger
one puts the last tokens of unrelated sequences side by side), ``every_k`` keeps tokens ``k``
apart, ``exclude_bos`` leaves out each sequence's leading BOS (over sequences none of which
starts with one it kept every token, and nothing is said). Such a store is still exported (its
rows are fine for training an SAE, which shuffles tokens), and ``SaelensExport.warnings`` says
what its rows are instead, for the caller to show.

``exclude_first_position=True`` leaves out every row at position 0 (each sequence's first token,
BOS or not; a BOS token further in is kept): its norm can be many times the rest's (an attention
sink), so an SAE trained on it spends its MSE there. The rows go from every column and
``token_ids`` alike, before rows are packed (a store of one length L then exports rows of L - 1
by default); the export's manifest says so and how many rows it left out. A store with no row
past position 0 (``last`` of one-token sequences) is refused, not exported empty.

Training from it with SAELens 6.54.12's ``LanguageModelSAETrainingRunner``
(``use_cached_activations=True``, ``cached_activations_path`` = the export, ``hook_name`` = a
column, ``context_size`` and ``d_in`` = its shape) reads the stored rows exactly, float16 or
float32, fixed or packed rows (``benchmarks/saelens_roundtrip.py``). The runner still builds a
model and a token dataset. With ``model_class_name="AutoModelForCausalLM"`` it loads the model
folder and hooks the module named ``hook_name`` (``sae_lens/load_model.py``: ``HookedProxyLM``
keys hooks by the HF model's ``named_modules()`` and refuses any other name; each hook takes the
module's output, element 0 of a tuple, and skips other structures). So either

- ``column_names="hook_points"`` (default): columns ``blocks.3.resid_post``; pass
  ``override_model`` (e.g. ``HookedProxyLM`` of the model folder); or
- ``column_names="module_paths"``: columns named by the module whose output the point is, so
  ``hook_name`` is a column and no override is needed. Our hook on such a point takes the same
  tensor (``hooks.py``: a module's output, element 0 of a tuple): ``resid_post`` -> the decoder
  block (``model.layers.3``), ``attn_out`` -> the attention module or its out-projection,
  ``mlp_out`` -> the MLP or its down-projection (OPT's ``fc2`` sees tokens flattened: SAELens's
  hook there gets (B*T, d), same values). ``resid_pre`` and ``mlp_act`` are a module's INPUT, and
  no module's output is defined as them (layer 0's input is the embeddings as the model combines
  them; layer i's equals layer i-1's output only in a plain stack), so they are refused
  (``NoModulePath``, listing the stored points that can be named). The modules come from the
  model's hook sites (``output_modules``); the export writes ``EXPORT_MANIFEST`` (column -> hook
  point) beside the dataset.

Either way it needs ``override_dataset`` for tokens (e.g. the export's ``token_ids`` as a
``tokens`` column): ``from_config`` refuses an empty ``dataset_path``, reads only ``tokens`` /
``input_ids`` / ``text`` columns, and a local pretokenized folder as ``dataset_path`` fails in
``validate_pretokenized_dataset_tokenizer`` (it hands the path to ``hf_hub_download``).

Built with public ``datasets`` calls only: blocks of rows become small datasets written to a temp
folder (a name of its own beside ``out_dir``: two exports in one process once shared one), then
``concatenate_datasets`` (memory-mapped) + ``save_to_disk`` into a temp name renamed to
``out_dir``. Memory stays flat (one block; the token table is read a shard at a time); disk needs
about twice the export until the end, checked before anything is written (``InsufficientDisk``).
The assembly (``concatenate_datasets`` + ``save_to_disk``) is one ``datasets`` call with no
progress of its own and no way to stop it: ``on_assemble`` says when it starts.

``export_saelens`` is ``plan_export`` (``export_plan.py``: the store opened once, every refusal
that needs no writing, the rows and bytes) then ``write_export``; a caller that checks up front
plans once and writes that plan.

This module is NOT responsible for training SAEs or shuffling (SAELens shuffles itself), for
planning (``export_plan.py``), naming columns by module path (``export_columns.py``), finding
the rows to take (``export_rows.py``) or float16's range (``export_float16.py``; re-exported
here where public).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interpstudio.core.errors import Conflict, InvalidInput, JobCancelled
from interpstudio.ml.export_columns import (
    ColumnNames,
    NoModulePath,
    column_map,
    compact_points,
    output_modules,
)
from interpstudio.ml.export_float16 import check_float16_block
from interpstudio.ml.export_plan import ExportPlan, StoreNotComplete, hook_list, plan_export
from interpstudio.ml.export_rows import Rows, RunLengths
from interpstudio.ml.export_work import sweep_abandoned, work_folder
from interpstudio.ml.store_reader import Activations

__all__ = ["EXPORT_MANIFEST", "ColumnNames", "ExportPlan", "ExportTargetExists", "NoModulePath",
           "SaelensExport", "StoreNotComplete", "column_map", "compact_points", "export_saelens",
           "hook_list", "nonfinite_warnings", "output_modules", "plan_export",
           "positions_warnings", "spanning_warnings", "write_export"]

_BLOCK_BYTES = 64 << 20  # activation bytes per dataset block
EXPORT_MANIFEST = "interpstudio_export.json"  # beside the dataset: column -> hook point
_SWAP_LOCK = threading.Lock()  # the target swap of one export at a time in this process


class ExportTargetExists(Conflict):
    code = "export_target_exists"

    def __init__(self, path: Path, *, overwrite: bool = False) -> None:
        why = ("overwrite replaces only an earlier export (a folder with the state.json and "
               "dataset_info.json a dataset export writes), and this is something else"
               if overwrite else "pass overwrite=True to replace an earlier export")
        super().__init__(
            f"{path} already exists and is not empty; {why}; choose a new folder or delete it "
            "first",
            details={"path": str(path), "overwrite": overwrite},
        )


_EXPORT_FILES = ("state.json", "dataset_info.json")  # what ``Dataset.save_to_disk`` writes


def _check_target(store: Path, target: Path, *, overwrite: bool) -> None:
    """Refuse a target that is a file, the store itself or a folder holding it, and (with
    ``overwrite``) a non-empty folder that is not an earlier export: an export replaces its
    target whole, and once took the store with it."""
    if target.exists() and not target.is_dir():
        raise InvalidInput(f"{target} is a file; give the path of a new folder for the export",
                           details={"path": str(target)})
    source, resolved = store.resolve(), target.resolve()
    if resolved == source or resolved in source.parents:
        raise InvalidInput(
            f"{target} is the store itself or a folder holding it; an export replaces its target "
            f"whole, so give a new folder (e.g. {store / 'saelens'})",
            details={"path": str(target), "store": str(store)})
    if target.is_dir() and any(target.iterdir()):
        earlier = all((target / name).is_file() for name in _EXPORT_FILES)
        if not overwrite or not earlier:
            raise ExportTargetExists(target, overwrite=overwrite)


@dataclass(frozen=True)
class SaelensExport:
    """What an export wrote."""

    path: Path
    hook_names: list[str]
    context_size: int
    rows: int  # dataset rows (sequences of context_size tokens)
    tokens_exported: int
    tokens_dropped: int  # tail of the token stream that did not fill a row
    dtype: str
    # what a SAELens reader would take wrongly: rows that are not consecutive tokens
    warnings: tuple[str, ...] = ()
    column_names: str = "hook_points"
    columns: dict[str, str] = field(default_factory=dict)  # dataset column -> hook point
    exclude_first_position: bool = False
    first_positions_excluded: int = 0  # store rows at position 0 left out


def export_saelens(
    path: str | os.PathLike[str] | Activations,
    out_dir: str | os.PathLike[str],
    *,
    hook_names: str | Sequence[str] | None = None,
    context_size: int | None = None,
    dtype: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    allow_partial: bool = False,
    overwrite: bool = False,
    column_names: ColumnNames = "hook_points",
    modules: Mapping[str, str] | None = None,
    exclude_first_position: bool = False,
    on_assemble: Callable[[], None] | None = None,
) -> SaelensExport:
    """Write the store at ``path`` (or a store already opened) as a SAELens cached-activations
    dataset at ``out_dir``: ``plan_export``, then ``write_export``.

    hook_names: the hook points to export (default all; patterns as ``extract`` takes them,
    ``blocks.*.resid_post``: ``export_plan.hook_list``). context_size: tokens per dataset row
    (default: the common sequence length, if there is one). dtype: ``float16`` / ``float32``
    (default: the storage dtype, float32 for bfloat16). ``progress(done_rows, total_rows)`` is
    called per block written, then ``on_assemble()`` once, when the blocks are being assembled
    into the dataset (not counted, and not stoppable); ``should_stop()`` is checked per token
    shard read before the export and per block, and raises ``JobCancelled``.
    A store whose status is not ``complete`` is refused unless ``allow_partial``. With
    ``overwrite`` an existing ``out_dir`` is replaced, but only once the new export is whole:
    any error before then leaves it as it was.

    exclude_first_position: leave out every row at position 0 (a sequence's first token: the
    BOS / attention-sink rows whose norm can be many times the rest's and would dominate an
    SAE's MSE), from every column and ``token_ids`` alike; the default context size is then the
    sequences' common length without it. A store with no row past position 0 is refused.

    column_names: ``hook_points`` names each column by its point (``blocks.3.resid_post``);
    ``module_paths`` by the module whose output the point is (``model.layers.3``), the names
    SAELens hooks for an ``AutoModelForCausalLM``; it needs ``modules`` (hook point -> module
    path of each point read at a module's output: ``output_modules``) and refuses points read
    at a module's input (``NoModulePath``). ``EXPORT_MANIFEST`` in the export records each
    column's hook point and whether first positions were left out.
    """
    plan = plan_export(path, hook_names=hook_names, context_size=context_size, dtype=dtype,
                       should_stop=should_stop, allow_partial=allow_partial,
                       column_names=column_names, modules=modules,
                       exclude_first_position=exclude_first_position)
    return write_export(plan, out_dir, overwrite=overwrite, progress=progress,
                        should_stop=should_stop, on_assemble=on_assemble)


def write_export(
    plan: ExportPlan,
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_assemble: Callable[[], None] | None = None,
) -> SaelensExport:
    """Write ``plan`` at ``out_dir`` (see ``export_saelens``): the target and the free disk
    checked first, then the blocks, each checked for float16's range as it is written."""
    import datasets  # optional dependency, imported only when exporting

    acts, rows, ctx, columns = plan.acts, plan.rows, plan.context_size, plan.columns
    target = Path(out_dir)
    _check_target(acts.path, target, overwrite=overwrite)
    total_rows = plan.dataset_rows
    features = datasets.Features(
        {
            **{column: datasets.Array2D(shape=(ctx, acts[h].shape[1]), dtype=plan.dtype)
               for column, h in columns.items()},
            "token_ids": datasets.Sequence(datasets.Value("int32"), length=ctx),
        }
    )
    row_bytes = ctx * sum(acts[h].shape[1] for h in plan.hooks) * np.dtype(plan.dtype).itemsize
    block_rows = max(1, _BLOCK_BYTES // row_bytes)
    spanning, runs = 0, RunLengths()  # dataset rows holding two sequences; sequence lengths
    nonfinite = dict.fromkeys(plan.hooks, 0)  # exported token rows holding Inf / NaN, per point
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(target)  # before the disk check: what a killed export left counts there
    plan.check_disk(target.parent)
    with work_folder(target) as work:
        with _quiet(datasets):
            parts = []
            for k, (a, b) in enumerate(_blocks(total_rows, block_rows)):
                if should_stop is not None and should_stop():
                    raise JobCancelled("export cancelled; nothing was written to the target")
                block, sequence_of_row = _block(acts, columns, ctx, a, b, plan.dtype, rows,
                                                nonfinite)
                per_row = sequence_of_row.reshape(-1, ctx)  # (b - a, ctx)
                spanning += int(np.count_nonzero(per_row[:, 0] != per_row[:, -1]))
                runs.feed(sequence_of_row)
                part = work / f"part_{k:05d}"
                datasets.Dataset.from_dict(block, features=features).save_to_disk(str(part))
                parts.append(datasets.load_from_disk(str(part)))  # memory-mapped
                if progress is not None:
                    progress(b, total_rows)
            if on_assemble is not None:
                on_assemble()
            staged = work / "dataset"
            datasets.concatenate_datasets(parts).save_to_disk(str(staged))
            del parts
        (staged / EXPORT_MANIFEST).write_text(json.dumps({
            "column_names": plan.column_names, "columns": columns,
            "store": str(acts.path.resolve()), "context_size": ctx, "dtype": plan.dtype,
            "exclude_first_position": rows.excludes_first,
            "first_positions_excluded": rows.first_positions}, indent=1))
        with _SWAP_LOCK:  # another export's swap between these two lines would lose one
            if target.exists():  # empty, or replaced by request: set aside, deleted below
                os.replace(target, work / "previous")
            os.replace(staged, target)
    return SaelensExport(
        path=target,
        hook_names=plan.hooks,
        context_size=ctx,
        rows=total_rows,
        tokens_exported=total_rows * ctx,
        tokens_dropped=rows.total - total_rows * ctx,
        dtype=plan.dtype,
        warnings=(*positions_warnings(acts.spec.get("positions"), ctx,
                                      first_missing=(rows.first_missing, rows.sequences)),
                  *spanning_warnings(spanning, total_rows, ctx, runs.closed),
                  *nonfinite_warnings(nonfinite, total_rows * ctx)),
        column_names=plan.column_names,
        columns=columns,
        exclude_first_position=rows.excludes_first,
        first_positions_excluded=rows.first_positions,
    )


def spanning_warnings(spanning: int, rows: int, context_size: int,
                      lengths: Iterable[int]) -> tuple[str, ...]:
    """A dataset row holding the end of one stored sequence and the start of the next (a
    ``context_size`` that is not the sequences' length) is text SAELens reads as one context:
    how many rows do (``spanning`` of ``rows``), when any do, and whether one length would keep
    them apart. ``lengths``: the exported sequences' lengths, the last one left out (the rows
    start at the first sequence; the last may be cut)."""
    if not spanning:
        return ()
    seen = sorted(set(lengths))
    fix = (f"use their length, {seen[0]}, as context_size to keep them apart"
           if len(seen) == 1 else
           "the stored sequences have different lengths, so no one context_size keeps them apart")
    return (f"{spanning:,} of {rows:,} dataset rows hold tokens of two or more stored "
            f"sequences (context_size {context_size} packs the token stream across sequence "
            f"boundaries), which SAELens will treat as one text; {fix}",)


def positions_warnings(positions: dict[str, Any] | str | None, context_size: int, *,
                       first_missing: tuple[int, int] | None = None) -> tuple[str, ...]:
    """What the rows of a store extracted under ``positions`` (its spec's position policy) are,
    when they are not the consecutive tokens a SAELens dataset row of ``context_size`` stands
    for; nothing for ``all`` (or a store from before policies, which kept every token).
    ``first_missing``: (stored sequences whose first token is not stored, stored sequences),
    when counted: ``exclude_bos`` leaves out only a leading BOS, so over sequences none of which
    starts with one (a tokenizer that adds none) it kept every token and nothing is said."""
    policy = {"mode": positions} if isinstance(positions, str) else dict(positions or {})
    mode, k = policy.get("mode", "all"), int(policy.get("k") or 1)
    if mode == "last":
        held = ("one sequence's last token, with none of the text before it" if context_size == 1
                else f"the last tokens of {context_size} different sequences, which SAELens will "
                     "treat as consecutive text")
        return ("rows are not consecutive tokens: the store keeps only the last token of each "
                f"sequence (positions 'last'), so each dataset row holds {held}",)
    if mode == "every_k" and k > 1:
        return (f"rows are not consecutive tokens: the store keeps one token in {k} of each "
                f"sequence (positions 'every_k', k={k}: positions {k - 1}, {2 * k - 1}, "
                f"{3 * k - 1}, ...), so a dataset row of {context_size} holds tokens {k} apart, "
                "which SAELens will treat as consecutive text",)
    if mode == "exclude_bos":
        missing, sequences = first_missing if first_missing is not None else (1, 1)
        if not missing:
            return ()
        which = ("each sequence's first token is not stored" if missing >= sequences else
                 f"the first token (BOS) of {missing:,} of the {sequences:,} stored sequences "
                 "is not stored")
        return (f"{which} (positions 'exclude_bos'), so a dataset row starts at its sequence's "
                "second token, and a row packed across sequences (context_size) skips each "
                "next sequence's first token",)
    return ()


def nonfinite_warnings(nonfinite: Mapping[str, int], exported: int) -> tuple[str, ...]:
    """Exported token rows that hold Inf or NaN, per hook point, when any do: they are written
    as the store holds them (the float16 range check refuses only values the export itself
    would make inf), and an SAE trained on such a row gets a NaN loss. The extraction's
    warnings say where they come from (the storage dtype, or the model's own float16)."""
    return tuple(
        f"{hook}: {count:,} of {exported:,} exported token rows hold Inf or NaN, written as the "
        "store holds them; an SAE trained on them gets a NaN loss. The extraction's warnings "
        "say where they come from and how to keep them finite (store as bfloat16 / float32, "
        "or load the model at bf16 / fp32)"
        for hook, count in nonfinite.items() if count)


def _blocks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for a in range(0, total, size):
        yield a, min(a + size, total)


def _block(
    acts: Activations, columns: dict[str, str], ctx: int, a: int, b: int, dtype: str,
    rows: Rows, nonfinite: dict[str, int],
) -> tuple[dict[str, Any], np.ndarray]:
    """Dataset rows [a, b): each column's (b - a, ctx, d) activations (of its hook point) and
    (b - a, ctx) token ids, and the ((b - a) * ctx,) sequence index of each token row; adds
    each point's token rows holding Inf / NaN to ``nonfinite``."""
    source, tokens, keep = rows.read(a * ctx, b * ctx)  # tokens: (n, 3)
    block: dict[str, Any] = {}
    for column, h in columns.items():
        stored = acts[h][source][keep]  # (n, d) as read: float32 (bfloat16 decoded) or float16
        with np.errstate(over="ignore"):
            written = stored.astype(dtype, copy=False)
        if written.dtype != stored.dtype:
            check_float16_block(h, stored, written, acts.dtype)
        nonfinite[h] = nonfinite.get(h, 0) + int(np.count_nonzero(~np.isfinite(written)
                                                                   .all(axis=1)))
        block[column] = written.reshape(b - a, ctx, -1)
    block["token_ids"] = tokens[keep, 0].astype(np.int32).reshape(b - a, ctx)
    return block, tokens[keep, 1]


@contextlib.contextmanager
def _quiet(datasets: Any) -> Iterator[None]:
    """No progress bars from ``datasets`` while exporting (ml code reports through callbacks)."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()
