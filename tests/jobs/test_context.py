"""``JobContext`` writes against a real PostgreSQL whose network a real TCP proxy cuts: a task's
checkpoint and row writes wait out a brief outage; a longer one than allowed is an error."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from helpers import make_settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.repositories import jobs as repo
from interpstudio.db.session import make_engine, make_session_factory, retry_while_unreachable
from interpstudio.jobs.context import JobContext
from tcp_proxy import database_proxy

pytestmark = pytest.mark.postgres


def test_checkpoint_and_row_writes_wait_out_a_database_outage(
    postgres_url: str, tmp_path: Path
) -> None:
    upgrade(postgres_url)
    direct = make_session_factory(make_engine(postgres_url))
    with direct.begin() as session:
        job_id = repo.create(session, kind="selftest", params={}).id
    with database_proxy(postgres_url) as (proxy, proxied):
        ctx = JobContext(job_id=job_id, kind="selftest", params={}, checkpoint=None,
                         settings=make_settings(tmp_path, proxied),
                         session_factory=make_session_factory(make_engine(proxied)),
                         stop_event=threading.Event())
        ctx.write("warm-up", lambda session: None)  # a pooled connection through the proxy
        proxy.outage(1.0)
        ctx.save_checkpoint({"iterations_done": 10})
        ctx.write("message", lambda session: repo.update_fields(session, job_id,
                                                                message="after the outage"))
    assert proxy.refused > 0  # the writes did meet the outage
    with direct() as session:
        job = repo.get(session, job_id)
    assert (job.checkpoint, job.message) == ({"iterations_done": 10}, "after the outage")


def test_an_outage_longer_than_the_retry_window_is_raised(postgres_url: str) -> None:
    with database_proxy(postgres_url) as (proxy, proxied):
        factory = make_session_factory(make_engine(proxied))

        def ping() -> None:
            with factory.begin() as session:
                session.connection().exec_driver_sql("SELECT 1")

        ping()
        proxy.outage(30.0)
        with pytest.raises(OperationalError):
            retry_while_unreachable(ping, what="a ping", within_s=0.5)
