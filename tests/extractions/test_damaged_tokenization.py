"""An extraction whose tokenization was damaged on disk after it was queued: its job fails with a
typed error naming the file and what to do, on a real SQLite database, a real worker and the tiny
llama (the damage is real: junk bytes written over ``tokens.npy``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from extraction_world import ExtractionWorld
from helpers import wait_for
from interpstudio.core.settings import Settings
from interpstudio.db.models import FINISHED_STATES, Job, Tokenization
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import ExtractionSpec


def test_junk_in_tokens_npy_fails_the_run_as_a_damaged_tokenization(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """A tester: the run failed in its check stage as ``internal_error`` with numpy's "This file
    contains pickled (object) data ... allow_pickle", naming neither the file nor a way out."""
    tokenization_id = world.tokenization()
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=tokenization_id,
                          hook_points=["blocks.0.resid_post"], batch_size=2, device="cpu")
    with world.factory.begin() as session:
        extraction = service.create_extraction(session=session, settings=world.settings,
                                               spec=spec)
        extraction_id, job_id = extraction.id, extraction.job_id
        folder = world.settings.data_dir / str(session.get(Tokenization, tokenization_id).path)
    tokens = folder / "tokens.npy"
    tokens.write_bytes(os.urandom(4096))
    worker_thread(world.settings)

    def finished() -> Job | None:
        with world.factory() as session:
            job = session.get(Job, job_id)
            assert job is not None
            session.expunge(job)
            return job if job.state in FINISHED_STATES else None

    job = wait_for(finished, timeout=300)
    assert (job.state, job.error_code) == ("failed", "tokenization_damaged"), job.error_message
    message = job.error_message or ""
    assert str(tokens) in message and "pickle" not in message
    assert "delete it and tokenize the dataset again" in message
    with world.factory() as session:
        assert service.get_extraction(session=session, extraction_id=extraction_id).status \
            == "failed"
