"""Model rows without their positions or tokenizer fingerprint (imported before migrations 0006 /
0007, or cleared by 0008) get them written once, from their files, by the API app's start
(``services/model_backfill.py``), so ``GET /models`` no longer reads and hashes every model's
files on every list. On SQLite and PostgreSQL, with rows made through the ORM on copies of the
tiny real checkpoints: the list shows the recorded values after the files are gone, a row whose
files say nothing is read once, a model deleted / renamed / recorded meanwhile is left alone,
two backfills of the same rows at once both end without an error, and the app answers
while the backfill waits on a model file (a FIFO)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session, sessionmaker

from helpers import LOOPBACK, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import Model
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.services.model_backfill import backfill_model_rows
from interpstudio.services.models import read_positions
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256, tokenizer_files


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _add_model(factory: sessionmaker[Session], paths: DataPaths, name: str, source: Path | None,
               *, status: str = "ready") -> int:
    """A model row as one imported before positions and fingerprints were recorded: its files
    a copy of ``source`` (None: a config.json without positions, no tokenizer files)."""
    folder = paths.root / "models" / name / "checkpoint"
    if source is None:
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    else:
        shutil.copytree(source, folder)
    with factory.begin() as session:
        model = Model(key=f"org/{name}@1", name=name, source="local", status=status,
                      path=f"models/{name}/checkpoint", updated_at=utcnow())
        session.add(model)
        session.flush()
        return model.id


def _row(factory: sessionmaker[Session], model_id: int) -> Model | None:
    with factory() as session:
        return session.get(Model, model_id)


def _expected(source: Path) -> dict[str, Any]:
    positions, positions_source = read_positions(DataPaths(source / "no-data"), 1, source) or (
        None, None)
    return {"positions": positions, "positions_source": positions_source,
            "tokenizer_sha256": read_tokenizer_sha256(source)}


def _facts(model: Model | dict[str, Any]) -> dict[str, Any]:
    get = model.get if isinstance(model, dict) else lambda name: getattr(model, name)
    return {name: get(name) for name in ("positions", "positions_source", "tokenizer_sha256")}


def test_the_app_start_fills_in_rows_and_lists_no_longer_read_their_files(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path,
        tiny_gpt2_dir: Path) -> None:
    paths = DataPaths(settings.data_dir)
    llama = _add_model(factory, paths, "llama", tiny_llama_dir)
    gpt2 = _add_model(factory, paths, "gpt2", tiny_gpt2_dir)
    silent = _add_model(factory, paths, "silent", None)
    importing = _add_model(factory, paths, "importing", tiny_llama_dir, status="importing")
    before = {i: _row(factory, i).updated_at for i in (llama, gpt2)}  # type: ignore[union-attr]
    expected = {llama: _expected(tiny_llama_dir), gpt2: _expected(tiny_gpt2_dir)}
    assert expected[llama]["positions"] == 256 and expected[gpt2]["positions"] is not None
    assert expected[gpt2]["positions_source"] == "n_positions in its config.json"
    assert expected[llama]["tokenizer_sha256"] != expected[gpt2]["tokenizer_sha256"]

    with TestClient(base_url=LOOPBACK, app=create_app(settings, job_feed_interval_s=0.05,
                                                      system_interval_s=0.5)) as api:
        filled = wait_for(lambda: all(_facts(_row(factory, i)) == expected[i]  # type: ignore
                                      for i in expected), timeout=30)
        assert filled
        for model_id in expected:  # the list's values, not a change: updated_at kept
            assert _row(factory, model_id).updated_at == before[model_id]  # type: ignore
        # a model still importing is its import's to record
        assert _facts(_row(factory, importing)) == dict.fromkeys(  # type: ignore[arg-type]
            ("positions", "positions_source", "tokenizer_sha256"))

        # the files the list read are gone: it shows what the rows hold, without reading them
        for name in ("llama", "gpt2"):
            folder = paths.root / "models" / name / "checkpoint"
            (folder / "config.json").rename(folder / "config.json.gone")
            for file in tokenizer_files(folder):
                file.unlink()
        listed = {m["id"]: m for m in api.get("/api/v1/models?limit=200").json()["items"]}
        for model_id, facts in expected.items():
            assert _facts(listed[model_id]) == facts

        # a row whose files say nothing stays NULL (as an import leaves it), read once per
        # process: files that appear later are not read by each list
        assert _facts(listed[silent]) == dict.fromkeys(
            ("positions", "positions_source", "tokenizer_sha256"))
        folder = paths.root / "models" / "silent" / "checkpoint"
        (folder / "config.json").write_text(json.dumps({"max_position_embeddings": 64}))
        shutil.copy(tiny_llama_dir / "tokenizer.json", folder / "tokenizer.json")
        again = api.get(f"/api/v1/models/{silent}").json()
        assert _facts(again) == dict.fromkeys(
            ("positions", "positions_source", "tokenizer_sha256"))
    assert _facts(_row(factory, silent)) == dict.fromkeys(  # type: ignore[arg-type]
        ("positions", "positions_source", "tokenizer_sha256"))


def _before_first_update(factory: sessionmaker[Session], action: Callable[[], None]) -> None:
    """Run ``action`` (on another connection) just before the backfill's first UPDATE of a
    model row reaches the database: what another process does between its read and its
    write."""
    engine = factory.kw["bind"]
    done: list[bool] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE MODELS") and not done:
            done.append(True)
            action()

    event.listen(engine, "before_cursor_execute", listener)


@pytest.mark.parametrize("meanwhile", ["deleted", "renamed", "recorded"])
def test_a_row_changed_between_the_read_and_the_write_is_left_alone(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path,
        meanwhile: str) -> None:
    paths = DataPaths(settings.data_dir)
    model_id = _add_model(factory, paths, "llama", tiny_llama_dir)
    other_engine = make_engine(settings.resolved_database_url)
    other = make_session_factory(other_engine)

    def change() -> None:
        with other.begin() as session:
            where = Model.id == model_id
            if meanwhile == "deleted":
                session.execute(delete(Model).where(where))
            elif meanwhile == "renamed":
                session.execute(update(Model).where(where).values(name="new",
                                                                  updated_at=utcnow()))
            else:  # an import (a retry) recorded its own values
                session.execute(update(Model).where(where).values(
                    positions=7, positions_source="recorded", tokenizer_sha256="f" * 64))

    _before_first_update(factory, change)
    try:
        report = backfill_model_rows(factory, paths)
    finally:
        other_engine.dispose()
    assert report.failed == [] and report.positions == [] and report.fingerprints == []
    assert report.not_written == [model_id, model_id]
    row = _row(factory, model_id)
    if meanwhile == "deleted":  # not written back into being
        assert row is None
        with factory() as session:
            assert session.scalars(select(Model)).all() == []
    elif meanwhile == "renamed":  # left for the next start: nothing overwritten meanwhile
        assert row is not None and row.name == "new" and row.positions is None
    else:
        assert row is not None and _facts(row) == {
            "positions": 7, "positions_source": "recorded", "tokenizer_sha256": "f" * 64}


def test_two_backfills_of_the_same_rows_at_once_both_end_and_fill_each_row_once(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path) -> None:
    """Two processes' backfills (two engines, as two workers have), both past their read of
    the rows and at their first write together (a barrier): the one that writes second waits
    for the first's transaction (PostgreSQL's row lock, SQLite's write lock), then matches
    nothing, without an error."""
    paths = DataPaths(settings.data_dir)
    ids = [_add_model(factory, paths, f"m{i}", tiny_llama_dir) for i in range(4)]
    expected = _expected(tiny_llama_dir)
    barrier = threading.Barrier(2, timeout=20)
    factories = [make_session_factory(make_engine(settings.resolved_database_url))
                 for _ in range(2)]
    reports: list[Any] = [None, None]
    errors: list[BaseException] = []
    for each in factories:
        _before_first_update(each, barrier.wait)

    def run(index: int) -> None:
        try:
            reports[index] = backfill_model_rows(factories[index], paths)
        except BaseException as exc:  # backfill_model_rows never raises: fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for each in factories:
        each.kw["bind"].dispose()
    assert errors == [] and all(report is not None for report in reports)
    assert [report.failed for report in reports] == [[], []]
    for kind in ("positions", "fingerprints"):
        written = [getattr(report, kind) for report in reports]
        assert sorted(written[0] + written[1]) == ids  # each row once, by one of them
    for model_id in ids:
        assert _facts(_row(factory, model_id)) == expected  # type: ignore[arg-type]


def test_a_model_whose_files_cannot_be_read_is_skipped_and_the_rest_filled(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    paths = DataPaths(settings.data_dir)
    broken = _add_model(factory, paths, "broken", tiny_llama_dir)
    fine = _add_model(factory, paths, "fine", tiny_llama_dir)
    with factory.begin() as session:  # a path outside the data dir: refused by ensure_within
        session.execute(update(Model).where(Model.id == broken).values(path="../elsewhere"))
    report = backfill_model_rows(factory, paths)
    assert report.failed == [broken]
    assert report.positions == [fine] and report.fingerprints == [fine]
    assert _facts(_row(factory, fine)) == _expected(tiny_llama_dir)  # type: ignore[arg-type]
    assert f"model {broken}: its files could not be read" in caplog.text


def test_the_app_answers_while_the_backfill_waits_on_a_model_file(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path) -> None:
    """The backfill runs beside the app, not before it: a model whose config.json is a FIFO
    nobody writes yet (a file that blocks its reader for real, like a stalled network mount)
    holds the backfill, and the app starts and answers all the same; once the file is written,
    the row is filled. (A start that waited for the backfill would start only once a watchdog
    writes the file, after 20 s, and fail the first assertion.)"""
    paths = DataPaths(settings.data_dir)
    slow = _add_model(factory, paths, "slow", tiny_llama_dir)
    config = paths.root / "models" / "slow" / "checkpoint" / "config.json"
    text = config.read_text()
    config.unlink()
    os.mkfifo(config)
    written = threading.Event()
    lock = threading.Lock()

    def write_config() -> None:  # the backfill's read of it waits until then
        with lock:
            if not written.is_set():
                with open(config, "w") as fifo:
                    fifo.write(text)
                written.set()

    watchdog = threading.Timer(20, write_config)
    watchdog.start()
    try:
        with TestClient(base_url=LOOPBACK, app=create_app(settings, job_feed_interval_s=0.05,
                                                          system_interval_s=0.5)) as api:
            assert not written.is_set(), "the app started only once the backfill could go on"
            assert api.get("/api/v1/health").json()["status"] == "ok"
            assert _row(factory, slow).positions is None  # type: ignore[union-attr]
            write_config()
            assert wait_for(lambda: _row(factory, slow).positions == 256,  # type: ignore
                            timeout=30)
    finally:
        watchdog.cancel()
        if not written.is_set():  # a reader still waiting gets the file; none: nothing waits
            with contextlib.suppress(OSError):
                fd = os.open(config, os.O_WRONLY | os.O_NONBLOCK)
                os.write(fd, text.encode())
                os.close(fd)
