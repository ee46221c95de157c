"""The jobs of workers that are gone are found while every live worker is busy, and with no
worker at all (``serve --workers 0``); the records those jobs were making end with them, so that
list filters and result endpoints agree with what GET shows.

Found by a tester on the scale-out path: the sweep ran only between two jobs of a worker, so a
kill -9'd worker's job stayed "running" for 87 s (10 s timeout) while the other worker was busy,
and for good with no other worker: cancel was accepted and never acted on, delete and resume
refused. The extraction row kept status "running" after its job was marked interrupted, so
``?status=interrupted`` missed it and ``/stats`` said "wait for it"."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from helpers import LOOPBACK, make_settings, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.models import Dataset, Extraction, Job, Model, Tokenization
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker
from interpstudio.services import jobs as service
from interpstudio.services.model_files import hand_token_to_job, token_file
from interpstudio.services.worker_sweep import process_scope, sweep_gone_workers, worker_is_alive


def _dead_worker_id() -> str:
    """The id a worker had on this host, whose process has exited."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    return f"{socket.gethostname()}:{dead.pid}:1:dead00:{process_scope()}"


def _factory(settings: Settings) -> sessionmaker[Session]:
    upgrade(settings.resolved_database_url)
    return make_session_factory(make_engine(settings.resolved_database_url))


def _state(factory: sessionmaker[Session], job_id: int) -> str:
    with factory() as session:
        return session.get(Job, job_id).state  # type: ignore[union-attr]


@contextmanager
def _worker_running_a_long_job(settings: Settings, factory: sessionmaker[Session], *,
                               iterations: int) -> Iterator[int]:
    """A real worker (thread) running a selftest of ``iterations`` x 50 ms; yields its job id
    once it runs; the worker stops on exit."""
    with factory.begin() as session:
        job_id = service.create_job(session=session, kind="selftest",
                                    params={"iterations": iterations, "step_delay_s": 0.05}).id
    worker = Worker(settings, session_factory=factory, poll_interval_s=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: _state(factory, job_id) == "running", timeout=10)
        yield job_id
    finally:
        worker.shutdown.set()
        thread.join(timeout=30)


def _extraction_of_a_job(factory: sessionmaker[Session], *, claimed_by: str | None) -> int:
    """Rows only (no model is loaded): an extraction whose job is running under ``claimed_by``,
    or queued when None."""
    with factory.begin() as session:
        model = Model(key="local:test", name="m", source="local", status="ready")
        dataset = Dataset(name="d", source="local", files=[], info={}, status="ready")
        session.add_all([model, dataset])
        session.flush()
        tokenization = Tokenization(dataset_id=dataset.id, model_id=model.id, tokenizer_key="t",
                                    policy={}, policy_hash="h", status="ready")
        session.add(tokenization)
        session.flush()
        job = repo.create(session, kind="extract", params={})
        if claimed_by is not None:
            repo.claim_next(session, worker_id=claimed_by, kinds=["extract"], job_id=job.id)
        session.add(Extraction(name="acts", model_id=model.id, tokenization_id=tokenization.id,
                               spec={}, config_hash="c", path="extractions/1", info={},
                               job_id=job.id,
                               status="running" if claimed_by else "queued"))
        return job.id


def test_a_busy_worker_still_interrupts_the_job_of_a_killed_worker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, heartbeat_timeout_s=2.0)
    factory = _factory(settings)
    with _worker_running_a_long_job(settings, factory, iterations=200) as busy:
        with factory.begin() as session:  # the killed worker's job, found after the start sweep
            orphan = repo.create(session, kind="selftest", params={}).id
            repo.claim_next(session, worker_id=_dead_worker_id(), kinds=["selftest"],
                            job_id=orphan)
        wait_for(lambda: _state(factory, orphan) == "interrupted", timeout=5)
        assert _state(factory, busy) == "running"  # found by the busy worker, not after its job
        with factory() as session:  # a tester: it said only "worker process died"
            assert session.get(Job, orphan).error_message == (  # type: ignore[union-attr]
                "worker process died; resume to continue")


CLAIM_AND_HANG = """
import sys, time
from interpstudio.core.settings import get_settings
from interpstudio.jobs.runner import Worker
print(Worker(get_settings()).claim(int(sys.argv[1]))["id"], flush=True)
time.sleep(600)  # killed before it runs the job, so before it takes its token
"""


