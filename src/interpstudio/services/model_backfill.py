"""``backfill_model_rows``: write on model rows the positions and tokenizer fingerprint their
import did not record, read once from their files, and (``backfill_source_quantization``) how the
GGUF file a model was imported from stored its weights.

An import records both on its row (``jobs/tasks/models.py``). Rows without them (imported before
migrations 0006 / 0007, or cleared by 0008 to be read again with rope scaling) were read from
their files on every request: ``services/models.positions_of`` reads architecture.json and
config.json, ``services/tokenizer_identity.tokenizer_sha256_of`` hashes every tokenizer file
(tokenizer.json alone is 2-17 MB), for each model of each ``GET /models`` list of up to 200.

When: once per start of the API app, as a background task of its lifespan (``api/app.py``, in a
thread): startup and requests do not wait for it (until it is done a request reads the files, as
before), and a row lacking them can only be one that was there at start, since every import
after records both. Not lazily on a request: a read (``GET /models``) has no transaction that
writes, a write there would contend with the job writers on SQLite, and the schema that reads
(``api/model_schemas.py``) holds no session to commit. A row whose files say nothing (a config
without positions, a folder without tokenizer files) stays NULL, as an import leaves it: it is
read again at each start (once), and each process remembers it for its requests
(``services/models.row_as_read``), so no list reads it again.

Safe with several processes (workers of one server, servers on one PostgreSQL): each value is one
conditional UPDATE (``db/repositories/models.fill_unset``), written only where the column is
still NULL and the row still the one read (exists, ready, same path, not written since), so two
processes filling one row never fail (the second writes nothing) and a model deleted, re-imported
or renamed meanwhile is left alone. One short transaction per model. A model whose files cannot
be read, or a write that fails, is logged and skipped; the database being unreachable ends the
backfill for this start (logged); it never raises.

Source quantization: a model imported from a GGUF file records on its ``info`` how the file
stored its weights (``source_quantization``: Q4_1 for the bundled SmolLM2; ``models list`` says
"fp32 (from Q4_1)", an extraction's store spec records it). A row imported before that (every
existing install's bundled model, which ``demo`` reuses) read as plain "fp32". The backfill reads
the header of its ``info.import_source`` when that file is still there with the size the import
recorded (``import_bytes``: a file replaced since is not the one imported; the bundled file is
always there) and writes the value in ``info`` (``null`` for a float32 GGUF, so it is read once)
with one conditional UPDATE where the row is unchanged since read (``fill_info_unset``). A row
whose file is gone keeps lacking it (a stat at each start). The API start runs it after the file
facts. The CLI never starts the API (an install used from the terminal only would say plain fp32
for good), so ``models list`` runs it for every such row and ``show`` for its row
(``cli/models.py``); and the extract job runs it for its model's row before reading it, wherever
the job runs (``extract``, ``demo``, ``worker``, a server's workers before its start's pass gets
there: ``jobs/tasks/extraction.py``), since its store spec takes the value from the row and a
store begun without it keeps lacking it. A filled row is not read again: after that it costs one
SELECT.

This module is NOT responsible for reading the values (``read_positions``,
``read_tokenizer_sha256``, ``gguf_check.check_gguf``) or for rows of models being imported
(their import records them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import InvalidInput
from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.db.models import Model
from interpstudio.db.repositories import models as repo
from interpstudio.db.session import is_unreachable
from interpstudio.ml.gguf_check import check_gguf
from interpstudio.services.models import read_positions
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    """What one backfill did, by model id."""

    positions: list[int] = field(default_factory=list)  # written on the row
    fingerprints: list[int] = field(default_factory=list)  # written on the row
    source_quantizations: list[int] = field(default_factory=list)  # written in the row's info
    source_gone: list[int] = field(default_factory=list)  # its GGUF is gone or another file
    said_nothing: list[int] = field(default_factory=list)  # a value the files did not give
    not_written: list[int] = field(default_factory=list)  # written or changed meanwhile
    failed: list[int] = field(default_factory=list)  # files or write failed: logged


def backfill_model_rows(session_factory: sessionmaker[Session], paths: DataPaths, *,
                        stop: threading.Event | None = None) -> BackfillReport:
    """Read, from its files, the positions and fingerprint of every ready model whose row lacks
    them, and write them on its row (only where still NULL); then the source quantization of
    every GGUF import lacking it (``backfill_source_quantization``). Stops between models once
    ``stop`` is set. Never raises: failures are logged and skipped."""
    report = BackfillReport()
    _fill_each(session_factory, repo.lacking_file_facts,
               lambda model: _backfill_one(session_factory, paths, model, report),
               report, stop, what="positions and tokenizer fingerprints",
               until="lists read them from the model files")
    if report.positions or report.fingerprints:
        log.info("filled in from model files: positions of %d model(s), tokenizer fingerprints "
                 "of %d", len(report.positions), len(report.fingerprints))
    return backfill_source_quantization(session_factory, stop=stop, report=report)


def backfill_source_quantization(session_factory: sessionmaker[Session], *,
                                 model_ids: list[int] | None = None,
                                 stop: threading.Event | None = None,
                                 report: BackfillReport | None = None) -> BackfillReport:
    """Write in ``info`` how its GGUF stored the weights (``source_quantization``) for every
    ready GGUF import lacking it (``model_ids``: only those), read from the header of the file
    it was imported from where that is still there. Never raises: failures are logged and
    skipped; a model whose file is gone is skipped quietly (it is read again next time)."""
    report = report if report is not None else BackfillReport()
    _fill_each(session_factory,
               lambda session: repo.lacking_source_quantization(session, model_ids=model_ids),
               lambda model: _fill_source_quantization(session_factory, model, report),
               report, stop, what="GGUF source quantizations",
               until="they read as plain fp32")
    if report.source_quantizations:
        log.info("filled in from GGUF headers: source quantization of %d model(s)",
                 len(report.source_quantizations))
    return report


def _fill_each(session_factory: sessionmaker[Session],
               rows_of: Callable[[Session], list[Model]], fill: Callable[[Model], None],
               report: BackfillReport, stop: threading.Event | None, *, what: str,
               until: str) -> None:
    """``fill`` each row ``rows_of`` reads, one model at a time: a failed write or a bug is
    logged and that model skipped; the database being unreachable ends the pass."""
    try:
        with session_factory() as session:
            rows = rows_of(session)
    except DBAPIError as exc:
        log.warning("model rows' %s were not filled in (reading the models table failed): %s "
                    "until the next start: %s", what, until, exc.orig)
        return
    for model in rows:
        if stop is not None and stop.is_set():
            break
        try:
            fill(model)
        except DBAPIError as exc:
            report.failed.append(model.id)
            log.warning("model %d: its %s were not written on its row (%s); %s until the next "
                        "start", model.id, what, exc.orig, until)
            if is_unreachable(exc):
                log.warning("the database is unreachable: the rest of the models' rows are "
                            "filled in at the next start")
                break
        except Exception:  # a bug reading one model's files: it must not end the app's start
            report.failed.append(model.id)
            log.exception("model %d: filling in its %s failed; skipped, %s until the next "
                          "start", model.id, what, until)


def _fill_source_quantization(session_factory: sessionmaker[Session], model: Model,
                              report: BackfillReport) -> None:
    info = model.info or {}
    source = Path(info["import_source"]) if info.get("import_source") else None
    try:
        if (source is None or not source.is_file()
                or source.stat().st_size != info.get("import_bytes")):
            report.source_gone.append(model.id)  # deleted, moved or replaced since the import
            log.debug("model %d: %s is gone or not the file imported; its source quantization "
                      "stays unknown", model.id, source)
            return
        found = check_gguf(source).source_quantization()  # None: a float32 GGUF
    except (OSError, InvalidInput) as exc:  # unreadable; a header that no longer parses
        report.failed.append(model.id)
        log.warning("model %d: the header of %s could not be read for its source quantization "
                    "(%s); skipped, read again at the next start", model.id, source, exc)
        return
    with session_factory.begin() as session:
        if repo.fill_info_unset(session, model, source_quantization=found):
            report.source_quantizations.append(model.id)
        else:
            report.not_written.append(model.id)


def _backfill_one(session_factory: sessionmaker[Session], paths: DataPaths, model: Model,
                  report: BackfillReport) -> None:
    assert model.path is not None  # lacking_file_facts: rows with files
    try:
        folder = ensure_within(paths.root / model.path, [paths.root])
        positions = (read_positions(paths, model.id, folder) if model.positions is None
                     else None)
        fingerprint = (read_tokenizer_sha256(folder) if model.tokenizer_sha256 is None
                       else None)
    except (OSError, ValueError, InvalidInput) as exc:  # unreadable; a path out of the data dir
        report.failed.append(model.id)
        log.warning("model %d: its files could not be read for its positions / tokenizer "
                    "fingerprint (%s); skipped, read again at the next start", model.id, exc)
        return
    if (model.positions is None and positions is None) or (
            model.tokenizer_sha256 is None and fingerprint is None):
        report.said_nothing.append(model.id)
    with session_factory.begin() as session:
        for column, values, done in (
                ("positions", _positions_values(positions), report.positions),
                ("tokenizer_sha256", {"tokenizer_sha256": fingerprint}, report.fingerprints)):
            if None in values.values():
                continue
            if repo.fill_unset(session, model, column, **values):
                done.append(model.id)
            else:
                report.not_written.append(model.id)


def _positions_values(found: tuple[int, str] | None) -> dict[str, object]:
    limit, source = found or (None, None)
    return {"positions": limit, "positions_source": source}
