"""HTTP replies of the test hub: Hub-style errors, file headers and byte ranges.

What it is: the `Reply` value the request handler sends, the error replies huggingface_hub 2.4.0
maps to typed exceptions (`X-Error-Code` = RepoNotFound / RevisionNotFound / EntryNotFound /
GatedRepo, plus `X-Error-Message` and a JSON `{"error": ...}` body), the headers of `/resolve`
(`X-Repo-Commit`, quoted `ETag`, `X-Linked-Etag`/`X-Linked-Size` for LFS files) and the parsing
of `Range: bytes=...`.

What it is NOT: it does not write to sockets or apply faults (see `handler.py`).
"""

from __future__ import annotations

import json
import mimetypes
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hub_server.repo_store import RepoFile

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass
class Reply:
    """What to send: a status, headers and either a small body or a slice of a repo file."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: RepoFile | None = None
    start: int = 0  # first byte of `file` to send
    end: int = 0  # one past the last byte of `file` to send

    @property
    def content_length(self) -> int:
        return self.end - self.start if self.file is not None else len(self.body)


def json_reply(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(
        status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, body
    )


def error_reply(
    status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """A Hub error: JSON body and `X-Error-Message` (+ `X-Error-Code` when the Hub sends one)."""
    error_headers = {"X-Error-Message": message, **(headers or {})}
    if code is not None:
        error_headers["X-Error-Code"] = code
    return json_reply({"error": message}, status=status, headers=error_headers)


def repo_not_found(*, authenticated: bool) -> Reply:
    """Unknown or hidden (private) repo: 401 when anonymous, 404 with a token, like the Hub."""
    return error_reply(
        404 if authenticated else 401,
        "Repository not found",
        code="RepoNotFound",
    )


def revision_not_found(revision: str) -> Reply:
    return error_reply(404, f"Invalid rev id: {revision}", code="RevisionNotFound")


def entry_not_found(commit_sha: str) -> Reply:
    # The Hub names the commit even for a missing file; huggingface_hub caches the absence under it.
    return error_reply(
        404, "Entry not found", code="EntryNotFound", headers={"X-Repo-Commit": commit_sha}
    )


def gated_repo(repo_type: str, repo_id: str, *, authenticated: bool) -> Reply:
    """Gated repo without approval: 401 when anonymous, 403 with a token that is not approved."""
    if authenticated:
        message = (
            f"Access to {repo_type} {repo_id} is restricted and you are not in the authorized "
            f"list. Visit the repo page to ask for access."
        )
        return error_reply(403, message, code="GatedRepo")
    message = (
        f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be "
        f"authenticated to access it. Please log in."
    )
    return error_reply(401, message, code="GatedRepo")


def invalid_credentials() -> Reply:
    return error_reply(401, "Invalid credentials in Authorization header")


def file_headers(repo_file: RepoFile, commit_sha: str) -> dict[str, str]:
    """Headers of a `/resolve` answer for `repo_file` (200, 206 or the 302 to the CDN)."""
    name = repo_file.path.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {
        "X-Repo-Commit": commit_sha,
        "ETag": f'"{repo_file.etag}"',
        "Accept-Ranges": "bytes",
        "Content-Type": content_type,
        "Content-Disposition": (
            f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name.replace(chr(34), '')}\";"
        ),
    }
    if repo_file.is_lfs:
        headers["X-Linked-Etag"] = f'"{repo_file.sha256}"'
        headers["X-Linked-Size"] = str(repo_file.size)
    return headers


def byte_range(range_header: str | None, size: int) -> tuple[int, int] | str | None:
    """Parse `Range` against a file of `size` bytes.

    Returns (start, end_exclusive) for a satisfiable single range, None to send the whole file
    (no header, or a form we ignore such as several ranges), or "unsatisfiable" for a 416.
    """
    if range_header is None:
        return None
    match = _RANGE_RE.match(range_header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or start >= end:
        return "unsatisfiable"
    return start, end


def file_reply(repo_file: RepoFile, headers: dict[str, str], range_header: str | None) -> Reply:
    """200 with the whole file, 206 with the requested range, or 416 (Content-Range `*/size`)."""
    size = repo_file.size
    requested = byte_range(range_header, size)
    if requested == "unsatisfiable":
        return error_reply(
            416, f"Requested range not satisfiable: {range_header}",
            headers={"Content-Range": f"bytes */{size}"},
        )  # fmt: skip
    if requested is None:
        return Reply(200, dict(headers), file=repo_file, start=0, end=size)
    start, end = requested  # type: ignore[misc]
    ranged = {**headers, "Content-Range": f"bytes {start}-{end - 1}/{size}"}
    return Reply(206, ranged, file=repo_file, start=start, end=end)
