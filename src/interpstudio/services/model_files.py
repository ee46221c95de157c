"""Where a model's files live in the data dir, and how an access token reaches its job.

Layout: ``models/<id>/checkpoint/`` (the transformers checkpoint, partial downloads as
``*.incomplete``), ``models/<id>/architecture.json`` (written by the job after inspection) and
``models/<id>/quantized/`` (the q4/q2 packed layers of earlier loads, ``ml/quantized_cache``).

Token hand-off (the token is never in the database, job params, logs, events or responses): the
API writes it to ``tmp/tokens/job-<id>.token`` (folder 0700, file 0600, created exclusively) in
the same request that queues the job; the job reads and DELETES it as its first step and keeps it
in memory only while it runs. A resume or retry of a gated download therefore asks for the token
again (the resume/retry body takes one). A job that ends without taking its file removes it: as
its worker finishes it (``jobs/runner.py``), cancelled while queued (``services/jobs.py``), or
marked interrupted by the sweep when its worker was killed before taking it
(``services/worker_sweep.py``). Files a crashed request left behind are removed after
``STALE_TOKEN_S``. This module is NOT responsible for what is downloaded or imported.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from interpstudio.core.paths import DataPaths

STALE_TOKEN_S = 3600.0


def model_dir(paths: DataPaths, model_id: int) -> Path:
    return paths.models / str(int(model_id))


def checkpoint_dir(paths: DataPaths, model_id: int) -> Path:
    return model_dir(paths, model_id) / "checkpoint"


def quantized_cache_dir(paths: DataPaths, model_id: int) -> Path:
    return model_dir(paths, model_id) / "quantized"


def architecture_file(paths: DataPaths, model_id: int) -> Path:
    return model_dir(paths, model_id) / "architecture.json"


def _token_dir(paths: DataPaths) -> Path:
    folder = paths.tokens
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def _token_name(job_id: int) -> str:
    return f"job-{int(job_id)}.token"


def token_file(paths: DataPaths, job_id: int) -> Path:
    return _token_dir(paths) / _token_name(job_id)


def hand_token_to_job(paths: DataPaths, job_id: int, token: str) -> None:
    """Leave ``token`` for job ``job_id`` in a file only this user can read."""
    target = token_file(paths, job_id)
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, token.encode())
    finally:
        os.close(fd)


def take_token(paths: DataPaths, job_id: int) -> str | None:
    """Read and delete job ``job_id``'s token file (None when there is none)."""
    target = token_file(paths, job_id)
    _remove_stale(target.parent)
    try:
        token = target.read_text().strip()
    except FileNotFoundError:
        return None
    target.unlink(missing_ok=True)
    return token or None


def discard_token(paths: DataPaths, job_id: int) -> None:
    """Remove job ``job_id``'s token file, if any (the folder is not made for it)."""
    (paths.tokens / _token_name(job_id)).unlink(missing_ok=True)


def _remove_stale(folder: Path) -> None:
    cutoff = time.time() - STALE_TOKEN_S
    for path in folder.glob("job-*.token"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue


def disk_usage(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (0 when it does not exist)."""
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
