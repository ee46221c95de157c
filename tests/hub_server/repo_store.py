"""In-memory repositories of the test hub: files, revisions, commit shas and access rules.

What it is: the data model behind `HubServer`. A `Repo` holds named revisions (branches), each a
frozen set of files kept in memory with the hashes the Hugging Face Hub exposes (git blob sha1,
LFS sha256, LFS pointer size). `RepoStore` finds repos, resolves revisions (branch name, full or
abbreviated commit sha) and decides who may read what (public, gated, private).

What it is NOT: it knows nothing about HTTP (status codes and headers live in `responses.py`),
nothing about faults, and it never touches the network.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Literal

RepoType = Literal["model", "dataset"]
GatedMode = Literal["auto", "manual"] | Literal[False]
FileSource = bytes | str | Path

# Files the Hub stores with Git LFS (the default `.gitattributes` of a new repo, abridged), plus
# any file of at least 10 MiB.
LFS_PATTERNS: tuple[str, ...] = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx",
    "*.parquet", "*.arrow", "*.npy", "*.npz", "*.gguf", "*.model", "*.zip", "*.gz", "*.tar",
    "*.zst", "*.pkl", "*.pickle",
)  # fmt: skip
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
# Fixed so that every run of the suite serves byte-identical JSON.
FIXED_TIMESTAMP = "2024-01-01T00:00:00.000Z"
# Files the Hub serves even from a gated repo without approval.
UNGATED_FILES = frozenset({"README.md", ".gitattributes"})


def git_blob_sha1(data: bytes) -> str:
    """Git object id of a blob, as the Hub reports it in `oid`/`blobId` and small-file ETags."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file git stores instead of the content of an LFS-tracked file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


@dataclass(frozen=True)
class RepoFile:
    """One file of one revision, with the identifiers the Hub exposes for it."""

    path: str
    data: bytes
    is_lfs: bool
    sha256: str
    blob_id: str  # git oid: of the content for a regular file, of the pointer for an LFS file
    pointer_size: int | None  # size of the LFS pointer file, None for a regular file

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        """What `/resolve` sends as ETag: sha256 for LFS files, git blob sha1 otherwise."""
        return self.sha256 if self.is_lfs else self.blob_id

    @classmethod
    def from_bytes(cls, path: str, data: bytes) -> RepoFile:
        sha256 = hashlib.sha256(data).hexdigest()
        is_lfs = len(data) >= LFS_SIZE_THRESHOLD or any(
            fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS
        )
        if is_lfs:
            pointer = lfs_pointer(sha256, len(data))
            return cls(path, data, True, sha256, git_blob_sha1(pointer), len(pointer))
        return cls(path, data, False, sha256, git_blob_sha1(data), None)


@dataclass(frozen=True)
class Revision:
    """A named, immutable snapshot of a repo (what a branch points at)."""

    name: str
    commit_sha: str
    files: Mapping[str, RepoFile]

    def directories(self) -> set[str]:
        """Every folder that holds at least one file, as repo-relative paths ("a", "a/b")."""
        folders: set[str] = set()
        for path in self.files:
            parts = path.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return folders

    def tree_oid(self, folder: str) -> str:
        """A stable fake git tree id for a folder (sha1 of its files' paths and oids)."""
        prefix = folder + "/"
        listing = "".join(
            f"{p}\0{f.blob_id}\n" for p, f in sorted(self.files.items()) if p.startswith(prefix)
        )
        return hashlib.sha1(f"tree {folder}\n{listing}".encode()).hexdigest()

    def safetensors_parameters(self) -> dict[str, int]:
        """Parameter count per dtype over all `*.safetensors` files, read from their headers."""
        counts: dict[str, int] = {}
        for path, repo_file in self.files.items():
            if not path.endswith(".safetensors") or len(repo_file.data) < 8:
                continue
            (header_len,) = struct.unpack("<Q", repo_file.data[:8])
            try:
                header = json.loads(repo_file.data[8 : 8 + header_len])
            except ValueError:
                continue  # not a real safetensors file (e.g. test bytes): the Hub skips it too
            if not isinstance(header, dict):
                continue
            for name, tensor in header.items():
                if name == "__metadata__":
                    continue
                numel = 1
                for dim in tensor["shape"]:
                    numel *= dim
                counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + numel
        return counts

    def config(self) -> dict[str, object] | None:
        """`architectures` and `model_type` of `config.json`, as the Hub's model info shows them."""
        repo_file = self.files.get("config.json")
        if repo_file is None:
            return None
        try:
            parsed = json.loads(repo_file.data)
        except ValueError:
            return None
        if not isinstance(parsed, dict):
            return None
        return {k: parsed[k] for k in ("architectures", "model_type") if k in parsed}


