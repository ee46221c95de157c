"""The progress reporter: throttled writes, forced writes on stage changes, rate and ETA."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy.exc import DBAPIError

from interpstudio.core.settings import Settings
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import make_engine, make_session_factory
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


def _record_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The fields of every progress write, in order (a spy: the writes still happen)."""
    seen: list[dict] = []
    update_fields = repo.update_fields

    def recording(session, job_id: int, **fields):  # type: ignore[no-untyped-def]
        seen.append(fields)
        return update_fields(session, job_id, **fields)

    monkeypatch.setattr(repo, "update_fields", recording)
    return seen


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


def test_a_stage_whose_first_reports_count_nothing_starts_its_rate_at_the_last_of_them(
        session_factory) -> None:
    """A resumed extraction reports the stored count, then (a batch later: it recomputes the
    batch holding its last stored sequence) the same count again, then real progress. The
    repeated count was a 0 tokens/s sample: the job read '0.00 tokens/s', then 0.3x the real
    rate with an ETA 3x too long. The rate starts at the last report that counted nothing."""
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock)
    reporter.update(stage="extract", total=16384, unit="tokens")
    reporter.update(done=8192)  # the store's count: where the resume starts
    clock.now = 3.3
    reporter.update(done=8192)  # the recomputed batch: nothing new
    reporter.flush()
    with session_factory() as session:
        assert repo.get(session, job_id).rate is None  # unknown, not 0
    for step in range(1, 4):  # then 2048 tokens every 3.2 s: 640 tokens/s
        clock.now = 3.3 + 3.2 * step
        reporter.update(done=8192 + 2048 * step)
    reporter.flush()
    with session_factory() as session:
        job = repo.get(session, job_id)
    assert abs(job.rate - 640.0) < 1e-6
    assert abs(job.eta_s - 2048 / 640) < 1e-6


@pytest.mark.parametrize("writes", ["inline", "background"])
def test_a_stage_change_first_writes_the_last_stages_final_count(
    session_factory, monkeypatch: pytest.MonkeyPatch, writes: str
) -> None:
    """The last count of a stage is usually still queued (throttled, or waiting for the monitor's
    tick) when the next stage begins; it is written as its own event, not merged away."""
    clock = FakeClock()
    job_id = _job(session_factory)
    seen = _record_writes(monkeypatch)
    reporter = ProgressReporter(session_factory, job_id, clock=clock, writes=writes)
    reporter.update(stage="download", done=0, total=100, unit="bytes")
    clock.now = 0.1
    reporter.update(done=100)  # throttled: queued
    reporter.update(stage="inspect")
    reporter.flush()
    final = next(i for i, w in enumerate(seen) if w.get("done") == 100.0)
    inspect = next(i for i, w in enumerate(seen) if w.get("stage") == "inspect")
    assert final < inspect
    with session_factory() as session:
        assert repo.get(session, job_id).stage == "inspect"


def test_background_updates_do_not_write(session_factory) -> None:
    """In a worker the task's updates only queue; the monitor's flush writes them, in order."""
    clock = FakeClock()
    job_id = _job(session_factory)
    reporter = ProgressReporter(session_factory, job_id, clock=clock, writes="background")
    reporter.update(stage="work", done=0, total=10, unit="items")
    clock.now = 5.0
    reporter.update(done=7)
    assert reporter.writes == 0
    with session_factory() as session:
        assert repo.get(session, job_id).stage is None
    assert reporter.flush()
    with session_factory() as session:
        job = repo.get(session, job_id)
    assert (job.stage, job.done, job.total) == ("work", 7, 10)
    assert reporter.flush() and reporter.writes == 1  # nothing queued: no write


