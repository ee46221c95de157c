"""The jobs repository on SQLite and PostgreSQL: filters, pagination, atomic claims and
conditional state changes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from interpstudio.core.errors import InvalidJobState, JobNotFound
from interpstudio.db.base import utcnow
from interpstudio.db.repositories import jobs as repo


def test_list_filters_and_paginates_newest_first(session_factory) -> None:
    with session_factory.begin() as session:
        for index in range(7):
            repo.create(session, kind="selftest" if index % 2 else "other", params={"i": index})
    with session_factory() as session:
        page, total = repo.list_jobs(session, kinds=["selftest"], limit=2, offset=0)
        assert total == 3
        assert [j.params["i"] for j in page] == [5, 3]
        rest, _ = repo.list_jobs(session, kinds=["selftest"], limit=2, offset=2)
        assert [j.params["i"] for j in rest] == [1]
        queued, total_queued = repo.list_jobs(session, states=["queued"])
        assert total_queued == 7 and len(queued) == 7


def test_list_filters_by_the_extraction_a_job_names_in_the_query(session_factory) -> None:
    """The export box listed every running export and matched ``params.extraction_id`` itself;
    the filter is in the query on both databases, so ``total`` and the pages count only
    those."""
    with session_factory.begin() as session:
        mine = [repo.create(session, kind=kind, params={"extraction_id": 7}).id
                for kind in ("extract", "extraction_export", "extraction_export")]
        repo.create(session, kind="extraction_export", params={"extraction_id": 70})
        repo.create(session, kind="selftest", params={"i": 7})
    with session_factory() as session:
        page, total = repo.list_jobs(session, extraction_id=7, limit=2)
        assert total == 3 and [j.id for j in page] == mine[:0:-1]
        exports, total = repo.list_jobs(session, kinds=["extraction_export"], extraction_id=7)
        assert total == 2 and [j.id for j in exports] == mine[:0:-1]
        assert repo.list_jobs(session, extraction_id=8) == ([], 0)


def test_get_unknown_job_raises_not_found(session_factory) -> None:
    with session_factory() as session, pytest.raises(JobNotFound):
        repo.get(session, 12345)


def test_concurrent_claims_take_each_job_exactly_once(session_factory) -> None:
    with session_factory.begin() as session:
        ids = [repo.create(session, kind="selftest", params={}).id for _ in range(20)]
    claimed: list[int] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        while True:
            with session_factory.begin() as session:
                job = repo.claim_next(session, worker_id=worker, kinds=["selftest"])
                job_id = job.id if job else None
            if job_id is None:
                with session_factory() as session:
                    if not repo.list_jobs(session, states=["queued"])[1]:
                        return
                continue
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == ids


def test_transition_refuses_wrong_state_and_reports_it(session_factory) -> None:
    with session_factory.begin() as session:
        job_id = repo.create(session, kind="selftest", params={}).id
    with session_factory.begin() as session, pytest.raises(InvalidJobState) as info:
        repo.transition(session, job_id, action="resume", from_states=["failed"], state="queued")
    assert info.value.details["state"] == "queued"
    assert info.value.status == 409


def test_every_write_bumps_revision_and_updated_at(session_factory) -> None:
    with session_factory.begin() as session:
        job = repo.create(session, kind="selftest", params={})
        job_id, revision, updated = job.id, job.revision, job.updated_at
    with session_factory.begin() as session:
        repo.update_fields(session, job_id, done=3.0)
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert job.revision == revision + 1
        assert job.updated_at >= updated
        assert job.updated_at.tzinfo is not None


def test_stale_heartbeat_marks_job_interrupted(session_factory) -> None:
    with session_factory.begin() as session:
        job_id = repo.create(session, kind="selftest", params={}).id
        repo.claim_next(session, worker_id="otherhost:1:1:abc", kinds=["selftest"])
    with session_factory.begin() as session:
        assert repo.interrupt_stale(session, timeout=timedelta(seconds=60)) == []
        later = utcnow() + timedelta(seconds=120)
        assert repo.interrupt_stale(session, timeout=timedelta(seconds=60), now=later) == [job_id]
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert job.state == "interrupted" and job.error_code == "interrupted"


def test_a_claim_clears_the_last_attempts_stage_and_count(session_factory) -> None:
    """A resumed job waits in the queue with the last attempt's stage and count (the UI says
    'reached by the last attempt'); once a worker claims it, they are not this attempt's: the
    row read 'extract 8,192 / 16,384 tokens' as the running job's own until its first report."""
    with session_factory.begin() as session:
        job_id = repo.create(session, kind="selftest", params={}).id
        repo.update_fields(session, job_id, stage="extract", done=8192.0, total=16384.0,
                           unit="tokens", progress=0.5, rate=500.0, eta_s=16.0,
                           message="kept 8,192 rows")
    with session_factory.begin() as session:
        claimed = repo.claim_next(session, worker_id="w1", kinds=["selftest"], job_id=job_id)
        assert claimed is not None and claimed.state == "running"
    with session_factory() as session:
        job = repo.get(session, job_id)
        assert (job.stage, job.done, job.total, job.unit, job.progress, job.rate, job.eta_s,
                job.message) == (None,) * 8
