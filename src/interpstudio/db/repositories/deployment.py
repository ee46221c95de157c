"""The deployment's key: a random id made once per database, the same for every process of it.

It names the deployment's Redis event channel (``core.events.events_channel``). Why not the
broker URL or the database's name: pub/sub ignores the Redis database index, two PostgreSQL
servers may each hold a database named ``interpstudio``, and one server's host name differs
between machines (``localhost`` on one, ``db.lan`` on another). The database is what every process
of a deployment shares, and a key made in it is unique without anyone choosing one. This module is
NOT responsible for how the key is used.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.db.models import Deployment

ROW_ID = 1


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
