"""Finding the jobs of workers that are gone: ``sweep_gone_workers`` marks them interrupted
(with the records they were making, ``db.repositories.jobs``), so nothing stays "running" with no
process behind it, and removes the access token each was handed and had not taken yet (a worker
killed between its claim and ``model_files.take_token``): no one will take it now. Every process
that can see the jobs table sweeps: workers on start and periodically (idle or busy), the API
process (``serve --workers 0`` with every worker killed) and each CLI command (a command killed
with kill -9 ran its job in its own process).

This module is NOT responsible for running jobs (``jobs/runner.py``) or for resuming them
(``services/jobs.py``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import socket
from datetime import timedelta
from pathlib import Path

import psutil
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.paths import DataPaths
from interpstudio.db.repositories import jobs as repo
from interpstudio.services.model_files import discard_token

log = logging.getLogger(__name__)


@functools.cache
def process_scope() -> str:
    """Which processes this one can see by PID: a short hash of the kernel's boot id and this
    PID namespace (Linux). A hostname alone does not say it: a container (own PID namespace,
    same hostname, ``--network host``) or a cloned VM has the host's name, and its worker's PID
    read here named some other process or none, so a live worker's jobs were swept for dead,
    both ways. Elsewhere (no ``/proc``) the hostname is all there is."""
    parts = []
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        with contextlib.suppress(OSError):
            parts.append(Path(path).read_text().strip() if "boot" in path
                         else str(os.stat(path).st_ino))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8] if parts else "host"


def worker_is_alive(worker_id: str) -> bool | None:
    """True/False for a worker this process can see by PID (``host:pid:process-start-time:
    random:scope``, same host and ``process_scope``); None otherwise, or for an id without a
    scope (written before it was recorded): its heartbeat decides."""
    try:
        host, pid, start, _, scope = worker_id.split(":")
    except ValueError:
        return None
    if host != socket.gethostname() or scope != process_scope():
        return None
    try:
        return int(psutil.Process(int(pid)).create_time()) == int(start)
    except (psutil.NoSuchProcess, ValueError):
        return False


def sweep_gone_workers(session_factory: sessionmaker[Session], heartbeat_timeout_s: float, *,
                       paths: DataPaths) -> list[int]:
    """Mark interrupted the running jobs whose workers are gone (this host: the process no longer
    exists; another host: no heartbeat for ``heartbeat_timeout_s``), with the records they were
    making, and remove their untaken token files under ``paths`` (a resume asks for the token
    again); return the job ids. A worker alive on this host keeps its jobs whatever its last
    beat (a laptop waking up, a long write lock): interrupting them let a resume run a second
    copy beside the first."""
    with session_factory.begin() as session:
        seen = {w: worker_is_alive(w) for w in repo.running_worker_ids(session)}
        dead = [w for w, alive in seen.items() if alive is False]
        ids = (repo.interrupt_workers(session, dead, "worker process died; resume to continue")
               if dead else [])
        ids += repo.interrupt_stale(session, timeout=timedelta(seconds=heartbeat_timeout_s),
                                    alive=[w for w, alive in seen.items() if alive])
        # before the commit: once a job reads interrupted, a resume may hand it a new token
        for job_id in ids:
            discard_token(paths, job_id)
    if ids:
        log.warning("marked jobs %s interrupted (their workers are gone)", ids)
    return ids
