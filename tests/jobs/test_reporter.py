"""The progress reporter: throttled writes, forced writes on stage changes, rate and ETA."""

from __future__ import annotations

from interpstudio.db.repositories import jobs as repo
from interpstudio.jobs.reporter import ProgressReporter


class FakeClock:
    """Deterministic time for the throttle (the reporter takes a clock; no sleeping in tests)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _job(session_factory) -> int:
    with session_factory.begin() as session:
        return repo.create(session, kind="selftest", params={}).id


def _close(session_factory, reporter: ProgressReporter, job_id: int, **kwargs) -> None:
    """What the runner does as the job ends: ``closing_fields`` written with its final state."""
    with session_factory.begin() as session:
        repo.update_fields(session, job_id, **reporter.closing_fields(**kwargs))


def test_updates_are_throttled_to_four_writes_per_second(session_factory) -> None:
    clock = FakeClock()
    reporter = ProgressReporter(session_factory, _job(session_factory), clock=clock)
    reporter.update(stage="work", done=0, total=1000, unit="tokens")
    for step in range(1, 1001):  # 1000 updates over 10 simulated seconds
        clock.now = step * 0.01
        reporter.update(done=step)
    assert reporter.writes <= 10 * 4 + 2
    assert reporter.writes >= 10 * 4 - 2


def test_stage_change_is_written_at_once(session_factory) -> None:
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="one", done=0, total=10)
    reporter.update(stage="two")
    with session_factory() as session:
        assert repo.get(session, job_id).stage == "two"


def test_rate_and_eta_follow_progress(session_factory) -> None:
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="work", done=0, total=100, unit="items")
    for step in range(1, 41):
        clock.now = step * 0.5
        reporter.update(done=step * 1.0)  # 2 items per second
    reporter.flush()
    with session_factory() as session:
        job = repo.get(session, job_id)
    assert job.progress == 0.4
    assert abs(job.rate - 2.0) < 1e-6
    assert abs(job.eta_s - 30.0) < 1e-6
    assert job.unit == "items"


def test_a_stage_change_first_writes_the_last_stages_final_count(session_factory) -> None:
    """The last count of a stage is usually still pending (throttled) when the next stage
    begins; it is written as its own event, not merged away."""
    clock = FakeClock()
    job_id = _job(session_factory)
    seen: list[tuple[str | None, float | None]] = []
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    flush = reporter.flush

    def recording(now: float | None = None) -> None:
        pending = dict(reporter._pending)
        flush(now)
        if pending:
            seen.append((pending.get("stage"), pending.get("done")))

    reporter.flush = recording  # type: ignore[method-assign]
    reporter.update(stage="download", done=0, total=100, unit="bytes")
    clock.now = 0.1
    reporter.update(done=100)  # throttled: pending
    reporter.update(stage="inspect")
    assert (None, 100.0) in seen


def test_an_uncounted_stage_does_not_show_the_last_stages_full_bar(session_factory) -> None:
    """A stage that brings no count starts indeterminate, without the last stage's message."""
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="copy", done=0, total=100, unit="bytes", message="copying")
    clock.now = 1.0
    reporter.update(done=100)
    reporter.update(stage="summarize")
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert (job.stage, job.done, job.total, job.unit, job.progress, job.message) == (
            "summarize", None, None, None, None, None)
    reporter.update(stage="inspect", done=0, total=4, unit="steps")  # a counted one keeps its own
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert (job.done, job.total, job.unit, job.progress) == (0, 4, "steps", 0.0)


def test_each_finished_stage_keeps_its_final_count_and_duration(session_factory) -> None:
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="download", done=0, total=50, unit="bytes")
    clock.now = 2.0
    reporter.update(done=50)
    reporter.update(stage="summarize")
    clock.now = 2.5
    reporter.update(stage="inspect", done=0, total=2, unit="steps")
    clock.now = 3.0
    reporter.update(done=2)
    _close(session_factory, reporter, job_id)
    assert reporter.closing_fields() == {}  # twice: nothing more
    with session_factory() as session:
        stages = repo.get(session, job_id).stages
    assert stages == [
        {"stage": "download", "done": 50.0, "total": 50, "unit": "bytes", "seconds": 2.0},
        {"stage": "summarize", "done": None, "total": None, "unit": None, "seconds": 0.5},
        {"stage": "inspect", "done": 2.0, "total": 2, "unit": "steps", "seconds": 0.5},
    ]


def test_a_job_that_succeeds_in_an_uncounted_stage_shows_the_last_count(session_factory) -> None:
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="extract", done=0, total=163, unit="tokens")
    reporter.update(done=163)
    reporter.update(stage="samples", message="decoding top-norm tokens")
    _close(session_factory, reporter, job_id, succeeded=True)
    with session_factory() as session:
        job = repo.get(session, job_id)
    assert (job.stage, job.done, job.total, job.unit) == ("samples", 163, 163, "tokens")
