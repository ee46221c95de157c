"""Use cases of an extraction's SAELens export: check it up front, run it (in the request, or in
the ``extraction_export`` job this module queues), and say which export job of a row is under way.

The export writes ``extractions/<id>/saelens`` (HF Arrow, SAELens cached-activations layout) with
``ml.export.write_export``, which swaps its temp folder in only once the new export is whole:
an error or a cancel leaves the previous export as it was. A complete extraction exports its
store; a stopped one (``PARTIAL_STATUSES``: cancelled, interrupted) exports the whole shards it
kept, and the answer says so (``partial`` and a warning). ``check_export`` makes every refusal
that can be known before the work (not exportable, an export of the row already under way,
unknown hook point, no module path, sequences of different lengths without a context size,
values beyond float16's range that the store's statistics show, not enough disk for the rows
the export will write), so a request to queue the job answers at once instead of queuing one
that fails; it opens the store once and reads its token table once, and its plan is what the
export in the request (``export_now``, the CLI) writes.

This module is NOT responsible for running the job (``jobs/tasks/extraction_export.py``) or for
the export itself (``ml/export.py``). Functions take keyword-only arguments and a session they
do not commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.orm import Session

from interpstudio.core.errors import Conflict, InvalidInput
from interpstudio.core.paths import DataPaths
from interpstudio.db.models import ACTIVE_STATES, Extraction, Job
from interpstudio.db.repositories import jobs as job_repo
from interpstudio.services import jobs as job_service
from interpstudio.services.extraction_errors import ExtractionResultsNotReady
from interpstudio.services.extraction_params import ExportOptions
from interpstudio.services.extractions import EXPORT_DIR, STORE_DIR, extraction_dir
from interpstudio.services.model_files import architecture_file

if TYPE_CHECKING:
    from interpstudio.ml.export import ExportPlan
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
    """The queued or running export job of ``extraction_id``, if any."""
    jobs, _ = job_repo.list_jobs(session, states=ACTIVE_STATES, kinds=[KIND],
                                 extraction_id=extraction_id, limit=1)
    return jobs[0] if jobs else None


def refuse_while_exporting(*, session: Session, extraction_id: int, action: str) -> None:
    job = export_job_underway(session=session, extraction_id=extraction_id)
    if job is not None:
        raise ExportUnderway(extraction_id, job.id, action)


def check_export(*, session: Session, paths: DataPaths, row: Extraction,
                 options: ExportOptions) -> ExportPlan:
    """Every refusal known before the work: another export of the row under way, then
    ``plan_extraction_export``'s. The plan is what ``export_extraction`` writes."""
    refuse_while_exporting(session=session, extraction_id=row.id, action="exported again")
    return plan_extraction_export(paths=paths, row=row, options=options)


def plan_extraction_export(*, paths: DataPaths, row: Extraction, options: ExportOptions,
                           should_stop: Callable[[], bool] | None = None) -> ExportPlan:
    """The row's export planned on its store, opened once (``ml.export.plan_export``): a row
    with no store to export, an empty or unknown hook point list, a point without a module
    path, a bad context size, values the statistics show beyond float16's range, and too little
    disk for the rows it will write (twice: the blocks, then the dataset made of them) are
    refused here."""
    from interpstudio.ml.export import plan_export

    acts = _exportable(paths, row)
    modules = (_output_modules(paths, row.model_id) if options.column_names == "module_paths"
               else None)
    plan = plan_export(acts, hook_names=options.hook_points, context_size=options.context_size,
                       dtype=options.dtype, should_stop=should_stop,
                       allow_partial=row.status != "complete", column_names=options.column_names,
                       modules=modules, exclude_first_position=options.exclude_first_position)
    plan.check_disk(extraction_dir(paths, row))
    return plan


def start_export(*, session: Session, paths: DataPaths, row: Extraction,
                 options: ExportOptions) -> Job:
    """Check, then queue the ``extraction_export`` job; its result is ``export_extraction``'s."""
    check_export(session=session, paths=paths, row=row, options=options)
    return job_service.create_job(session=session, kind=KIND,
                                  params={"extraction_id": row.id, **options.model_dump()})


def export_now(*, session: Session, paths: DataPaths, row: Extraction,
               options: ExportOptions) -> dict[str, Any]:
    """The export in the caller's process (the synchronous API and the CLI's default)."""
    plan = check_export(session=session, paths=paths, row=row, options=options)
    return export_extraction(paths=paths, row=row, options=options, plan=plan)


def export_extraction(*, paths: DataPaths, row: Extraction, options: ExportOptions,
                      plan: ExportPlan | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      on_assemble: Callable[[], None] | None = None) -> dict[str, Any]:
    """Write ``extractions/<id>/saelens``: ``plan`` (``check_export``'s), or the row's export
    planned now (the job's: the row may have changed since it was queued).
    ``column_names="module_paths"`` names columns by the model's module paths, read from the
    model's ``architecture.json`` (its import's record), so no model is loaded.
    ``exclude_first_position`` leaves out the rows at position 0 (BOS / attention sinks).
    ``progress(done_rows, total_rows)``, ``on_assemble()`` and ``should_stop()`` are
    ``write_export``'s; a stop raises ``JobCancelled`` and leaves the previous export."""
    from interpstudio.ml.export import write_export

    if plan is None:
        plan = plan_extraction_export(paths=paths, row=row, options=options,
                                      should_stop=should_stop)
    partial = row.status != "complete"
    target = extraction_dir(paths, row) / EXPORT_DIR  # replaced only by a whole new export
    replaced = target.exists()  # said in the answer: a reader of the old one may be open
    done = write_export(plan, target, overwrite=True, progress=progress,
                        should_stop=should_stop, on_assemble=on_assemble)
    warnings = list(done.warnings)
    if partial:
        shards = len(plan.acts.manifest["shards"])
        warnings.insert(0, (
            f"extraction {row.id} is {row.status}: this export holds the "
            f"{len(plan.acts.tokens):,} rows of its {shards} whole "
            f"shard{'' if shards == 1 else 's'}, not the whole run; resume the extraction and "
            "export again for all of it"))
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
