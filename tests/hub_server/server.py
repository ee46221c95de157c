"""`HubServer`: a real local HTTP server speaking the Hugging Face Hub subset huggingface_hub uses.

What it is: a threaded HTTP server on 127.0.0.1 (ephemeral port) that tests start, fill with
model and dataset repos, point huggingface_hub at (`endpoint=hub.url` or `HF_ENDPOINT`), and
inspect (request log, bytes served per file) or perturb (`hub.faults`) while it runs.

    with HubServer() as hub:
        sha = hub.add_model("org/tiny", folder)
        hf_hub_download("org/tiny", "config.json", endpoint=hub.url, cache_dir=tmp)

What it is NOT: not the Hub's write API (no uploads, commits, PRs), not Xet storage (no
`X-Xet-Hash`, so huggingface_hub always falls back to plain HTTP), not search/listing of repos.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from hub_server.faults import Faults, RequestLog, RequestRecord
from hub_server.handler import HubRequestHandler
from hub_server.repo_store import FileSource, GatedMode, RepoStore, RepoType


class _ThreadingHubHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so `stop()` can cut them all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: HubServer) -> None:
        self.hub = hub
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, HubRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep unexpected handler exceptions for tests to see instead of printing them."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            self.hub.server_errors.append(error)

    def close_all_connections(self) -> None:
        with self._open_lock:
            open_sockets = list(self._open)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class HubServer:
    """A local Hub. Repos and counters survive `stop()`/`start()`, which reuses the same port.

    Settings that may change while running: `faults` (see `Faults`), `strict_tokens` (unknown
    tokens get 401 "Invalid credentials" like the real Hub, instead of being treated as a user
    without access), `lfs_via_cdn_redirect` (LFS files answer `/resolve` with a 302 to a blob URL
    on another origin, `http://localhost:{port}`, like the Hub's CDN; the client then drops the
    Authorization header), and `tree_page_size` (forces `/tree` pagination through `Link`).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        strict_tokens: bool = False,
        lfs_via_cdn_redirect: bool = False,
        tree_page_size: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.strict_tokens = strict_tokens
        self.lfs_via_cdn_redirect = lfs_via_cdn_redirect
        self.tree_page_size = tree_page_size
        self.store = RepoStore()
        self.faults = Faults()
        self.log = RequestLog()
        self.server_errors: list[BaseException] = []
        self._httpd: _ThreadingHubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> HubServer:
        """Start serving (no-op when already started); the first start picks a free port."""
        if self._httpd is not None:
            return self
        self._httpd = _ThreadingHubHTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hub-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint to pass as `endpoint=` / `HF_ENDPOINT` (no trailing slash)."""
        if self.port == 0:
            raise RuntimeError(
                "HubServer has no port yet: call start() or use it as a context manager."
            )
        return f"http://{self.host}:{self.port}"

    @property
    def cdn_url(self) -> str:
        """Same server under another origin (host name), standing in for the Hub's LFS CDN."""
        return f"http://localhost:{self.port}"

    # -- repos --------------------------------------------------------------------------------

    def add_model(
        self,
        repo_id: str,
        folder_or_files: Path | str | Mapping[str, FileSource],
        *,
        revision: str = "main",
        gated: bool | GatedMode = False,
        private: bool = False,
        token: str | None = None,
    ) -> str:
        """Add (or replace) one revision of a model repo; returns its commit sha.

        `folder_or_files` is a folder (read recursively, `.git`/`.cache` skipped) or a mapping
        {repo path: bytes | str | Path}. Files are copied into memory. `gated`/`private`/`token`
        apply to the whole repo (the latest call wins); `token` is the token that may read it.
        """
        return self.store.add(
            "model", repo_id, folder_or_files,
            revision=revision, gated=gated, private=private, token=token,
        )  # fmt: skip

    def add_dataset(
        self,
        repo_id: str,
        folder_or_files: Path | str | Mapping[str, FileSource],
        *,
        revision: str = "main",
        gated: bool | GatedMode = False,
        private: bool = False,
        token: str | None = None,
    ) -> str:
        """`add_model` for a dataset repo (served under `/api/datasets` and `/datasets/...`)."""
        return self.store.add(
            "dataset", repo_id, folder_or_files,
            revision=revision, gated=gated, private=private, token=token,
        )  # fmt: skip

    def add_user(self, token: str, name: str = "hub-test-user") -> None:
        """Make `token` a known user (for `whoami` and `strict_tokens`), with no repo access."""
        self.store.user_tokens[token] = name

    def commit_sha(
        self, repo_id: str, revision: str = "main", *, repo_type: RepoType = "model"
    ) -> str:
        repo = self.store.get(repo_type, repo_id)
        resolved = repo.resolve(revision) if repo is not None else None
        if resolved is None:
            raise KeyError(
                f"No {repo_type} repo {repo_id!r} with revision {revision!r} on this hub."
            )
        return resolved.commit_sha

    def file_url(
        self, repo_id: str, filename: str, *, revision: str = "main", repo_type: RepoType = "model"
    ) -> str:
        """The `/resolve` URL of a file, as `huggingface_hub.hf_hub_url` would build it."""
        prefix = "datasets/" if repo_type == "dataset" else ""
        return f"{self.url}/{prefix}{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"

    # -- traffic ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every answered request so far (a copy), oldest first."""
        return self.log.records

    def bytes_served(self, filename: str, *, repo_id: str | None = None) -> int:
        """Body bytes sent for a repo file across all requests (Range and dropped ones count)."""
        return self.log.bytes_served(filename, repo_id=repo_id)
