"""The job runner end to end with real workers: success, failure, cancel, resume, retry, a real
kill -9 of a worker process, graceful shutdown."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import make_settings, start_worker_process, wait_for
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.migrate import upgrade
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker
from interpstudio.services import jobs as service


def _create(settings: Settings, **params) -> int:
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        return service.create_job(session=session, kind="selftest", params=params).id


def _job(settings: Settings, job_id: int):
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory() as session:
        return service.get_job(session=session, job_id=job_id)


def _act(settings: Settings, action, job_id: int):
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        return action(session=session, job_id=job_id)


def _cancel(**ids: int):  # type: ignore[no-untyped-def]
    return service.cancel_job(paths=None, **ids)  # a selftest job is handed no access token


def _state_is(settings: Settings, job_id: int, *states: str):
    job = _job(settings, job_id)
    return job if job.state in states else None


def test_selftest_succeeds_with_stages_and_result(settings: Settings, worker_thread) -> None:
    worker_thread(settings)
    job_id = _create(settings, iterations=5)
    job = wait_for(lambda: _state_is(settings, job_id, "succeeded", "failed"))
    assert job.state == "succeeded", job.error_message
    assert job.progress == 1.0 and job.done == 5 and job.unit == "passes"
    assert job.result["disk"]["checksum_ok"] is True
    assert job.result["forward"]["passes"] == 5
    assert job.started_at <= job.finished_at


def test_task_error_fails_job_with_code_and_message(sqlite_settings: Settings, worker_thread):
    worker_thread(sqlite_settings)
    job_id = _create(sqlite_settings, iterations=5, fail_at=3)
    job = wait_for(lambda: _state_is(sqlite_settings, job_id, "succeeded", "failed"))
    assert job.state == "failed"
    assert job.error_code == "selftest_failed"
    assert "iteration 3" in job.error_message


def test_an_unexpected_error_keeps_the_stages_it_went_through(
    sqlite_settings: Settings, worker_thread
) -> None:
    """A bug-like exception (not an AppError) fails the job as internal_error and, as for an
    AppError, the stage it crashed in stays on the row. The fault is real: a file where the job's
    folder goes makes the disk stage's mkdir raise FileExistsError."""
    from interpstudio.core.paths import DataPaths

    job_id = _create(sqlite_settings, iterations=5)
    blocker = DataPaths(sqlite_settings.data_dir).job_dir(job_id)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    worker_thread(sqlite_settings)
    job = wait_for(lambda: _state_is(sqlite_settings, job_id, "succeeded", "failed"))
    assert job.state == "failed" and job.error_code == "internal_error"
    assert [s["stage"] for s in job.stages] == ["torch", "disk"]
    assert job.stages[0]["total"] == 5 and job.stages[1]["total"] is None


def test_cancel_running_job_stops_it_within_two_seconds(settings: Settings, worker_thread):
    worker_thread(settings)
    job_id = _create(settings, iterations=1000, step_delay_s=0.05)
    wait_for(lambda: (_job(settings, job_id).done or 0) >= 2)
    requested = utcnow()
    _act(settings, _cancel, job_id)
    job = wait_for(lambda: _state_is(settings, job_id, "cancelled"), timeout=10)
    # measured by the worker's own finish time, not this test's polling (slow on a loaded CI box)
    assert (job.finished_at - requested).total_seconds() < 2.0
    assert job.error_code == "cancelled" and job.done < 1000


def test_cancel_queued_job_is_immediate(sqlite_settings: Settings) -> None:
    job_id = _create(sqlite_settings)
    job = _act(sqlite_settings, _cancel, job_id)
    assert job.state == "cancelled"


def test_resume_continues_from_checkpoint_and_retry_starts_afresh(
    sqlite_settings: Settings, worker_thread
) -> None:
    settings = sqlite_settings
    worker_thread(settings)
    job_id = _cancelled_midway(settings)
    _act(settings, service.resume_job, job_id)
    resumed = wait_for(lambda: _state_is(settings, job_id, "succeeded"), timeout=120)
    assert resumed.result["forward"]["resumed_from"] >= 10
    assert resumed.attempt == 2

    # a retry is for a stopped job (a succeeded one is refused): one cancelled with a
    # checkpoint starts afresh
    again = _cancelled_midway(settings)
    _act(settings, service.retry_job, again)
    retried = wait_for(lambda: _state_is(settings, again, "succeeded"), timeout=120)
    assert retried.result["forward"]["resumed_from"] == 0
    assert retried.attempt == 2