def test_a_task_never_waits_for_a_locked_database(sqlite_settings: Settings) -> None:
    """Another process holding SQLite's write lock blocks a write for up to the busy timeout
    (30 s). The task's updates return at once; the monitor's flush waits instead (here, it
    finds the database locked and keeps the fields), and they land once the lock is gone."""
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    job_id = _job(factory)
    clock = FakeClock()  # a second per step: every update is due for a write
    reporter = ProgressReporter(factory, job_id, clock=clock, writes="background")
    reporter.update(stage="work", done=0, total=100, unit="items")
    holder = sqlite3.connect(sqlite_settings.resolved_database_url.removeprefix("sqlite:///"))
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long transaction elsewhere holds it
    flusher = threading.Thread(target=reporter.flush)  # the monitor's tick
    flusher.start()
    updated = threading.Event()

    def task() -> None:
        for step in range(1, 101):
            clock.now = float(step)
            reporter.update(done=step)
        updated.set()

    threading.Thread(target=task).start()
    try:
        # ordering, not timing: the lock is released only after the task's updates returned
        assert updated.wait(20), "the task's updates waited for the locked database"
        assert flusher.is_alive()  # the flush is the one waiting
    finally:
        holder.rollback()
        holder.close()
    flusher.join()
    reporter.flush()
    with factory() as session:
        assert repo.get(session, job_id).done == 100


def test_a_background_write_that_fails_for_another_reason_fails_the_task(
    sqlite_settings: Settings,
) -> None:
    """Only an unreachable database is waited out; a write the database refuses (here its jobs
    table is gone) is raised to the task at its next update, as an inline write would be."""
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    job_id = _job(factory)
    reporter = ProgressReporter(factory, job_id, writes="background")
    reporter.update(stage="work", done=0, total=10)
    with factory.begin() as session:
        session.connection().exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_moved")
    with pytest.raises(DBAPIError, match="no such table"):
        reporter.flush()
    with pytest.raises(DBAPIError, match="no such table"):
        reporter.update(done=1)


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


def test_a_tasks_progress_is_queued_for_the_runners_monitor(sqlite_settings: Settings) -> None:
    """What a task's ``ctx.progress`` does in a worker: queue, never write (the monitor flushes)."""
    from interpstudio.jobs.context import JobContext

    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    job_id = _job(factory)
    ctx = JobContext(job_id=job_id, kind="selftest", params={}, checkpoint=None,
                     settings=sqlite_settings, session_factory=factory,
                     stop_event=threading.Event())
    ctx.progress(stage="work", done=1, total=2, force=True)
    with factory() as session:
        assert repo.get(session, job_id).stage is None
    ctx.reporter.flush()
    with factory() as session:
        assert repo.get(session, job_id).stage == "work"


def test_a_resumed_jobs_first_stage_does_not_show_the_last_attempts_count(
        session_factory) -> None:
    """A resume keeps the last attempt's count on the queued row (what the store already holds);
    the new attempt's reporter starts empty, so its first stage ('load model', uncounted) kept
    that count under the new stage's name: '9,216 / 31,488 tokens' beside 'load model'."""
    from interpstudio.services import jobs as job_service

    job_id = _job(session_factory)
    with session_factory.begin() as session:
        repo.update_fields(session, job_id, state="cancelled", stage="extract", done=9216.0,
                           total=31488.0, unit="tokens", progress=9216 / 31488, rate=480.0,
                           eta_s=46.0)
    with session_factory.begin() as session:
        job_service.resume_job(session=session, job_id=job_id)
    with session_factory() as session:  # queued: the held count, no old rate or ETA
        job = repo.get(session, job_id)
        assert (job.stage, job.done, job.total, job.rate, job.eta_s) == (
            "extract", 9216, 31488, None, None)
    reporter = ProgressReporter(session_factory, job_id, clock=FakeClock())  # the new attempt
    reporter.update(stage="load model", message="loading at fp32")
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert (job.stage, job.done, job.total, job.unit, job.progress, job.rate, job.eta_s) == (
            "load model", None, None, None, None, None, None)
    reporter.update(stage="extract", done=9216, total=31488, unit="tokens")  # where it restarts
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert (job.stage, job.done, job.total, job.unit) == ("extract", 9216, 31488, "tokens")
