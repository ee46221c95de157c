"""The deployment's key: a random id made once per database, the same for every process of it.

It names the deployment's Redis event channel (``core.events.events_channel``). Why not the
broker URL or the database's name: pub/sub ignores the Redis database index, two PostgreSQL
servers may each hold a database named ``interpstudio``, and one server's host name differs
between machines (``localhost`` on one, ``db.lan`` on another). The database is what every process
of a deployment shares, and a key made in it is unique without anyone choosing one.

``check_data_dir``: every process of a deployment must use the same data dir (shared storage on
other machines). A worker given another one ran jobs whose files the API never found: a model
"ready" with no architecture, dataset previews answering 500, tokenizing "no tokenizer files",
an access token left in the wrong folder. The first process to check leaves a random token in
its data dir (``data-dir.id``) and in the database; a process whose data dir holds another
token, or none once the database has one, is refused at start with what to do.

This module is NOT responsible for how the key is used.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import ConfigurationError
from interpstudio.db.models import Deployment

ROW_ID = 1
DATA_DIR_MARKER = "data-dir.id"


class DataDirMismatch(ConfigurationError):
    code = "data_dir_mismatch"

    def __init__(self, data_dir: Path, found: str | None) -> None:
        what = ("holds another deployment's marker" if found is not None
                else f"holds no {DATA_DIR_MARKER} marker")
        super().__init__(
            f"INTERPSTUDIO_DATA_DIR={data_dir} is not the data dir the rest of this deployment "
            f"uses (it {what}): every API process and worker must see the same data dir (shared "
            "storage on other machines); point the variable at it. A restored copy of the right "
            f"one needs its {DATA_DIR_MARKER} file back",
            details={"data_dir": str(data_dir), "marker": DATA_DIR_MARKER,
                     "found": found is not None})


def deployment_key(session_factory: sessionmaker[Session]) -> str:
    """The key, made on first use; two processes making it at once agree (the second insert
    conflicts on the one row id and reads the first one's key)."""
    for _ in range(2):
        with session_factory() as session:
            row = session.get(Deployment, ROW_ID)
            if row is not None:
                return row.key
            session.add(Deployment(id=ROW_ID, key=uuid.uuid4().hex))
            try:
                session.commit()
            except IntegrityError:
                continue
            return session.get(Deployment, ROW_ID).key  # type: ignore[union-attr]
    raise RuntimeError("the deployment row could neither be read nor made")


def check_data_dir(session_factory: sessionmaker[Session], data_dir: Path) -> None:
    """Refuse ``data_dir`` unless it is the deployment's (see the module docstring); the first
    process to check makes it so. Idempotent; cheap (one row, one small file)."""
    deployment_key(session_factory)  # the row exists
    marker = Path(data_dir) / DATA_DIR_MARKER
    with session_factory.begin() as session:
        recorded = session.get(Deployment, ROW_ID).data_token  # type: ignore[union-attr]
    # the marker after the row: a process claiming the row wrote its marker first, so one
    # starting beside it in the same data dir that sees the claim sees the marker too
    found = _read_marker(marker)
    if recorded is None:  # the first check of this deployment (or of one from before markers)
        made = False
        if found is None:  # the file first: a token in the database and no file would lock out
            found, made = _make_marker(marker)
        with session_factory.begin() as session:
            claimed = session.execute(
                update(Deployment).where(Deployment.id == ROW_ID,
                                         Deployment.data_token.is_(None))
                .values(data_token=found)).rowcount == 1  # type: ignore[attr-defined]
            recorded = found if claimed else session.get(Deployment, ROW_ID).data_token  # type: ignore[union-attr]
        if made and recorded != found:  # another data dir was claimed first: leave this one bare
            marker.unlink(missing_ok=True)
            found = None
    if found != recorded:
        raise DataDirMismatch(Path(data_dir), found)


def _read_marker(marker: Path) -> str | None:
    for _ in range(50):  # a marker another process is writing this moment reads empty
        try:
            text = marker.read_text().strip()
        except FileNotFoundError:
            return None
        if text:
            return text
        time.sleep(0.01)
    return ""


def _make_marker(marker: Path) -> tuple[str, bool]:
    """A new marker (token, True), or the one a process starting beside this one made first
    in the same data dir (its token, False)."""
    token = uuid.uuid4().hex
    marker.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return _read_marker(marker) or "", False
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True