def commit_sha_for(
    repo_type: RepoType, repo_id: str, name: str, files: Mapping[str, RepoFile]
) -> str:
    """Deterministic 40-hex commit id: same repo, revision name and content -> same sha."""
    listing = "".join(f"{path}\0{f.blob_id}\n" for path, f in sorted(files.items()))
    return hashlib.sha1(f"commit {repo_type}/{repo_id}@{name}\n{listing}".encode()).hexdigest()


def read_file_sources(folder_or_files: Path | str | Mapping[str, FileSource]) -> dict[str, bytes]:
    """Load a folder (recursively, skipping `.git` and `.cache`) or a {path: bytes|file} mapping."""
    if isinstance(folder_or_files, Mapping):
        contents: dict[str, bytes] = {}
        for rel_path, source in folder_or_files.items():
            if isinstance(source, bytes):
                contents[rel_path] = source
            elif isinstance(source, Path):
                contents[rel_path] = source.read_bytes()
            else:
                contents[rel_path] = source.encode()
        return contents
    root = Path(folder_or_files)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root} is not a folder: pass a folder of repo files or a {{path: bytes}} mapping."
        )
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not {".git", ".cache"} & set(p.relative_to(root).parts)
    }


class Access(Enum):
    """What a request may see of a repo."""

    ALLOWED = "allowed"
    GATED = "gated"  # the repo exists and is listed, but its files need an approved token
    HIDDEN = "hidden"  # private repo without an approved token: answered as "not found"


@dataclass
class Repo:
    """One repository with its revisions and access settings."""

    repo_type: RepoType
    repo_id: str
    gated: GatedMode = False
    private: bool = False
    tokens: set[str] = field(default_factory=set)
    revisions: dict[str, Revision] = field(default_factory=dict)

    def resolve(self, revision: str) -> Revision | None:
        """A branch name, a full commit sha or an unambiguous sha prefix (>= 7 hex) -> revision."""
        if revision in self.revisions:
            return self.revisions[revision]
        by_sha = [r for r in self.revisions.values() if r.commit_sha == revision.lower()]
        if by_sha:
            return by_sha[0]
        if len(revision) >= 7 and all(c in "0123456789abcdefABCDEF" for c in revision):
            matches = {
                r.commit_sha: r
                for r in self.revisions.values()
                if r.commit_sha.startswith(revision.lower())
            }
            if len(matches) == 1:
                return next(iter(matches.values()))
        return None

    def access_for(self, token: str | None) -> Access:
        if self.private:
            return Access.ALLOWED if token in self.tokens else Access.HIDDEN
        if self.gated:
            return Access.ALLOWED if token in self.tokens else Access.GATED
        return Access.ALLOWED

    def used_storage(self) -> int:
        blobs = {f.sha256: f.size for r in self.revisions.values() for f in r.files.values()}
        return sum(blobs.values())


class RepoStore:
    """Thread-safe registry of repos, keyed by (repo_type, repo_id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._repos: dict[tuple[RepoType, str], Repo] = {}
        self.user_tokens: dict[str, str] = {}  # token -> user name (for whoami)

    def add(
        self,
        repo_type: RepoType,
        repo_id: str,
        folder_or_files: Path | str | Mapping[str, FileSource],
        *,
        revision: str,
        gated: bool | GatedMode,
        private: bool,
        token: str | None,
    ) -> str:
        """Create or update a repo and (re)define one revision; returns its commit sha.

        `gated`, `private` and the approved `token` are repo-wide: the latest call sets them.
        """
        if repo_id.count("/") > 1 or not repo_id.strip("/"):
            raise ValueError(f"repo_id {repo_id!r} must look like 'name' or 'namespace/name'.")
        if (gated or private) and token is None:
            raise ValueError(
                f"{repo_id}: a gated or private repo needs the `token` that may read it."
            )
        files = {
            p: RepoFile.from_bytes(p, d) for p, d in read_file_sources(folder_or_files).items()
        }
        sha = commit_sha_for(repo_type, repo_id, revision, files)
        with self._lock:
            repo = self._repos.setdefault((repo_type, repo_id), Repo(repo_type, repo_id))
            repo.gated = "auto" if gated is True else gated
            repo.private = private
            if token is not None:
                repo.tokens.add(token)
                self.user_tokens.setdefault(token, "hub-test-user")
            repo.revisions[revision] = Revision(revision, sha, files)
        return sha

    def get(self, repo_type: RepoType, repo_id: str) -> Repo | None:
        with self._lock:
            return self._repos.get((repo_type, repo_id))

    def blob(self, sha256: str) -> RepoFile | None:
        """Any stored file whose content has this sha256 (what the LFS "CDN" serves)."""
        with self._lock:
            for repo in self._repos.values():
                for revision in repo.revisions.values():
                    for repo_file in revision.files.values():
                        if repo_file.sha256 == sha256:
                            return repo_file
        return None
