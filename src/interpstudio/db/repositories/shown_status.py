"""A list of rows that carry a job (models, extractions), filtered by the status each is *shown*
with, paged newest first.

A row's stored ``status`` is written by its task; when the task could not write it (a killed
worker, a cancel before the task ran) the service shows a status corrected from the job row
(``services/models.effective_status``, ``services/extractions.effective_status``). A filter on
the stored column finds such rows by the stale status and misses them by the shown one, so a
status filter here reads the candidates with their jobs and judges each by the service's rule.
Candidates are the rows stored with an asked-for status and every row not ``settled`` (a
settled status is shown as it is stored, whatever the job says): a settled row that is not asked
for is never read, and the rows not settled are the few under way or cut short.

This module is NOT responsible for the rule itself (the services pass it) or for the other
filters of a list (each table's repository builds its query).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from interpstudio.db.models import Extraction, Job, Model

JobRow = TypeVar("JobRow", Extraction, Model)


def list_by_shown_status(
    session: Session,
    query: Select[Any],
    entity: type[JobRow],
    *,
    statuses: Sequence[str],
    settled: Sequence[str],
    shown: Callable[[JobRow, Job | None], str],
    limit: int,
    offset: int,
) -> tuple[list[JobRow], int]:
    """The rows of ``query`` (a ``select(entity)`` with its other filters) newest first, those
    ``shown(row, job)`` with one of ``statuses`` when any are given, and the total of that set.
    ``job`` is None when the row has none or it is gone."""
    order = entity.id.desc()
    if not statuses:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(order).limit(limit).offset(offset)).all()
        return list(rows), int(total)
    candidates = (query.add_columns(Job).outerjoin(Job, Job.id == entity.job_id)
                  .where(or_(entity.status.in_(list(statuses)),
                             entity.status.not_in(list(settled)))))
    matching = [row for row, job in session.execute(candidates.order_by(order))
                if shown(row, job) in statuses]
    return matching[offset:offset + limit], len(matching)
