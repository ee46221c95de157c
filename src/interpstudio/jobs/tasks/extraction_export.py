"""The ``extraction_export`` job: an extraction's store written as a SAELens dataset
(``services/extraction_export.export_extraction``), off the request that asked for it.

Stages: ``export`` (progress in dataset rows, unit "sequences": each row is a sequence of
context-size tokens, not an activation row; one report per block written; cancellable before
each block), then ``assemble`` (the blocks made into the dataset and swapped in: one ``datasets``
call, so the stage has no count, an indeterminate bar, and a message saying that it cannot be
stopped; a cancel that arrives then lets it finish, and the result's warnings say so: one the
runner has handed to the task, or one still only on the job's row, asked in the last moments of
the assembly, before the runner's next read of it). A cancel before it or an error leaves the
previous export as it was (the new one lives in a temp folder until it is whole). The job's
``result`` is what ``POST /extractions/{id}/export`` answers.

This module is NOT responsible for the rules of what may be exported (checked again here, as the
row may have changed since the job was queued) or for the export itself (``ml/export.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import DBAPIError

from interpstudio.db.models import Extraction, Job
from interpstudio.jobs.context import JobContext
from interpstudio.services.extraction_errors import ExtractionNotFound
from interpstudio.services.extraction_export import export_extraction
from interpstudio.services.extraction_params import ExportOptions, ExtractionExportParams

ASSEMBLING = ("assembling the blocks into the dataset (this last step cannot be stopped: a cancel "
              "now lets it finish)")
CANCEL_TOO_LATE = ("the cancel arrived while the dataset was being assembled, which cannot be "
                   "stopped: the export finished and replaced the previous one")


def run_extraction_export(ctx: JobContext) -> dict[str, Any]:
    params = ExtractionExportParams.model_validate(ctx.params)
    with ctx.session_factory() as session:
        row = session.get(Extraction, params.extraction_id)
        if row is None:
            raise ExtractionNotFound(params.extraction_id)
        session.expunge(row)
    options = ExportOptions(**params.model_dump(exclude={"extraction_id"}))
    ctx.progress(stage="export", unit="sequences", message="reading the store's token table")

    def on_progress(done: int, total: int) -> None:
        ctx.progress(stage="export", done=done, total=total, unit="sequences")

    def on_assemble() -> None:  # one datasets call: no count to report, no point to stop at
        ctx.progress(stage="assemble", message=ASSEMBLING)

    result = export_extraction(paths=ctx.paths, row=row, options=options, progress=on_progress,
                               should_stop=ctx.should_stop, on_assemble=on_assemble)
    if cancel_asked(ctx):  # asked while the dataset was assembled: it finished all the same
        result["warnings"].append(CANCEL_TOO_LATE)
    return result


def cancel_asked(ctx: JobContext) -> bool:
    """Whether a cancel was asked: the runner has handed it to the task (``should_stop``), or it
    is on the job's row still (the runner's monitor reads it every ``CANCEL_POLL_S``: a short
    assembly ends before it does, and the cancel was dropped without a word). Where the row
    cannot be read, the task's flag alone answers: the export is done either way."""
    if ctx.should_stop():
        return True
    try:
        with ctx.session_factory() as session:
            job = session.get(Job, ctx.job_id)
            return bool(job is not None and job.cancel_requested)
    except DBAPIError:
        return False
