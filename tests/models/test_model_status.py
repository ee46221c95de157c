"""The status a model is shown with when its task could not write it: its job's final state,
and a pause (which ends the job as ``cancelled``) shown as ``paused``."""

from __future__ import annotations

from interpstudio.db.models import Job, Model
from interpstudio.services.models import effective_status


def test_a_paused_model_whose_row_was_not_written_yet_shows_paused() -> None:
    """`models cancel --pause` of a running download printed `cancelled` when it read the job's
    final state before the task had written the row (findings F12)."""
    job = Job(kind="model_download", params={}, state="cancelled")
    paused = Model(key="k", name="m", source="hub", status="downloading",
                   info={"pause_requested": True})
    cancelled = Model(key="k2", name="m2", source="hub", status="downloading", info={})
    assert effective_status(paused, job) == "paused"
    assert effective_status(cancelled, job) == "cancelled"