def test_the_sweep_removes_the_token_a_killed_worker_had_not_taken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker killed between its claim and the task's first step (taking the access token)
    left the token file on disk until the hourly stale-file cleanup; the sweep that marks its
    job interrupted removes it (a resume asks for a token again). A job of another host's
    worker, silent past the heartbeat timeout, likewise; a live worker's job keeps its own."""
    import os
    import signal
    from datetime import timedelta

    from interpstudio.db.base import utcnow

    settings = make_settings(tmp_path)
    factory = _factory(settings)
    paths = DataPaths(settings.data_dir)
    with factory.begin() as session:
        killed, silent, alive = (repo.create(session, kind="selftest", params={}).id
                                 for _ in range(3))
        repo.claim_next(session, worker_id="another-host:1:2:abcdef:0badc0de",
                        kinds=["selftest"], job_id=silent)
        session.get(Job, silent).heartbeat_at = utcnow() - timedelta(hours=1)  # type: ignore[union-attr]
    for job_id in (killed, silent, alive):
        hand_token_to_job(paths, job_id, f"hf_secret_{job_id}")
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": settings.resolved_database_url}
    worker = subprocess.Popen([sys.executable, "-c", CLAIM_AND_HANG, str(killed)], env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == str(killed)  # type: ignore[union-attr]
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        worker.kill()
        worker.wait()
    with factory.begin() as session:  # claimed by this (live) process's worker id
        repo.claim_next(session, worker_id=Worker(settings, session_factory=factory).worker_id,
                        kinds=["selftest"], job_id=alive)
    with caplog.at_level("DEBUG"):
        swept = sweep_gone_workers(factory, settings.heartbeat_timeout_s, paths=paths)
    assert sorted(swept) == sorted([killed, silent])
    assert [_state(factory, j) for j in (killed, silent, alive)] == [
        "interrupted", "interrupted", "running"]
    assert not token_file(paths, killed).exists() and not token_file(paths, silent).exists()
    assert token_file(paths, alive).read_text() == f"hf_secret_{alive}"
    assert "hf_secret" not in caplog.text


def test_the_api_interrupts_a_killed_workers_job_with_no_worker_left(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)  # workers 0: serve --workers 0, the only worker killed
    factory = _factory(settings)
    job_id = _extraction_of_a_job(factory, claimed_by=_dead_worker_id())
    with TestClient(base_url=LOOPBACK, app=create_app(settings)) as client:
        interrupted = wait_for(lambda: [e for e in client.get(
            "/api/v1/extractions", params={"status": "interrupted"}).json()["items"]], timeout=10)
        assert interrupted[0]["job"]["id"] == job_id
        assert interrupted[0]["job"]["state"] == "interrupted"
        # the record's own line, once: it read "...; resume to continue; resume to continue"
        assert interrupted[0]["error_message"] == "worker process died; resume to continue"
        assert client.get("/api/v1/extractions", params={"status": "running"}).json()[
            "total"] == 0
        stats = client.get(f"/api/v1/extractions/{interrupted[0]['id']}/stats")
        assert stats.status_code == 409
        assert "it is interrupted" in stats.json()["error"]["message"]
        assert "resume it" in stats.json()["error"]["message"]
        resumed = client.post(f"/api/v1/extractions/{interrupted[0]['id']}/resume")
        assert resumed.status_code == 200, resumed.text


def test_cancelling_a_queued_job_ends_the_record_it_was_to_make(
        sqlite_settings: Settings, client: TestClient) -> None:
    factory = _factory(sqlite_settings)
    job_id = _extraction_of_a_job(factory, claimed_by=None)
    assert client.post(f"/api/v1/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    cancelled = client.get("/api/v1/extractions", params={"status": "cancelled"}).json()
    assert cancelled["total"] == 1 and cancelled["items"][0]["job"]["id"] == job_id
    with factory() as session:
        row = session.query(Extraction).one()
        assert (row.status, row.error_message) == ("cancelled", "cancelled by user")


def test_a_late_heartbeat_of_a_worker_alive_here_is_no_death(tmp_path: Path) -> None:
    """Found by a reviewer: the stale-heartbeat rule interrupted the jobs of workers seen alive
    on this host (a laptop waking up, a long write lock), and a resume could then run a second
    copy beside the first. Only another host's worker is judged by its heartbeat."""
    from datetime import timedelta

    from interpstudio.db.base import utcnow
    from interpstudio.jobs.runner import make_worker_id
    from interpstudio.services.worker_sweep import sweep_gone_workers

    settings = make_settings(tmp_path)
    factory = _factory(settings)
    with factory.begin() as session:
        here = repo.create(session, kind="selftest", params={}).id
        repo.claim_next(session, worker_id=make_worker_id(), kinds=["selftest"], job_id=here)
        elsewhere = repo.create(session, kind="selftest", params={}).id
        repo.claim_next(session, worker_id="another-host:123:456:abcdef", kinds=["selftest"],
                        job_id=elsewhere)
        for job_id in (here, elsewhere):
            session.get(Job, job_id).heartbeat_at = utcnow() - timedelta(hours=1)  # type: ignore[union-attr]
    assert sweep_gone_workers(factory, settings.heartbeat_timeout_s,
                              paths=DataPaths(settings.data_dir)) == [elsewhere]
    assert _state(factory, here) == "running"


def test_a_worker_whose_job_was_taken_for_gone_stops_it(tmp_path: Path) -> None:
    """The other half: a job another process marked interrupted (its heartbeat judged stale
    from another host) stops at the worker's next beat instead of running beside a resume."""
    settings = make_settings(tmp_path)
    factory = _factory(settings)
    with _worker_running_a_long_job(settings, factory, iterations=1000) as long:
        with factory.begin() as session:
            assert repo._interrupt(session, [long], "a sweep elsewhere") == [long]
            after = service.create_job(session=session, kind="selftest",
                                       params={"iterations": 1}).id
        # the worker is free again long before the 50 s the first job would take
        wait_for(lambda: _state(factory, after) == "succeeded", timeout=15)
        assert _state(factory, long) == "interrupted"


def test_resuming_a_job_puts_the_record_it_makes_back_to_queued(
        sqlite_settings: Settings, client: TestClient) -> None:
    """Found by a reviewer: a record that took its job's end (cancelled while queued) kept
    saying "cancelled" after a resume through /jobs until a worker started it (a dataset or a
    tokenization read so for a whole extraction's length behind a busy worker)."""
    factory = _factory(sqlite_settings)
    job_id = _extraction_of_a_job(factory, claimed_by=None)
    client.post(f"/api/v1/jobs/{job_id}/cancel")
    assert client.post(f"/api/v1/jobs/{job_id}/resume").json()["state"] == "queued"
    with factory() as session:
        row = session.query(Extraction).one()
        assert (row.status, row.error_message) == ("queued", None)
    assert client.get("/api/v1/extractions", params={"status": "queued"}).json()["total"] == 1


def test_a_worker_in_another_pid_namespace_of_this_host_is_judged_by_its_heartbeat(
    tmp_path: Path,
) -> None:
    """Found by a tester: a worker in a container (its own PID namespace, the host's name, as
    with ``--network host``) had the id ``host:1:...``; the host read PID 1 as some other
    process and swept its job for dead within 2 s, and the container's sweep did the same to
    the host's jobs. A real PID namespace (``unshare``, root only)."""
    import shutil

    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no PID namespace can be made here (unshare needs root)")
    inside = subprocess.Popen(
        [unshare, "--pid", "--fork", "--mount-proc", sys.executable, "-c",
         "import sys, time; from interpstudio.jobs.runner import make_worker_id; "
         "print(make_worker_id(), flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        worker_id = inside.stdout.readline().strip()  # type: ignore[union-attr]
        assert worker_id.split(":")[1] == "1"  # PID 1 in its namespace
        assert worker_is_alive(worker_id) is None  # not judged by a PID this host cannot read
        settings = make_settings(tmp_path)
        factory = _factory(settings)
        with factory.begin() as session:
            job_id = repo.create(session, kind="selftest", params={}).id
            repo.claim_next(session, worker_id=worker_id, kinds=["selftest"], job_id=job_id)
        assert sweep_gone_workers(factory, settings.heartbeat_timeout_s,
                              paths=DataPaths(settings.data_dir)) == []
        assert _state(factory, job_id) == "running"  # its fresh heartbeat keeps it
    finally:
        inside.kill()
        inside.wait()


def test_heartbeats_are_judged_by_the_database_servers_clock(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a tester: a worker whose clock is 15 s behind wrote heartbeats the API's sweep
    (10 s timeout) judged stale at once, and a laptop 15 s ahead running ``jobs list`` swept a
    team's healthy jobs. The machines' clocks are simulated (the test cannot move this
    machine's); PostgreSQL's clock is real."""
    from datetime import timedelta

    from interpstudio.db import base
    from interpstudio.db.repositories import jobs as jobs_repo

    settings = make_settings(tmp_path, postgres_url)
    factory = _factory(settings)
    remote = "gpubox2:4242:1:abcdef:0badc0de"  # another host: judged by its heartbeat only
    monkeypatch.setattr(jobs_repo, "utcnow", lambda: base.utcnow() - timedelta(seconds=15))
    with factory.begin() as session:  # the worker, 15 s behind, claims and beats
        job_id = repo.create(session, kind="selftest", params={}).id
        repo.claim_next(session, worker_id=remote, kinds=["selftest"], job_id=job_id)
        assert repo.heartbeat(session, job_id, worker_id=remote).ours
    monkeypatch.setattr(jobs_repo, "utcnow", lambda: base.utcnow() + timedelta(seconds=15))
    assert sweep_gone_workers(factory, settings.heartbeat_timeout_s,
                              paths=DataPaths(settings.data_dir)) == []  # a sweeper ahead
    assert _state(factory, job_id) == "running"
    with factory.begin() as session:  # a real silence is still found, by the server's clock
        assert repo.interrupt_stale(session, timeout=timedelta(seconds=0)) == [job_id]
