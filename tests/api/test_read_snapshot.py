"""A GET answers from one snapshot of the database: a record and its job, read in two SELECTs,
never show half of the task's last write (record and job in one transaction), on SQLite and
PostgreSQL.

The write is put between the two SELECTs for real: an ``after_cursor_execute`` listener on the
app's engine commits it through a connection of another engine right after the record's SELECT.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, update

from helpers import LOOPBACK
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset, Extraction, Job, Model, Tokenization
from interpstudio.db.session import make_engine, make_session_factory

# (route, table, the record's status while its job runs, the status the task's last write sets)
RECORDS = [("extractions", Extraction, "running", "complete"),
           ("datasets", Dataset, "importing", "ready")]


def _running_records(settings: Settings) -> dict[str, int]:
    """An extraction and a dataset whose jobs are running, as a worker leaves them mid-task."""
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        jobs = [Job(kind="extract", state="running"), Job(kind="dataset_import",
                                                          state="running")]
        session.add_all(jobs)
        session.flush()
        model = Model(key="org/tiny@0123abc", name="tiny", source="local", status="ready")
        dataset = Dataset(name="quotes", source="hub", status="importing", job_id=jobs[1].id)
        session.add_all([model, dataset])
        session.flush()
        tokenization = Tokenization(dataset_id=dataset.id, model_id=model.id,
                                    tokenizer_key=model.key, policy_hash="0" * 64,
                                    status="ready")
        session.add(tokenization)
        session.flush()
        extraction = Extraction(name="run", model_id=model.id, tokenization_id=tokenization.id,
                                config_hash="0" * 64, status="running", job_id=jobs[0].id)
        session.add(extraction)
        session.flush()
        ids = {"extractions": extraction.id, "datasets": dataset.id}
    factory.kw["bind"].dispose()
    return ids


@pytest.fixture
def api(settings: Settings) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(settings)) as client:
        yield client


@pytest.mark.parametrize(("route", "table", "running", "final"), RECORDS,
                         ids=[route for route, *_ in RECORDS])
def test_get_record_answers_its_job_from_one_snapshot(api: TestClient, settings: Settings,
                                                      route: str, table: Any, running: str,
                                                      final: str) -> None:
    """CI polled GET /extractions/{id} and got the job ``succeeded`` beside the record still
    ``running``: the task's last write fell between the route's two SELECTs."""
    record_id = _running_records(settings)[route]
    writer = make_engine(settings.resolved_database_url)
    written: list[bool] = []

    def finish_the_task(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if written or f"WHERE {table.__tablename__}.id =" not in statement:
            return
        written.append(True)
        with writer.begin() as connection:  # the task's last write: record and job together
            job_id = connection.scalar(table.__table__.select()
                                       .with_only_columns(table.job_id)
                                       .where(table.id == record_id))
            connection.execute(update(table).where(table.id == record_id).values(status=final))
            connection.execute(update(Job).where(Job.id == job_id).values(state="succeeded"))

    engine = api.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "after_cursor_execute", finish_the_task)
    try:
        answer = api.get(f"/api/v1/{route}/{record_id}")
    finally:
        event.remove(engine, "after_cursor_execute", finish_the_task)
        writer.dispose()
    assert answer.status_code == 200, answer.text
    assert written, "the record's SELECT was not seen: the test wrote nothing"
    body = answer.json()
    assert (body["status"], body["job"]["state"]) in [(running, "running"), (final, "succeeded")]
    after = api.get(f"/api/v1/{route}/{record_id}").json()
    assert (after["status"], after["job"]["state"]) == (final, "succeeded")
