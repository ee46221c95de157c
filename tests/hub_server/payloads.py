"""JSON bodies of the Hub API endpoints, shaped as huggingface_hub 2.4.0 parses them.

What it is: pure functions from `Repo`/`Revision` to the dicts that `ModelInfo`, `DatasetInfo`,
`RepoFile`/`RepoFolder` (tree and paths-info) and `GitRefs` are built from, with the Hub's field
names (`blobId`, `lfs.pointerSize`, `usedStorage`, `lastCommit`, ...).

What it is NOT: no HTTP, no access control, no pagination links (see `handler.py`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from hub_server.repo_store import FIXED_TIMESTAMP, Repo, RepoFile, Revision

_CAUSAL_LM_SUFFIX = "ForCausalLM"


def _sibling(repo_file: RepoFile, *, with_blobs: bool) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": repo_file.path}
    if with_blobs:
        sibling["blobId"] = repo_file.blob_id
        sibling["size"] = repo_file.size
        if repo_file.is_lfs:
            sibling["lfs"] = {
                "sha256": repo_file.sha256,
                "size": repo_file.size,
                "pointerSize": repo_file.pointer_size,
            }
    return sibling


def _model_fields(revision: Revision) -> dict[str, Any]:
    """Fields only model repos have: config, library, pipeline tag, safetensors counts."""
    fields: dict[str, Any] = {"modelId": None, "spaces": []}
    config = revision.config()
    tags: list[str] = []
    if config is not None:
        fields["config"] = config
        fields["library_name"] = "transformers"
        tags.append("transformers")
        if isinstance(config.get("model_type"), str):
            tags.append(str(config["model_type"]))
        architectures = config.get("architectures") or []
        if any(str(a).endswith(_CAUSAL_LM_SUFFIX) for a in architectures):  # type: ignore[union-attr]
            fields["pipeline_tag"] = "text-generation"
            tags.append("text-generation")
            fields["transformersInfo"] = {
                "auto_model": "AutoModelForCausalLM",
                "pipeline_tag": "text-generation",
                "processor": "AutoTokenizer",
            }
    parameters = revision.safetensors_parameters()
    if parameters:
        tags.append("safetensors")
        fields["safetensors"] = {"parameters": parameters, "total": sum(parameters.values())}
    fields["tags"] = tags
    return fields


def repo_info_payload(
    repo: Repo,
    revision: Revision,
    *,
    files_metadata: bool,
    security_status: bool,
    expand: list[str] | None,
) -> dict[str, Any]:
    """Body of `GET /api/{models|datasets}/{repo_id}[/revision/{rev}]`."""
    namespace = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
    data: dict[str, Any] = {
        "_id": hashlib.sha1(f"{repo.repo_type}/{repo.repo_id}".encode()).hexdigest()[:24],
        "id": repo.repo_id,
        "author": namespace,
        "sha": revision.commit_sha,
        "lastModified": FIXED_TIMESTAMP,
        "createdAt": FIXED_TIMESTAMP,
        "private": repo.private,
        "gated": repo.gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": [
            _sibling(f, with_blobs=files_metadata) for _, f in sorted(revision.files.items())
        ],
        "usedStorage": repo.used_storage(),
    }
    if repo.repo_type == "model":
        data.update(_model_fields(revision))
        data["modelId"] = repo.repo_id
    if security_status:
        data["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": []}
    if expand:
        data = {k: v for k, v in data.items() if k in {"_id", "id", *expand}}
    return data


def _last_commit(revision: Revision) -> dict[str, str]:
    return {"id": revision.commit_sha, "title": f"Upload {revision.name}", "date": FIXED_TIMESTAMP}


def file_entry(revision: Revision, repo_file: RepoFile, *, expand: bool) -> dict[str, Any]:
    """A file as `/tree` and `/paths-info` list it (parsed by `huggingface_hub.RepoFile`)."""
    entry: dict[str, Any] = {
        "type": "file",
        "oid": repo_file.blob_id,
        "size": repo_file.size,
        "path": repo_file.path,
    }
    if repo_file.is_lfs:
        entry["lfs"] = {
            "oid": repo_file.sha256,
            "size": repo_file.size,
            "pointerSize": repo_file.pointer_size,
        }
    if expand:
        entry["lastCommit"] = _last_commit(revision)
        entry["securityFileStatus"] = {
            "status": "safe",
            "avScan": {"virusFound": False, "virusNames": None},
            "pickleImportScan": None,
        }
    return entry


def folder_entry(revision: Revision, folder: str, *, expand: bool) -> dict[str, Any]:
    """A folder as `/tree` and `/paths-info` list it (parsed by `huggingface_hub.RepoFolder`)."""
    entry: dict[str, Any] = {
        "type": "directory",
        "oid": revision.tree_oid(folder),
        "size": 0,
        "path": folder,
    }
    if expand:
        entry["lastCommit"] = _last_commit(revision)
    return entry


def tree_entries(
    revision: Revision, folder: str, *, recursive: bool, expand: bool
) -> list[dict[str, Any]] | None:
    """Entries under `folder` ("" = root), folders first; None when the folder does not exist."""
    folders = revision.directories()
    if folder and folder not in folders:
        return None
    prefix = f"{folder}/" if folder else ""

    def is_listed(path: str) -> bool:
        return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

    listed_folders = sorted(f for f in folders if is_listed(f))
    listed_files = sorted(p for p in revision.files if is_listed(p))
    return [folder_entry(revision, f, expand=expand) for f in listed_folders] + [
        file_entry(revision, revision.files[p], expand=expand) for p in listed_files
    ]


def paths_info_entries(
    revision: Revision, paths: list[str], *, expand: bool
) -> list[dict[str, Any]]:
    """Entries for the given paths that exist (missing paths are left out, as on the Hub)."""
    folders = revision.directories()
    entries: list[dict[str, Any]] = []
    for path in paths:
        path = path.strip("/")
        if path in revision.files:
            entries.append(file_entry(revision, revision.files[path], expand=expand))
        elif path in folders:
            entries.append(folder_entry(revision, path, expand=expand))
    return entries


def refs_payload(repo: Repo, *, include_prs: bool) -> dict[str, Any]:
    """Body of `GET /api/{type}s/{repo_id}/refs`: every revision name is a branch."""
    payload: dict[str, Any] = {
        "branches": [
            {"name": name, "ref": f"refs/heads/{name}", "targetCommit": rev.commit_sha}
            for name, rev in sorted(repo.revisions.items())
        ],
        "converts": [],
        "tags": [],
    }
    if include_prs:
        payload["pullRequests"] = []
    return payload


def whoami_payload(user_name: str) -> dict[str, Any]:
    """Body of `GET /api/whoami-v2` for a known token."""
    return {
        "type": "user",
        "id": hashlib.sha1(user_name.encode()).hexdigest()[:24],
        "name": user_name,
        "fullname": user_name,
        "orgs": [],
        "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "read"}},
    }
