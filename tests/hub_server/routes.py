"""URL grammar of the Hub subset the test server answers.

What it is: `parse_route` turns a request path into a `Route` (endpoint kind, repo type and id,
revision, path inside the repo) following the URL shapes huggingface_hub 2.4.0 builds:

    /api/{models|datasets}/{repo_id}[/revision/{rev}]        model_info / dataset_info
    /api/{models|datasets}/{repo_id}/tree/{rev}[/{path}]     list_repo_tree
    /api/{models|datasets}/{repo_id}/paths-info/{rev}        get_paths_info (POST)
    /api/{models|datasets}/{repo_id}/refs                    list_repo_refs
    /api/{models|datasets}/{repo_id}/auth-check              auth_check
    /[datasets/]{repo_id}/resolve/{rev}/{path}               file download (HEAD, GET)
    /cdn-lfs/{sha256}?repo_type=&repo_id=&filename=          LFS blobs behind a redirect
    /api/whoami-v2, /api/agent-harnesses

Revisions arrive percent-encoded as ONE segment (`quote(rev, safe="")`, so "refs/pr/1" is
"refs%2Fpr%2F1"), hence the path is split on "/" before each segment is decoded.

What it is NOT: it does not look repos up or check access (see `repo_store.py`, `handler.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from hub_server.repo_store import RepoType

RouteKind = Literal[
    "info", "tree", "paths_info", "refs", "auth_check", "resolve", "cdn", "whoami",
    "agent_harnesses",
]  # fmt: skip

_TYPE_PLURALS: dict[str, RepoType] = {"models": "model", "datasets": "dataset"}
# Segments that follow a repo id in API urls, so they can never be the second half of an id.
_API_SUBPATHS = {"revision", "tree", "paths-info", "refs", "auth-check"}


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    repo_type: RepoType | None = None
    repo_id: str | None = None
    revision: str | None = None
    path: str = ""  # file path (resolve) or folder (tree); "" is the repo root
    query: dict[str, list[str]] | None = None

    def param(self, name: str) -> str | None:
        values = (self.query or {}).get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        """A boolean query parameter (`true`/`True`/`1`, as httpx or requests encode it)."""
        return (self.param(name) or "").lower() in {"1", "true", "yes"}


def _split_repo_id(segments: list[str]) -> tuple[str, list[str]] | None:
    """Take "name" or "namespace/name" off the front of API segments; return (repo_id, rest)."""
    if not segments:
        return None
    if len(segments) >= 2 and segments[1] not in _API_SUBPATHS:
        return f"{segments[0]}/{segments[1]}", segments[2:]
    return segments[0], segments[1:]


def _parse_api(segments: list[str], query: dict[str, list[str]]) -> Route | None:
    if segments == ["whoami-v2"]:
        return Route("whoami", query=query)
    if segments == ["agent-harnesses"]:
        return Route("agent_harnesses", query=query)
    if not segments or segments[0] not in _TYPE_PLURALS:
        return None
    repo_type = _TYPE_PLURALS[segments[0]]
    split = _split_repo_id(segments[1:])
    if split is None:
        return None
    repo_id, rest = split

    def route(kind: RouteKind, revision: str | None = None, path: str = "") -> Route:
        return Route(kind, repo_type, repo_id, revision, path, query)

    if not rest:
        return route("info")
    head, tail = rest[0], rest[1:]
    if head == "revision" and len(tail) == 1:
        return route("info", tail[0])
    if head == "tree" and tail:
        return route("tree", tail[0], "/".join(tail[1:]).strip("/"))
    if head == "paths-info" and len(tail) == 1:
        return route("paths_info", tail[0])
    if head == "refs" and not tail:
        return route("refs")
    if head == "auth-check" and tail in ([], ["write"]):
        return route("auth_check")
    return None


def _parse_resolve(segments: list[str], query: dict[str, list[str]]) -> Route | None:
    repo_type: RepoType = "model"
    if segments and segments[0] == "datasets":
        repo_type, segments = "dataset", segments[1:]
    if len(segments) >= 4 and segments[2] == "resolve":
        repo_id, rest = f"{segments[0]}/{segments[1]}", segments[3:]
    elif len(segments) >= 3 and segments[1] == "resolve":
        repo_id, rest = segments[0], segments[2:]
    else:
        return None
    if len(rest) < 2:
        return None
    return Route("resolve", repo_type, repo_id, rest[0], "/".join(rest[1:]), query)


def parse_route(raw_path: str) -> Route | None:
    """The route a request path names, or None for a path outside the implemented subset."""
    parts = urlsplit(raw_path)
    query = parse_qs(parts.query, keep_blank_values=True)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and segments[0] == "api":
        return _parse_api(segments[1:], query)
    if len(segments) == 2 and segments[0] == "cdn-lfs":
        repo_type = _TYPE_PLURALS.get((query.get("repo_type") or ["models"])[-1] + "s", "model")
        return Route(
            "cdn",
            repo_type,
            (query.get("repo_id") or [None])[-1],
            segments[1],
            (query.get("filename") or [""])[-1],
            query,
        )
    return _parse_resolve(segments, query)
