"""Use cases of an extraction's SAELens export: check it up front, run it (in the request, or in
the ``extraction_export`` job this module queues), and say which export job of a row is under way.

The export writes ``extractions/<id>/saelens`` (HF Arrow, SAELens cached-activations layout) with
``ml.export.export_saelens``, which swaps its temp folder in only once the new export is whole:
an error or a cancel leaves the previous export as it was. A complete extraction exports its
store; a stopped one (``PARTIAL_STATUSES``: cancelled, interrupted) exports the whole shards it
kept, and the answer says so (``partial`` and a warning). ``check_export`` makes every refusal
that can be known before the work (not exportable, an export of the row already under way,
unknown hook point, no module path, not enough disk), so a request to queue the job answers at
once instead of queuing one that fails.

This module is NOT responsible for running the job (``jobs/tasks/extraction_export.py``) or for
the export itself (``ml/export.py``). Functions take keyword-only arguments and a session they
do not commit.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from sqlalchemy.orm import Session

from interpstudio.core.errors import Conflict, InsufficientDisk, InvalidInput
from interpstudio.core.paths import DataPaths
from interpstudio.db.models import ACTIVE_STATES, Extraction, Job
from interpstudio.db.repositories import jobs as job_repo
from interpstudio.services import jobs as job_service
from interpstudio.services.extraction_errors import ExtractionResultsNotReady
from interpstudio.services.extraction_params import ExportOptions
from interpstudio.services.extractions import EXPORT_DIR, STORE_DIR, extraction_dir
from interpstudio.services.model_files import architecture_file

if TYPE_CHECKING:
    from interpstudio.ml.store_reader import Activations

KIND = "extraction_export"
# a stopped run's whole shards are a valid store of the tokens they hold; a failed run is
# refused (what failed may be the store), a running one is still writing
PARTIAL_STATUSES = ("cancelled", "interrupted")


class ExportUnderway(Conflict):
    """An export of this extraction is queued or running: a second one would write the same
    folder, and a delete would remove it under the first."""

    code = "export_underway"

    def __init__(self, extraction_id: int, job_id: int, action: str) -> None:
        super().__init__(
            f"extraction {extraction_id} cannot be {action}: its export (job {job_id}) is under "
            "way; wait for it or cancel it",
            details={"extraction_id": extraction_id, "job_id": job_id, "action": action})


def export_job_underway(*, session: Session, extraction_id: int) -> Job | None:
    """The queued or running export job of ``extraction_id``, if any (few at a time: filtered
    here rather than by a JSON query that SQLite and PostgreSQL spell differently)."""
    jobs, _ = job_repo.list_jobs(session, states=ACTIVE_STATES, kinds=[KIND], limit=1000)
    return next((j for j in jobs if int(j.params.get("extraction_id", 0)) == extraction_id), None)


def refuse_while_exporting(*, session: Session, extraction_id: int, action: str) -> None:
    job = export_job_underway(session=session, extraction_id=extraction_id)
    if job is not None:
        raise ExportUnderway(extraction_id, job.id, action)


def check_export(*, session: Session, paths: DataPaths, row: Extraction,
                 options: ExportOptions) -> None:
    """Every refusal known before the work: another export of the row under way, a row with no
    store to export, an empty or unknown hook point list, a point without a module path, and
    too little disk. The disk bound counts every stored row (the export drops a short tail and,
    when asked, the first positions: at most that much less), twice, as the export itself does
    (blocks, then the dataset made of them)."""
    from interpstudio.ml.export import column_map, hook_list

    refuse_while_exporting(session=session, extraction_id=row.id, action="exported again")
    acts = _exportable(paths, row)
    hooks = hook_list(options.hook_points, acts)  # the export's own check: empty, unknown
    modules = (_output_modules(paths, row.model_id) if options.column_names == "module_paths"
               else None)
    column_map(hooks, options.column_names, modules, acts.hook_names)
    out_dtype = options.dtype or ("float32" if acts.dtype == "bfloat16" else acts.dtype)
    row_bytes = (sum(acts[h].shape[1] for h in hooks) * np.dtype(out_dtype).itemsize
                 + np.dtype(np.int32).itemsize)
    folder = extraction_dir(paths, row)
    needed = 2 * len(acts.tokens) * row_bytes
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InsufficientDisk(needed=needed, free=free, path=str(folder))


def start_export(*, session: Session, paths: DataPaths, row: Extraction,
                 options: ExportOptions) -> Job:
    """Check, then queue the ``extraction_export`` job; its result is ``export_extraction``'s."""
    check_export(session=session, paths=paths, row=row, options=options)
    return job_service.create_job(session=session, kind=KIND,
                                  params={"extraction_id": row.id, **options.model_dump()})


