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
