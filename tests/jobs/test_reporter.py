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