def _cancelled_midway(settings: Settings) -> int:
    """A selftest job cancelled after 12 of its 30 steps, its checkpoint kept; its id."""
    job_id = _create(settings, iterations=30, step_delay_s=0.05)
    wait_for(lambda: (_job(settings, job_id).done or 0) >= 12, timeout=120)
    _act(settings, _cancel, job_id)
    cancelled = wait_for(lambda: _state_is(settings, job_id, "cancelled"), timeout=60)
    assert cancelled.checkpoint["iterations_done"] >= 10
    return job_id


def test_kill_9_worker_then_restart_interrupts_and_resume_succeeds(
    settings: Settings, tmp_path: Path
) -> None:
    job_id = _create(settings, iterations=60, step_delay_s=0.05)
    first = start_worker_process(settings, tmp_path / "worker.log")
    try:
        wait_for(lambda: (_job(settings, job_id).done or 0) >= 15, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert _job(settings, job_id).state == "running"  # nobody has noticed yet
    finally:
        first.kill()
    second = start_worker_process(settings, tmp_path / "worker.log")
    try:
        job = wait_for(lambda: _state_is(settings, job_id, "interrupted"), timeout=30)
        assert "died" in job.error_message or "heartbeat" in job.error_message
        assert job.checkpoint["iterations_done"] >= 10
        _act(settings, service.resume_job, job_id)
        done = wait_for(lambda: _state_is(settings, job_id, "succeeded", "failed"), timeout=60)
        assert done.state == "succeeded", done.error_message
        assert done.result["forward"]["resumed_from"] >= 10
    finally:
        second.terminate()
        second.wait(15)


def test_sigterm_interrupts_running_job_resumably(sqlite_settings: Settings, tmp_path: Path):
    settings = sqlite_settings
    job_id = _create(settings, iterations=1000, step_delay_s=0.05)
    process = start_worker_process(settings, tmp_path / "worker.log")
    try:
        wait_for(lambda: (_job(settings, job_id).done or 0) >= 3, timeout=60)
        process.terminate()
        assert process.wait(15) == 0
    finally:
        process.kill()
    job = _job(settings, job_id)
    assert job.state == "interrupted"
    assert "resume" in job.error_message


@pytest.mark.parametrize("action", ["resume", "retry", "delete"])
def test_actions_on_a_queued_job_are_conflicts(sqlite_settings: Settings, action: str) -> None:
    from interpstudio.core.errors import InvalidJobState
    from interpstudio.core.paths import DataPaths

    job_id = _create(sqlite_settings)
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session, pytest.raises(InvalidJobState):
        if action == "delete":
            service.delete_job(session=session, job_id=job_id,
                               paths=DataPaths(sqlite_settings.data_dir))
        else:
            getattr(service, f"{action}_job")(session=session, job_id=job_id)


def test_worker_recovery_on_start_marks_dead_local_worker_jobs(tmp_path: Path) -> None:
    from interpstudio.db.repositories import jobs as repo

    settings = make_settings(tmp_path, heartbeat_timeout_s=3600)
    upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    from interpstudio.services.worker_sweep import process_scope

    dead_id = f"{socket.gethostname()}:{dead.pid}:1:dead00:{process_scope()}"
    with factory.begin() as session:
        job_id = repo.create(session, kind="selftest", params={}).id
        repo.claim_next(session, worker_id=dead_id, kinds=["selftest"])
    assert Worker(settings, session_factory=factory).recover() == [job_id]


def test_worker_survives_a_database_error_while_claiming(
    sqlite_settings: Settings, worker_thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault we cannot cause on demand (the database briefly locked past its busy timeout) is
    simulated by making the first claims raise; the worker must keep polling, not die."""
    from sqlalchemy.exc import OperationalError

    from interpstudio.jobs import runner

    real_claim = runner.repo.claim_next
    failures = iter(range(3))

    def flaky_claim(*args, **kwargs):
        if next(failures, None) is not None:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(runner.repo, "claim_next", flaky_claim)
    worker_thread(sqlite_settings)
    job_id = _create(sqlite_settings, iterations=2)
    job = wait_for(lambda: _state_is(sqlite_settings, job_id, "succeeded", "failed"), timeout=30)
    assert job.state == "succeeded"


def test_a_job_the_database_left_for_good_says_to_resume(
    sqlite_settings: Settings, worker_thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the scale-out tester: a 60 s database outage at the end of an extraction ended
    its job 'internal_error' with psycopg's raw message and a link to sqlalche.me, though its
    store was complete and a resume finished it in 2 s. The task here meets a real refused
    connection."""
    from interpstudio.jobs import registry

    monkeypatch.setitem(registry.TASKS, "db_gone", "helpers:database_gone_task")
    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))
    with factory.begin() as session:
        job_id = repo.create(session, kind="db_gone", params={}).id
    worker_thread(sqlite_settings)
    job = wait_for(lambda: _state_is(sqlite_settings, job_id, "succeeded", "failed"), timeout=30)
    assert job.error_code == "database_unavailable"
    assert job.error_message.startswith("the database could not be reached while the job ran")
    assert "Connection refused" in job.error_message and "resume the job" in job.error_message
    assert "sqlalche.me" not in job.error_message


