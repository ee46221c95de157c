"""``backfill_model_rows``: write on model rows the positions and tokenizer fingerprint their
import did not record, read once from their files.

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

This module is NOT responsible for reading the values (``read_positions``,
``read_tokenizer_sha256``) or for rows of models being imported (their import records both).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import InvalidInput
from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.db.models import Model
from interpstudio.db.repositories import models as repo
from interpstudio.db.session import is_unreachable
from interpstudio.services.models import read_positions
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256

log = logging.getLogger(__name__)


@dataclass
class BackfillReport:
    """What one backfill did, by model id."""

    positions: list[int] = field(default_factory=list)  # written on the row
    fingerprints: list[int] = field(default_factory=list)  # written on the row
    said_nothing: list[int] = field(default_factory=list)  # a value the files did not give
    not_written: list[int] = field(default_factory=list)  # written or changed meanwhile
    failed: list[int] = field(default_factory=list)  # files or write failed: logged


def backfill_model_rows(session_factory: sessionmaker[Session], paths: DataPaths, *,
                        stop: threading.Event | None = None) -> BackfillReport:
    """Read, from its files, the positions and fingerprint of every ready model whose row lacks
    them, and write them on its row (only where still NULL). Stops between models once ``stop``
    is set. Never raises: failures are logged and skipped."""
    report = BackfillReport()
    try:
        with session_factory() as session:
            rows = repo.lacking_file_facts(session)
    except DBAPIError as exc:
        log.warning("model rows' positions and tokenizer fingerprints were not filled in at "
                    "start (reading the models table failed): lists read them from the model "
                    "files until the next start: %s", exc.orig)
        return report
    for model in rows:
        if stop is not None and stop.is_set():
            break
        try:
            _backfill_one(session_factory, paths, model, report)
        except DBAPIError as exc:
            report.failed.append(model.id)
            log.warning("model %d: its positions / tokenizer fingerprint were not written on "
                        "its row (%s); read from its files until the next start", model.id,
                        exc.orig)
            if is_unreachable(exc):
                log.warning("the database is unreachable: the rest of the models' rows are "
                            "filled in at the next start")
                break
        except Exception:  # a bug reading one model's files: it must not end the app's start
            report.failed.append(model.id)
            log.exception("model %d: filling in its positions / tokenizer fingerprint failed; "
                          "skipped, read from its files until the next start", model.id)
    if report.positions or report.fingerprints:
        log.info("filled in from model files: positions of %d model(s), tokenizer fingerprints "
                 "of %d", len(report.positions), len(report.fingerprints))
    return report


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