def export_now(*, session: Session, paths: DataPaths, row: Extraction,
               options: ExportOptions) -> dict[str, Any]:
    """The export in the caller's process (the synchronous API and the CLI's default)."""
    check_export(session=session, paths=paths, row=row, options=options)
    return export_extraction(paths=paths, row=row, options=options)


def export_extraction(*, paths: DataPaths, row: Extraction, options: ExportOptions,
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    """Write ``extractions/<id>/saelens``. ``column_names="module_paths"`` names columns by the
    model's module paths, read from the model's ``architecture.json`` (its import's record), so
    no model is loaded. ``exclude_first_position`` leaves out the rows at position 0 (BOS /
    attention sinks). ``progress(done_rows, total_rows)`` and ``should_stop()`` are
    ``export_saelens``'s; a stop raises ``JobCancelled`` and leaves the previous export."""
    from interpstudio.ml.export import export_saelens

    acts = _exportable(paths, row)
    partial = row.status != "complete"
    modules = (_output_modules(paths, row.model_id) if options.column_names == "module_paths"
               else None)
    folder = extraction_dir(paths, row)
    target = folder / EXPORT_DIR  # a previous export is replaced only by a whole new one
    replaced = target.exists()  # said in the answer: a reader of the old one may be open
    done = export_saelens(folder / STORE_DIR, target, hook_names=options.hook_points,
                          context_size=options.context_size, dtype=options.dtype,
                          overwrite=True, allow_partial=partial, progress=progress,
                          should_stop=should_stop, column_names=options.column_names,
                          modules=modules, exclude_first_position=options.exclude_first_position)
    warnings = list(done.warnings)
    if partial:
        shards = len(acts.manifest["shards"])
        warnings.insert(0, (
            f"extraction {row.id} is {row.status}: this export holds the {len(acts.tokens):,} "
            f"rows of its {shards} whole shard{'' if shards == 1 else 's'}, not the whole run; "
            "resume the extraction and export again for all of it"))
    return {"path": str(target.relative_to(paths.root)), "abs_path": str(target),
            "hook_points": done.hook_names, "hook_names": done.hook_names,  # deprecated alias
            "context_size": done.context_size, "rows": done.rows,
            "tokens_exported": done.tokens_exported, "tokens_dropped": done.tokens_dropped,
            "dtype": done.dtype, "replaced": replaced, "partial": partial, "warnings": warnings,
            "column_names": done.column_names, "columns": done.columns,
            "exclude_first_position": done.exclude_first_position,
            "first_positions_excluded": done.first_positions_excluded}


def _exportable(paths: DataPaths, row: Extraction) -> Activations:
    """The row's store, opened, when it may be exported: complete, or stopped with at least one
    whole shard."""
    from interpstudio.ml.store_reader import open_activations

    store = extraction_dir(paths, row) / STORE_DIR
    allowed = row.status == "complete" or row.status in PARTIAL_STATUSES
    if not allowed or not (store / "manifest.json").is_file():
        raise ExtractionResultsNotReady(row.id, "activations to export", row.status)
    acts = open_activations(store)
    if not acts.manifest["shards"]:  # stopped before its first whole shard
        raise ExtractionResultsNotReady(row.id, "activations to export", row.status)
    return acts


def _output_modules(paths: DataPaths, model_id: int) -> dict[str, str]:
    """Hook point -> module path of the model's output-read points, from its architecture.json."""
    from interpstudio.ml.export import output_modules

    file = architecture_file(paths, model_id)
    try:
        layers = orjson.loads(file.read_bytes())["layers"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(
            f"model {model_id}'s module paths are unknown: its architecture record ({file}, "
            "written when it was imported) is missing or unreadable; export with column_names "
            "'hook_points', or import the model again",
            details={"model_id": model_id, "path": str(file)}) from exc
    return output_modules(layers)
