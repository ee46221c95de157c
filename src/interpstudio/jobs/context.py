"""What a running task sees: its parameters, checkpoint, progress, cancellation and folders.

A task function receives one ``JobContext``. It reports progress with ``ctx.progress(...)`` (queued;
the runner's monitor thread writes it, so a slow database never holds the task up), calls
``ctx.check_cancelled()`` (or passes ``ctx.should_stop`` to ml code) between chunks of work, and
saves a checkpoint with ``ctx.save_checkpoint(...)`` so ``resume`` can continue, and writes the
rows it owns with ``ctx.update_row(...)`` or ``ctx.write(...)``, which wait out a brief database
outage. This module is NOT responsible for claiming jobs or deciding final states
(``runner.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import JobCancelled
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.repositories import rows
from interpstudio.db.repositories.rows import Row
from interpstudio.db.session import retry_while_unreachable
from interpstudio.jobs.reporter import ProgressReporter

T = TypeVar("T")


class JobContext:
    def __init__(
        self,
        *,
        job_id: int,
        kind: str,
        params: dict[str, Any],
        checkpoint: dict[str, Any] | None,
        settings: Settings,
        session_factory: sessionmaker[Session],
        stop_event: threading.Event,
    ) -> None:
        self.job_id = job_id
        self.kind = kind
        self.params = params
        self.checkpoint = checkpoint
        self.settings = settings
        self.paths = DataPaths(settings.data_dir)
        self.session_factory = session_factory
        # written by the runner's monitor thread: the task never waits for the database
        self.reporter = ProgressReporter(session_factory, job_id, writes="background")
        self._stop_event = stop_event

    @property
    def work_dir(self) -> Path:
        path = self.paths.job_dir(self.job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def progress(self, **fields: Any) -> None:
        self.reporter.update(**fields)

    def should_stop(self) -> bool:
        return self._stop_event.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait, but wake at once when the job is asked to stop."""
        if seconds > 0:
            self._stop_event.wait(seconds)

    def check_cancelled(self) -> None:
        if self._stop_event.is_set():
            raise JobCancelled()

    def save_checkpoint(self, checkpoint: dict[str, Any] | None) -> None:
        """Record where ``resume`` continues from (waits out an outage: see ``write``), rather
        than go on from a resume point that was never recorded; ``None``: nothing to continue
        from (a resume starts afresh)."""
        self.checkpoint = checkpoint
        self.reporter.flush()
        self.write("checkpoint",
                   lambda session: repo.update_fields(session, self.job_id, checkpoint=checkpoint))

    def update_row(self, table: type[Row], row_id: int, **fields: Any) -> bool:
        """Set ``fields`` on the ``table`` row the task works for (one retried transaction: see
        ``write``); False when the row is gone (deleted meanwhile: nothing to record)."""

        def work(session: Session) -> bool:
            row = session.get(table, row_id)
            if row is not None:
                rows.update(session, row, **fields)
            return row is not None

        return self.write(f"{table.__tablename__} row {row_id}", work)

    def write(self, what: str, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction, again while the database is unreachable, for up to
        ``DB_RETRY_S``: a task's record of what it made (a row's status, counts, checkpoint) must
        not be lost to a network blip. ``work`` must be safe to repeat (it sets fields)."""

        def attempt() -> T:
            with self.session_factory.begin() as session:
                return work(session)

        return retry_while_unreachable(attempt, what=f"job {self.job_id}'s {what}")
