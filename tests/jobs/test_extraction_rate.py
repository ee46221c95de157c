"""An extraction job's rate and ETA over a real resumed run: the engine's reports, turned into the
job's progress by the task (``progress_fields``), fed to the real reporter. The reporter's clock
is the engine's own elapsed time (x1000: a tiny model's batch takes milliseconds, and the
reporter ignores samples closer than 0.2 s), so nothing here waits or depends on the machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interpstudio.core.errors import JobCancelled
from interpstudio.db.repositories import jobs as repo
from interpstudio.jobs.reporter import ProgressReporter
from interpstudio.jobs.tasks.extraction import progress_fields
from interpstudio.ml import extract
from ml.extract_helpers import random_sequences, write_tokenization
from ml.tiny_models import tiny_causal_lm

SEQUENCES = random_sequences(23, high=16, seed=3)
OPTIONS: dict[str, Any] = {"batch_size": 4, "dtype": "float16", "shard_rows": 7, "durable": False}


class EngineClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_resumed_runs_rate_counts_the_batch_it_recomputes(tmp_path: Path,
                                                            session_factory) -> None:
    """A tester: a run resumed from 3,883 stored tokens recomputed the 2,048-token batch holding
    its last stored row, reported 4,096 after it, and the job read 6 tokens/s with an ETA of
    11 minutes for a ~40 s rest: the rate counted the 213 tokens ``done`` moved, not the batch."""
    tokens = write_tokenization(tmp_path / "tok", SEQUENCES)
    model = tiny_causal_lm("llama")
    store = tmp_path / "store"
    asked = iter(range(1000))
    with pytest.raises(JobCancelled):
        extract(model, tokens, ["blocks.*.resid_post"], out_dir=store,
                should_stop=lambda: next(asked) >= 4, **OPTIONS)

    with session_factory.begin() as session:
        job_id = repo.create(session, kind="extract", params={}).id
    clock = EngineClock()
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="extract", total=sum(map(len, SEQUENCES)), unit="tokens")
    seen: list[tuple[Any, float | None]] = []

    def on_progress(p: Any) -> None:
        clock.now = p.elapsed_s * 1000
        reporter.update(**progress_fields(p, "compute"))
        reporter.flush()
        with session_factory() as session:
            seen.append((p, repo.get(session, job_id).rate))  # type: ignore[union-attr]

    extract(model, tokens, ["blocks.*.resid_post"], out_dir=store, resume=True,
            progress=on_progress, **OPTIONS)
    (start, _), (first, rate) = seen[0], seen[1]
    assert start.stored and first.tokens_per_s is not None
    computed = first.tokens_per_s * first.elapsed_s  # the whole recomputed batch
    moved = first.tokens_done - start.tokens_done
    assert 0 < moved < computed  # the case: the last stored row was inside the batch
    assert rate is not None
    assert rate * (first.elapsed_s - start.elapsed_s) * 1000 == pytest.approx(computed)
