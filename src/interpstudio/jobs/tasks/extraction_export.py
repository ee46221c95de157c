"""The ``extraction_export`` job: an extraction's store written as a SAELens dataset
(``services/extraction_export.export_extraction``), off the request that asked for it.

Stages: ``export`` (progress in dataset rows, one report per block written; cancellable before
each block), then ``assemble`` (the blocks made into the dataset and swapped in: neither reported
nor stoppable). A cancel or an error leaves the previous export as it was (the new one lives in a
temp folder until it is whole). The job's ``result`` is what ``POST /extractions/{id}/export``
answers.

This module is NOT responsible for the rules of what may be exported (checked again here, as the
row may have changed since the job was queued) or for the export itself (``ml/export.py``).
"""

from __future__ import annotations

from typing import Any

from interpstudio.db.models import Extraction
from interpstudio.jobs.context import JobContext
from interpstudio.services.extraction_errors import ExtractionNotFound
from interpstudio.services.extraction_export import export_extraction
from interpstudio.services.extraction_params import ExportOptions, ExtractionExportParams


def run_extraction_export(ctx: JobContext) -> dict[str, Any]:
    params = ExtractionExportParams.model_validate(ctx.params)
    with ctx.session_factory() as session:
        row = session.get(Extraction, params.extraction_id)
        if row is None:
            raise ExtractionNotFound(params.extraction_id)
        session.expunge(row)
    options = ExportOptions(**params.model_dump(exclude={"extraction_id"}))
    ctx.progress(stage="export", unit="rows", message="reading the store's token table")

    def on_progress(done: int, total: int) -> None:
        if done < total:
            ctx.progress(stage="export", done=done, total=total, unit="rows")
        else:  # the last block: what follows is the assembly, neither reported nor stoppable
            ctx.progress(stage="assemble", done=done, total=total, unit="rows",
                         message="assembling the blocks into the dataset")

    return export_extraction(paths=ctx.paths, row=row, options=options, progress=on_progress,
                             should_stop=ctx.should_stop)