@pytest.mark.postgres
@pytest.mark.parametrize(("iterations", "delay", "outage_at", "fail_at"),
                         [(40, 0.05, 5, None), (20, 0.25, 15, 20)],
                         ids=["mid-run", "at-the-final-write"])
def test_a_network_blip_to_the_database_does_not_end_a_running_job(
    postgres_url: str, tmp_path: Path, iterations: int, delay: float, outage_at: int,
    fail_at: int | None, caplog: pytest.LogCaptureFixture
) -> None:
    """A real fault: the worker reaches PostgreSQL through a real TCP proxy, which drops every
    connection and refuses new ones for 2 s while the job runs. Mid-run, its progress writes,
    heartbeats and a checkpoint fall in the outage: the job must carry on and succeed, with every
    stage and its final checkpoint on the row. Near the end (the task fails on purpose at its last
    pass, ~1 s after the outage starts), its final state and last stage fall in it: they must
    land when the database is back."""
    from tcp_proxy import database_proxy

    caplog.set_level(logging.INFO, logger="interpstudio.db.session")
    upgrade(postgres_url)
    direct = make_settings(tmp_path, postgres_url, heartbeat_timeout_s=30.0)
    reader = make_session_factory(make_engine(postgres_url))

    def done() -> float:
        with reader() as session:
            return service.get_job(session=session, job_id=job_id).done or 0

    with database_proxy(postgres_url) as (proxy, proxied_url):
        proxied = make_settings(tmp_path, proxied_url, heartbeat_timeout_s=30.0)
        worker = Worker(proxied, poll_interval_s=0.05)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            job_id = _create(direct, iterations=iterations, step_delay_s=delay, fail_at=fail_at)
            wait_for(lambda: done() >= outage_at, timeout=30, interval=0.02)
            proxy.outage(2.0)
            job = wait_for(lambda: _state_is(direct, job_id, "succeeded", "failed",
                                             "interrupted"), timeout=60)
        finally:
            worker.shutdown.set()
            thread.join(10)
    assert proxy.refused > 0  # the outage was real: the worker tried to reconnect during it
    assert [s["stage"] for s in job.stages] == ["torch", "disk", "forward"]
    if fail_at is None:
        assert job.state == "succeeded", (job.error_code, job.error_message)
        assert job.stages[-1]["done"] == 40
        assert job.checkpoint == {"iterations_done": 40}
        assert job.result["forward"]["passes"] == 40
    else:
        assert (job.state, job.error_code) == ("failed", "selftest_failed")
        assert "final state (failed) written after" in caplog.text  # it met the outage
        assert job.stages[-1]["done"] == 19  # the count it failed at, written with the state
        assert job.checkpoint == {"iterations_done": 10}


