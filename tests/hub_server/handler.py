"""The request handler of the test hub: access rules, endpoints, faults, streaming.

What it is: a `BaseHTTPRequestHandler` (HTTP/1.1, keep-alive) that parses the route, applies the
Hub's access rules (unknown/private repo -> RepoNotFound, gated -> GatedRepo on file downloads),
answers the endpoint, and streams file bytes through the server's faults (transient 5xx,
throttle, dropped connection, corrupted bytes) while logging every request.

What it is NOT: it owns no state; repos, faults, the log and settings belong to the `HubServer`
it is attached to (`self.server.hub`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from hub_server import payloads
from hub_server.faults import RequestRecord, corrupt_bytes
from hub_server.replies import (
    Reply,
    entry_not_found,
    error_reply,
    file_headers,
    file_reply,
    gated_repo,
    invalid_credentials,
    json_reply,
    repo_not_found,
    revision_not_found,
)
from hub_server.repo_store import UNGATED_FILES, Access, Repo, Revision
from hub_server.routes import Route, parse_route

if TYPE_CHECKING:
    from hub_server.server import HubServer

STREAM_CHUNK = 64 * 1024
_THROTTLE_SLICES_PER_S = 20  # a throttled body is written in ~50 ms slices
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
# Endpoints that a gated repo answers without approval (the Hub lists gated repos' files).
_OPEN_ON_GATED = {"info", "tree", "paths_info", "refs"}


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle keep-alive connection may wait for its next request

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the RequestLog keeps the record)."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- dispatch -----------------------------------------------------------------------------

    def _token(self) -> str | None:
        value = self.headers.get("Authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _dispatch(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = parse_route(self.path)
        filename = route.path if route is not None and route.kind in {"resolve", "cdn"} else None
        repo_id = route.repo_id if route is not None else None
        failure = self.hub.faults.take_failure(method, repo_id, filename)
        if failure is not None:
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            reply = error_reply(failure.status, "Injected transient failure", headers=headers)
        elif route is None:
            reply = error_reply(
                404, f"Not found: {method} {self.path} is not served by the test hub"
            )
        else:
            try:
                reply = self._answer(method, route, body)
            except Exception as error:  # a bug in the test hub: answer 500 and keep it for tests
                self.hub.server_errors.append(error)
                reply = error_reply(500, f"Test hub error: {error!r}")
        self._send(method, reply, route)

    def _answer(self, method: str, route: Route, body: bytes) -> Reply:
        token = self._token()
        users = self.hub.store.user_tokens
        if token is not None and token not in users and self.hub.strict_tokens:
            return invalid_credentials()
        if route.kind == "agent_harnesses":
            return json_reply({"standardEnvVars": [], "harnesses": {}})
        if route.kind == "whoami":
            if token is None or token not in users:
                return invalid_credentials()
            return json_reply(payloads.whoami_payload(users[token]))
        if route.kind == "cdn":
            return self._answer_cdn(route)
        if (route.kind == "paths_info") != (method == "POST"):
            return error_reply(405, f"{method} is not allowed on {self.path}")
        assert route.repo_type is not None and route.repo_id is not None
        repo = self.hub.store.get(route.repo_type, route.repo_id)
        access = repo.access_for(token) if repo is not None else Access.HIDDEN
        if repo is None or access is Access.HIDDEN:
            return repo_not_found(authenticated=token is not None)
        is_open_file = route.kind == "resolve" and route.path in UNGATED_FILES
        if access is Access.GATED and route.kind not in _OPEN_ON_GATED and not is_open_file:
            return gated_repo(repo.repo_type, repo.repo_id, authenticated=token is not None)
        if route.kind == "auth_check":
            return json_reply({})
        if route.kind == "refs":
            return json_reply(payloads.refs_payload(repo, include_prs=route.flag("include_prs")))
        revision_name = route.revision or "main"
        revision = repo.resolve(revision_name)
        if revision is None:
            return revision_not_found(revision_name)
        if route.kind == "info":
            return json_reply(
                payloads.repo_info_payload(
                    repo,
                    revision,
                    files_metadata=route.flag("blobs"),
                    security_status=route.flag("securityStatus"),
                    expand=(route.query or {}).get("expand") or (route.query or {}).get("expand[]"),
                )
            )
        if route.kind == "tree":
            return self._answer_tree(route, revision)
        if route.kind == "paths_info":
            paths, expand = _paths_info_request(body, self.headers.get("Content-Type", ""))
            return json_reply(payloads.paths_info_entries(revision, paths, expand=expand))
        return self._answer_resolve(repo, revision, route)

    def _answer_tree(self, route: Route, revision: Revision) -> Reply:
        expand = route.flag("expand")
        entries = payloads.tree_entries(
            revision, route.path, recursive=route.flag("recursive"), expand=expand
        )
        if entries is None:
            return error_reply(404, f"Entry not found: {route.path}", code="EntryNotFound")
        page_size = self.hub.tree_page_size or (50 if expand else 1000)
        offset = int(route.param("cursor") or 0)
        headers: dict[str, str] = {}
        if offset + page_size < len(entries):
            query = {k: v[-1] for k, v in (route.query or {}).items() if k != "cursor"}
            query["cursor"] = str(offset + page_size)
            encoded = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
            headers["Link"] = f'<{self.hub.url}{self.path.split("?")[0]}?{encoded}>; rel="next"'
        return json_reply(entries[offset : offset + page_size], headers=headers)

    def _answer_resolve(self, repo: Repo, revision: Revision, route: Route) -> Reply:
        repo_file = revision.files.get(route.path)
        if repo_file is None:
            return entry_not_found(revision.commit_sha)
        headers = file_headers(repo_file, revision.commit_sha)
        if repo_file.is_lfs and self.hub.lfs_via_cdn_redirect:
            query = (
                f"repo_type={repo.repo_type}&repo_id={quote(repo.repo_id, safe='')}"
                f"&filename={quote(repo_file.path, safe='')}"
            )
            headers["Location"] = f"{self.hub.cdn_url}/cdn-lfs/{repo_file.sha256}?{query}"
            return Reply(302, headers)
        return file_reply(repo_file, headers, self.headers.get("Range"))

    def _answer_cdn(self, route: Route) -> Reply:
        """A signed-URL style blob store: no auth, addressed by sha256, Range supported."""
        repo_file = self.hub.store.blob(route.revision or "")
        if repo_file is None:
            return error_reply(404, "No such blob")
        headers = {
            "ETag": f'"{repo_file.sha256}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        return file_reply(repo_file, headers, self.headers.get("Range"))

    # -- sending ------------------------------------------------------------------------------

    def _send(self, method: str, reply: Reply, route: Route | None) -> None:
        request_id = self.headers.get("X-Amzn-Trace-Id")
        sent, dropped = 0, False
        try:
            self.send_response(reply.status)
            headers = {**reply.headers, "Content-Length": str(reply.content_length)}
            if request_id:
                headers["X-Request-Id"] = request_id
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if method != "HEAD":
                if reply.file is not None:
                    sent, dropped = self._stream_file(reply, route)
                else:
                    self.wfile.write(reply.body)
                    sent = len(reply.body)
        except _CLIENT_GONE:
            self.close_connection = True
        is_file = route is not None and route.kind in {"resolve", "cdn"}
        self.hub.log.add(
            RequestRecord(
                method=method,
                path=self.path,
                range=self.headers.get("Range"),
                status=reply.status,
                authorized="Authorization" in self.headers,
                body_bytes=sent,
                repo_type=route.repo_type if route is not None else None,
                repo_id=route.repo_id if route is not None else None,
                filename=route.path if is_file and route is not None else None,
                dropped=dropped,
            )
        )

    def _stream_file(self, reply: Reply, route: Route | None) -> tuple[int, bool]:
        """Write reply.file[start:end] through throttle/drop/corrupt; return (sent, dropped)."""
        assert reply.file is not None
        repo_id = route.repo_id if route is not None else None
        filename = reply.file.path if route is None or route.kind != "cdn" else route.path
        faults = self.hub.faults
        length = reply.end - reply.start
        cut = faults.drop_point(repo_id, filename, length)
        corrupted = faults.is_corrupted(repo_id, filename)
        data = reply.file.data
        pos, sent = reply.start, 0
        deadline = time.monotonic()
        while sent < length and (cut is None or sent < cut):
            rate = faults.throttle
            size = (
                STREAM_CHUNK
                if rate is None
                else max(1, min(STREAM_CHUNK, rate // _THROTTLE_SLICES_PER_S))
            )
            size = min(size, length - sent, (cut - sent) if cut is not None else size)
            chunk = data[pos : pos + size]
            self.wfile.write(corrupt_bytes(chunk, pos) if corrupted else chunk)
            pos += size
            sent += size
            if rate is not None:
                deadline = max(deadline, time.monotonic()) + size / rate
                time.sleep(max(0.0, deadline - time.monotonic()))
        if cut is not None:
            self._cut_connection()
            return sent, True
        return sent, False

    def _cut_connection(self) -> None:
        """Close the socket mid-body, as a network drop would (the client sees a short read)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


def _paths_info_request(body: bytes, content_type: str) -> tuple[list[str], bool]:
    """`paths` and `expand` of a paths-info POST (form data, as huggingface_hub sends; or JSON)."""
    if "json" in content_type:
        parsed = json.loads(body or b"{}")
        paths = parsed.get("paths", [])
        return ([paths] if isinstance(paths, str) else list(paths)), bool(parsed.get("expand"))
    form = parse_qs(body.decode(), keep_blank_values=True)
    expand = (form.get("expand") or ["false"])[-1].lower() in {"1", "true"}
    return form.get("paths", []), expand
