"""Fault injection and traffic accounting for the test hub.

What it is: `Faults`, the per-server settings a test changes while the server runs (throttle,
dropped connections, transient 5xx answers, corrupted bytes), and `RequestLog`, which records
every request (method, path, Range, status, whether an Authorization header was present, body
bytes sent) and counts body bytes served per file.

What it is NOT: it does not send anything itself (the request handler asks it what to do), and it
never stores a token: the log keeps only "an Authorization header was present: yes/no".
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

# Absolute file offsets that a corrupted response flips (every CORRUPT_STRIDE-th byte), so a file
# assembled from several Range responses is corrupted the same way as a single full response.
CORRUPT_STRIDE = 1024


@dataclass(frozen=True)
class FileSelector:
    """Which files a fault applies to: a repo path, optionally limited to one repo id."""

    filename: str | None = None  # None: every request, API calls included
    repo_id: str | None = None

    def matches(self, repo_id: str | None, filename: str | None) -> bool:
        if self.repo_id is not None and self.repo_id != repo_id:
            return False
        return self.filename is None or self.filename == filename


@dataclass
class DropRule:
    selector: FileSelector
    after_bytes: int
    remaining: int | None  # None: every matching response is cut


@dataclass
class FailRule:
    selector: FileSelector
    status: int
    remaining: int
    methods: frozenset[str]
    retry_after: int | None


class Faults:
    """Thread-safe fault settings; every method may be called while the server is serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttle: int | None = None
        self._drops: list[DropRule] = []
        self._fails: list[FailRule] = []
        self._corrupt: list[FileSelector] = []

    def set_throttle(self, bytes_per_s: int | None) -> None:
        """Limit every response body to `bytes_per_s` (per response); None removes the limit."""
        if bytes_per_s is not None and bytes_per_s <= 0:
            raise ValueError(f"bytes_per_s must be positive or None, got {bytes_per_s}.")
        with self._lock:
            self._throttle = bytes_per_s

    def drop_connection(
        self, filename: str, *, after_bytes: int, times: int | None = 1, repo_id: str | None = None
    ) -> None:
        """Close the socket after `after_bytes` body bytes of a response for `filename`.

        The headers announce the full Content-Length, so the client sees a truncated body. The
        rule fires on the next `times` responses that are long enough (None: on every one).
        """
        if after_bytes < 0:
            raise ValueError(f"after_bytes must be >= 0, got {after_bytes}.")
        with self._lock:
            self._drops.append(DropRule(FileSelector(filename, repo_id), after_bytes, times))

    def fail_requests(
        self,
        *,
        status: int = 503,
        times: int = 1,
        filename: str | None = None,
        repo_id: str | None = None,
        methods: Sequence[str] = ("GET", "HEAD", "POST"),
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (e.g. 500/503) instead."""
        if not 500 <= status <= 599 and status not in (408, 429):
            raise ValueError(f"status {status} is not a transient error (408, 429 or 5xx).")
        with self._lock:
            self._fails.append(
                FailRule(
                    FileSelector(filename, repo_id),
                    status,
                    times,
                    frozenset(m.upper() for m in methods),
                    retry_after,
                )
            )

    def corrupt(self, filename: str, *, repo_id: str | None = None) -> None:
        """Serve `filename` with some bytes flipped (same size, different sha256)."""
        with self._lock:
            self._corrupt.append(FileSelector(filename, repo_id))

    def clear(self) -> None:
        """Remove every fault (throttle included)."""
        with self._lock:
            self._throttle = None
            self._drops.clear()
            self._fails.clear()
            self._corrupt.clear()

    # -- queried by the request handler -------------------------------------------------------

    @property
    def throttle(self) -> int | None:
        with self._lock:
            return self._throttle

    def take_failure(
        self, method: str, repo_id: str | None, filename: str | None
    ) -> FailRule | None:
        """The failure to answer this request with, if any (consumes one use of the rule)."""
        with self._lock:
            for rule in self._fails:
                if (
                    rule.remaining > 0
                    and method in rule.methods
                    and rule.selector.matches(repo_id, filename)
                ):
                    rule.remaining -= 1
                    return rule
        return None

    def drop_point(self, repo_id: str | None, filename: str | None, body_len: int) -> int | None:
        """Body offset at which to cut this response, if a drop rule fires (consumes one use)."""
        with self._lock:
            for rule in self._drops:
                if (
                    (rule.remaining is None or rule.remaining > 0)
                    and rule.selector.matches(repo_id, filename)
                    and rule.after_bytes < body_len
                ):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule.after_bytes
        return None

    def is_corrupted(self, repo_id: str | None, filename: str | None) -> bool:
        with self._lock:
            return any(s.matches(repo_id, filename) for s in self._corrupt)


def corrupt_bytes(chunk: bytes, offset: int) -> bytes:
    """Flip every byte of `chunk` whose absolute file offset is a multiple of CORRUPT_STRIDE."""
    data = bytearray(chunk)
    first = -offset % CORRUPT_STRIDE
    for i in range(first, len(data), CORRUPT_STRIDE):
        data[i] ^= 0xFF
    return bytes(data)


@dataclass(frozen=True)
class RequestRecord:
    """One answered request. Never holds the token, only whether one was sent."""

    method: str
    path: str  # URL path and query, as received
    range: str | None
    status: int
    authorized: bool  # an Authorization header was present
    body_bytes: int  # body bytes actually written (0 for HEAD; JSON bodies count too)
    repo_type: str | None = None
    repo_id: str | None = None
    filename: str | None = None
    dropped: bool = False  # the connection was cut on purpose mid-body


@dataclass
class RequestLog:
    """Thread-safe request log and per-file byte counters."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _records: list[RequestRecord] = field(default_factory=list)

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def bytes_served(self, filename: str, *, repo_id: str | None = None) -> int:
        """Body bytes sent for `filename` (all repos unless `repo_id` is given), GETs summed."""
        return sum(
            r.body_bytes
            for r in self.records
            if r.filename == filename and (repo_id is None or r.repo_id == repo_id)
        )

    def for_file(self, filename: str, *, repo_id: str | None = None) -> list[RequestRecord]:
        return [
            r
            for r in self.records
            if r.filename == filename and (repo_id is None or r.repo_id == repo_id)
        ]