def test_invalid_job_parameters_are_named_in_the_message() -> None:
    """Found by a tester: `datasets tokenize --batch-rows 0` said only "invalid parameters for a
    tokenize job", naming neither the field nor its limit."""
    from interpstudio.core.errors import InvalidInput
    from interpstudio.services.job_kinds import validate_params

    with pytest.raises(InvalidInput) as refused:
        validate_params("selftest", {"iterations": 0})
    assert refused.value.message == ("invalid parameters for a selftest job (iterations: Input "
                                     "should be greater than or equal to 1)")


def test_a_cli_job_another_worker_took_first_is_said_and_not_run_twice(
    sqlite_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tester: a CLI extraction ('runs here') was claimed by the server's worker polling the
    same database; nothing said so. The CLI claims it first now, and says when it lost."""
    from interpstudio.cli.common import LocalRun

    factory = make_session_factory(make_engine(sqlite_settings.resolved_database_url))

    def run_here(job_id: int) -> None:  # a job queued before: claimed in its own transaction
        local = LocalRun(sqlite_settings, factory)
        with factory.begin() as session:
            local.claim(session, job_id)
        local.start()

    job_id = _create(sqlite_settings, iterations=1)
    with factory.begin() as session:  # a server's worker polls between create and the claim
        assert repo.claim_next(session, worker_id="gpubox:7:1:abcdef:0badc0de",
                               kinds=["selftest"], job_id=job_id) is not None
    run_here(job_id)
    assert "was taken by another worker (gpubox:7:1:abcdef:0badc0de)" in capsys.readouterr().err
    assert _job(sqlite_settings, job_id).state == "running"  # not run a second time here
    mine = _create(sqlite_settings, iterations=1)
    run_here(mine)  # nobody else: claimed and run here
    job = wait_for(lambda: _state_is(sqlite_settings, mine, "succeeded", "failed"), timeout=30)
    assert job.state == "succeeded" and "taken by" not in capsys.readouterr().err


def test_a_job_a_cli_command_makes_is_never_claimed_by_a_polling_worker(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job a command makes and runs here was committed queued, then claimed in a second
    transaction: a server's worker polling the same database could take it in between (the
    tester's CLI extraction ran on the server). Now it is committed already claimed. A real
    ``Worker`` on the same database polls at the worst moment: right after every commit of the
    command (``interpstudio selftest``, in this process) until the job exists."""
    from sqlalchemy import event, select
    from sqlalchemy.orm import Session as OrmSession
    from typer.testing import CliRunner

    from interpstudio.cli import app
    from interpstudio.db.models import Job

    monkeypatch.setenv("INTERPSTUDIO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("INTERPSTUDIO_DATABASE_URL", settings.resolved_database_url)
    server_worker = Worker(settings, kinds=["selftest"])
    polled: list[dict[str, object] | None] = []
    polling = threading.Lock()

    def poll(_session: OrmSession) -> None:
        if polled or not polling.acquire(blocking=False):  # once; not for its own commits
            return
        try:
            with server_worker.session_factory() as session:
                exists = session.scalar(select(Job.id).where(Job.kind == "selftest"))
            if exists is not None:  # the command's commit that made the job
                polled.append(server_worker.claim())
                if polled[0] is not None:  # it would run it: so the command's follow ends
                    threading.Thread(target=server_worker.run_claimed, args=(polled[0],),
                                     daemon=True).start()
        finally:
            polling.release()

    event.listen(OrmSession, "after_commit", poll)
    try:
        result = CliRunner().invoke(app, ["selftest", "--iterations", "1", "--json"])
    finally:
        event.remove(OrmSession, "after_commit", poll)
    assert result.exit_code == 0, result.output
    assert polled == [None]  # the worker polled right after the create and found nothing
    job = _job(settings, json.loads(result.stdout)["id"])
    assert job.state == "succeeded" and job.worker_id != server_worker.worker_id
