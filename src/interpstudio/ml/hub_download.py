"""Resumable, verified download of a repo's files from a Hugging Face Hub (or mirror).

Why not ``hf_hub_download``: in huggingface_hub 2.4.0 it buffers up to 10 MB in memory before
writing, restarts from byte 0 after a dropped connection, does not retry a 5xx on the GET, and uses
a fresh temp file in each process, so nothing survives a crash. ``download_files`` is built on the
library's own pieces instead — ``hf_hub_url`` (URL of a file at a commit), ``build_hf_headers``
(auth + user agent), ``get_session()`` (its shared HTTP client, which drops the token on a
cross-origin redirect to a CDN) and ``hf_raise_for_status`` (its typed errors, translated by
``hub_errors.translate_hub_error``) — and adds:

* bytes go to ``<dest>/<path>.incomplete`` as they arrive (unbuffered ``os.write``);
* a later call, in this or any process, continues with ``Range: bytes=<size on disk>-``;
* transient failures (dropped connection, timeout, 5xx, 408, 429) are retried with exponential
  backoff (``Retry-After`` honoured); the attempt count resets whenever bytes arrive;
* each file is checked against the hub's size and sha256 (LFS files) or git blob sha1 (small
  files) before it is renamed to its final name; a mismatch removes the partial file and raises
  ``CorruptDownload`` naming the file;
* ``progress`` gets exact bytes done/total per file and overall after every chunk;
* ``should_stop()`` is checked between chunks: the download stops with ``JobCancelled`` and the
  partial files stay (the caller removes them with ``remove_partials`` for a cancel, keeps them
  for a pause);
* a full disk raises ``DiskFull`` (partial file kept, so a resume continues after space is freed).

The token is used for the requests and never logged, stored or put into an error.
This module is NOT responsible for deciding which files to fetch or checking free disk first
(``hub_preflight.py``), or for recording anything in a database.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interpstudio.core.errors import JobCancelled
from interpstudio.ml.hub_errors import (
    CorruptDownload,
    DiskFull,
    HubUnavailable,
    translate_hub_error,
)

PARTIAL_SUFFIX = ".incomplete"
HASH_BLOCK = 1024 * 1024
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RemoteFile:
    """A file of a repo at a commit, as the hub describes it."""

    path: str
    size: int
    sha256: str | None = None  # LFS files: the hub's sha256 of the content
    git_sha1: str | None = None  # small files: the git blob id (sha1 of "blob <size>\0" + data)


@dataclass(frozen=True)
class FileProgress:
    """Exact byte counts after a chunk; ``done``/``total`` are over all files of the call."""

    path: str
    file_done: int
    file_total: int
    done: int
    total: int


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # consecutive failures without a byte of progress
    base_delay_s: float = 0.5
    max_delay_s: float = 16.0
    timeout_s: float = 30.0  # connect / read timeout of one request

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        backoff = min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s)
        return max(backoff, min(retry_after or 0.0, self.max_delay_s))


@dataclass
class DownloadedFile:
    path: str
    size: int
    sha256: str | None
    verified_with: str  # "sha256", "git-sha1" or "size"
    resumed_from: int  # bytes already on disk when this call started
    fetched: int  # body bytes received for this file in this call (all attempts)
    skipped: bool  # already complete before this call


@dataclass
class DownloadResult:
    files: list[DownloadedFile] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0

    @property
    def fetched_bytes(self) -> int:
        return sum(f.fetched for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {"files": [vars(f) for f in self.files], "retries": self.retries,
                "seconds": self.seconds, "fetched_bytes": self.fetched_bytes}


ProgressCallback = Callable[[FileProgress], None]


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` in seconds when the server said so."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def partial_path(dest: Path, remote_path: str) -> Path:
    return dest / f"{remote_path}{PARTIAL_SUFFIX}"


def partial_files(dest: Path) -> list[Path]:
    return sorted(dest.rglob(f"*{PARTIAL_SUFFIX}")) if dest.is_dir() else []


def remove_partials(dest: Path) -> int:
    """Delete every partial file under ``dest``; returns the bytes freed."""
    freed = 0
    for path in partial_files(dest):
        freed += path.stat().st_size
        path.unlink(missing_ok=True)
    return freed


def download_files(
    files: list[RemoteFile],
    *,
    endpoint: str,
    repo_id: str,
    commit: str,
    dest: Path,
    token: str | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
    repo_type: str = "model",
) -> DownloadResult:
    """Download ``files`` of ``repo_id`` (a ``repo_type`` repo: model or dataset) at ``commit``
    into ``dest``, resuming partial files."""
    started = time.perf_counter()
    downloader = _Downloader(endpoint=endpoint, repo_id=repo_id, repo_type=repo_type,
                             commit=commit, dest=dest,
                             token=token, progress=progress, should_stop=should_stop or _never,
                             sleep=sleep, retry=retry or RetryPolicy(),
                             total=sum(f.size for f in files))
    result = DownloadResult()
    for remote in files:
        result.files.append(downloader.fetch(remote))
    result.retries = downloader.retries
    result.seconds = time.perf_counter() - started
    return result


def _never() -> bool:
    return False


class _Downloader:
    def __init__(self, *, endpoint: str, repo_id: str, repo_type: str, commit: str, dest: Path,
                 token: str | None, progress: ProgressCallback | None,
                 should_stop: Callable[[], bool], sleep: Callable[[float], None],
                 retry: RetryPolicy, total: int) -> None:
        from huggingface_hub import get_session
        from huggingface_hub.utils import build_hf_headers

        self.endpoint, self.repo_id, self.commit, self.dest = endpoint, repo_id, commit, dest
        self.repo_type = repo_type
        self.token = token
        self.headers = build_hf_headers(token=token if token else False)
        self.headers["Accept-Encoding"] = "identity"  # byte offsets must be the file's own
        self.session = get_session()
        self.progress, self.should_stop, self.sleep = progress, should_stop, sleep
        self.retry = retry
        self.total, self.done_before = total, 0  # bytes of earlier files of this call
        self.retries = 0
        self.file_fetched = 0  # body bytes received for the current file in this call

    # -- one file -------------------------------------------------------------------------------
    def fetch(self, remote: RemoteFile) -> DownloadedFile:
        final = self.dest / remote.path
        if final.is_file() and final.stat().st_size == remote.size:
            self._report(remote, remote.size)
            self.done_before += remote.size
            return DownloadedFile(remote.path, remote.size, remote.sha256, "already complete",
                                  remote.size, 0, True)
        partial = partial_path(self.dest, remote.path)
        partial.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists() and partial.stat().st_size > remote.size:
            partial.unlink()  # longer than the file: not a prefix of it
        resumed_from = partial.stat().st_size if partial.exists() else 0
        hasher = _Hasher(remote, partial, resumed_from)
        self.file_fetched = 0
        self._fetch_into(remote, partial, hasher)
        verified_with = hasher.verify(remote, partial)
        os.replace(partial, final)
        self.done_before += remote.size
        return DownloadedFile(remote.path, remote.size, hasher.sha256_hex(), verified_with,
                              resumed_from, self.file_fetched, False)

    def _fetch_into(self, remote: RemoteFile, partial: Path, hasher: _Hasher) -> None:
        failures = 0
        while True:
            offset = partial.stat().st_size if partial.exists() else 0
            self._report(remote, offset)
            if offset >= remote.size:
                return
            self._check_stop(remote)
            try:
                self._stream(remote, partial, offset, hasher)
                failures = 0
            except _Transient as exc:
                progressed = (partial.stat().st_size if partial.exists() else 0) > offset
                failures = 1 if progressed else failures + 1
                if failures > self.retry.attempts:
                    raise HubUnavailable(self.endpoint, f"{remote.path}: {exc} "
                                         f"({self.retry.attempts} retries)") from None
                self.retries += 1
                self.sleep(self.retry.delay(failures, exc.retry_after))

    def _stream(self, remote: RemoteFile, partial: Path, offset: int, hasher: _Hasher) -> None:
        """One GET from ``offset``, appending to ``partial``. Raises ``_Transient`` to retry."""
        import httpx2
        from huggingface_hub import hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils import hf_raise_for_status

        url = hf_hub_url(self.repo_id, remote.path, repo_type=self.repo_type,
                         revision=self.commit, endpoint=self.endpoint)
        headers = dict(self.headers)
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with self.session.stream("GET", url, headers=headers, follow_redirects=True,
                                     timeout=self.retry.timeout_s) as response:
                if response.status_code == 416:  # the file is shorter than our partial
                    partial.unlink(missing_ok=True)
                    hasher.reset()
                    raise _Transient("range not satisfiable; starting the file again")
                if response.status_code in TRANSIENT_STATUS:
                    raise _Transient(f"HTTP {response.status_code}",
                                     _retry_after(response.headers.get("Retry-After")))
                if response.status_code >= 400:
                    response.read()
                    try:
                        hf_raise_for_status(response)
                    except HfHubHTTPError as exc:
                        ours = translate_hub_error(
                            exc, repo_id=self.repo_id, revision=self.commit,
                            endpoint=self.endpoint, token_given=bool(self.token),
                            filename=remote.path)
                        if ours is None:
                            raise
                        raise ours from None
                if offset and response.status_code == 200:  # server ignored the Range
                    partial.unlink(missing_ok=True)
                    hasher.reset()
                    offset = 0
                self._write_body(response, remote, partial, offset, hasher)
        except httpx2.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None

    def _write_body(self, response: Any, remote: RemoteFile, partial: Path, offset: int,
                    hasher: _Hasher) -> None:
        written = 0
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for chunk in response.iter_raw():  # as it arrives (identity encoding: raw = file)
                if not chunk:
                    continue
                self._write_all(fd, chunk, remote, offset + written)
                hasher.update(chunk)
                written += len(chunk)
                self.file_fetched += len(chunk)
                self._report(remote, offset + written)
                if offset + written > remote.size:
                    break  # more than the hub announced: verification will say so
                self._check_stop(remote)
        finally:
            os.close(fd)

    def _write_all(self, fd: int, chunk: bytes, remote: RemoteFile, at: int) -> None:
        view = memoryview(chunk)
        while view:
            try:
                n = os.write(fd, view)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DiskFull(path=str(self.dest), filename=remote.path,
                                   written=at + len(chunk) - len(view),
                                   needed=remote.size) from exc
                raise
            view = view[n:]

    def _check_stop(self, remote: RemoteFile) -> None:
        if self.should_stop():
            raise JobCancelled(f"download stopped during {remote.path}")

    def _report(self, remote: RemoteFile, file_done: int) -> None:
        if self.progress is not None:
            self.progress(FileProgress(remote.path, file_done, remote.size,
                                       self.done_before + file_done, self.total))


class _Hasher:
    """sha256 (and the git blob sha1) of a file built across resumed requests."""

    def __init__(self, remote: RemoteFile, partial: Path, existing: int) -> None:
        self.size = remote.size
        self.needs_git_sha1 = remote.sha256 is None and remote.git_sha1 is not None
        self.reset()
        if existing:
            with partial.open("rb") as handle:
                while block := handle.read(HASH_BLOCK):
                    self.update(block)

    def reset(self) -> None:
        self.sha256 = hashlib.sha256()
        self.git_sha1 = hashlib.sha1(f"blob {self.size}\0".encode(), usedforsecurity=False)

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        if self.needs_git_sha1:  # small files only: LFS files are checked by sha256 alone
            self.git_sha1.update(data)

    def sha256_hex(self) -> str:
        return self.sha256.hexdigest()

    def verify(self, remote: RemoteFile, partial: Path) -> str:
        size = partial.stat().st_size
        checks = [("size", str(remote.size), str(size))]
        if remote.sha256:
            checks.append(("sha256", remote.sha256.lower(), self.sha256.hexdigest()))
        elif remote.git_sha1:
            checks.append(("git-sha1", remote.git_sha1.lower(), self.git_sha1.hexdigest()))
        for algorithm, expected, actual in checks:
            if expected != actual:
                partial.unlink(missing_ok=True)
                raise CorruptDownload(remote.path, algorithm=algorithm, expected=expected,
                                      actual=actual)
        return checks[-1][0]


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
