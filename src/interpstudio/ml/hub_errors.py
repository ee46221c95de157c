"""Errors of talking to a Hugging Face Hub (or mirror), and the one translation from
``huggingface_hub``'s exceptions to them.

Each error is an ``AppError`` with a stable ``code`` and a message that says what to do. The
translation (``translate_hub_error``) turns ``RepositoryNotFoundError``, ``RevisionNotFoundError``,
``GatedRepoError``, ``EntryNotFoundError`` and ``HfHubHTTPError`` into these; an access token is
never part of a message or of ``details``.

This module is NOT responsible for making requests (``hub_preflight.py``, ``hub_download.py``).
"""

from __future__ import annotations

from interpstudio.core.errors import AppError, InsufficientDisk, InvalidInput, NotFound

HUB_DOC = "https://huggingface.co/docs/hub/models-gated"


class InvalidRepoId(InvalidInput):
    code = "invalid_repo_id"

    def __init__(self, repo_id: str, reason: str) -> None:
        super().__init__(
            f"{repo_id!r} is not a valid Hub repo id ({reason}); write it as 'org/name' "
            "(letters, digits, '-', '_', '.'), e.g. 'HuggingFaceTB/SmolLM2-135M-Instruct'",
            details={"repo_id": repo_id, "reason": reason},
        )


class RepoNotFound(NotFound):
    code = "repo_not_found"

    def __init__(self, repo_id: str, endpoint: str, *, token_given: bool) -> None:
        hint = ("check the spelling, or that your token can read it" if token_given
                else "check the spelling; if it is private, give an access token")
        super().__init__("repo", repo_id, f"model repo {repo_id!r} was not found on {endpoint}: "
                         f"{hint}")
        self.details.update({"repo_id": repo_id, "endpoint": endpoint,
                             "token_given": token_given})


class RevisionNotFound(NotFound):
    code = "revision_not_found"

    def __init__(self, repo_id: str, revision: str) -> None:
        super().__init__("revision", revision, f"revision {revision!r} does not exist in "
                         f"{repo_id!r}; use a branch name (e.g. 'main'), a tag or a commit sha")
        self.details.update({"repo_id": repo_id, "revision": revision})


class GatedRepo(AppError, PermissionError):
    """A gated repo: 401 without a token, 403 when the token has no access."""

    code = "gated_repo"
    status = 401

    def __init__(self, repo_id: str, endpoint: str, *, token_given: bool) -> None:
        access_url = f"{endpoint}/{repo_id}"
        if token_given:
            message = (f"{repo_id!r} is gated and the token given has no access to it: request "
                       f"access at {access_url}, then use a token of the approved account")
        else:
            message = (f"{repo_id!r} is gated: give an access token of an account that was "
                       f"granted access (request it at {access_url})")
        super().__init__(message, details={"repo_id": repo_id, "access_url": access_url,
                                           "token_given": token_given, "docs": HUB_DOC})
        self.status = 403 if token_given else 401


class MissingConfig(InvalidInput):
    code = "missing_config"

    def __init__(self, where: str, nested: list[str] | None = None) -> None:
        """``nested``: subfolders that hold a config.json (a checkpoint one level too far down,
        e.g. a hub cache's ``snapshots/<commit>``), named so the user can give one of them."""
        if nested:
            shown = ", ".join(nested[:10]) + (f" and {len(nested) - 10} more"
                                              if len(nested) > 10 else "")
            message = (f"{where} has no config.json at its top level, where a checkpoint's files "
                       f"are read from; its subfolder(s) {shown} hold one: import that folder "
                       "instead")
        else:
            message = (f"{where} has no config.json, so it is not a transformers checkpoint; "
                       "choose a repo or folder with config.json (or import a .gguf file)")
        super().__init__(message, details={"where": where,
                                           **({"nested": nested[:50]} if nested else {})})


class NoWeightFiles(InvalidInput):
    code = "no_weight_files"

    def __init__(self, where: str, files: list[str]) -> None:
        """``files``: what ``where`` holds, subfolders' files as relative paths."""
        nested = [f for f in files if "/" in f and f.endswith((".safetensors", ".bin"))]
        hint = (f"; weights in subfolders ({', '.join(nested[:5])}) are not read: a "
                "checkpoint's files are read from its top level" if nested else "")
        super().__init__(
            f"{where} has no weight files (*.safetensors or *.bin){hint}; choose a checkpoint "
            "that contains its weights",
            details={"where": where, "files": files[:50]},
        )


class HubUnavailable(AppError, ConnectionError):
    """The hub did not answer usefully after retries (network down, 5xx...): one code for
    models and datasets alike."""

    code = "hub_unavailable"
    status = 502

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(
            f"the hub at {endpoint} could not be reached or kept failing ({reason}); check the "
            "network or INTERPSTUDIO_HF_ENDPOINT (else HF_ENDPOINT) and try again (a download "
            "resumes where it stopped)",
            details={"endpoint": endpoint, "reason": reason},
        )


class CorruptDownload(AppError, OSError):
    """A downloaded file does not match the size or checksum the hub published."""

    code = "corrupt_download"
    status = 502

    def __init__(self, filename: str, *, algorithm: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{filename} is corrupt: its {algorithm} is {actual} but the hub says {expected}; "
            "the partial file was removed, retry the download",
            details={"file": filename, "algorithm": algorithm, "expected": expected,
                     "actual": actual},
        )


class DiskFull(InsufficientDisk):
    """The disk filled up while writing; the partial file is kept for a resume."""

    code = "disk_full"

    def __init__(self, *, path: str, filename: str, written: int, needed: int) -> None:
        AppError.__init__(
            self,
            f"the disk at {path} filled up while writing {filename} ({written:,} of {needed:,} "
            "bytes written); free some space and resume: the bytes already written are kept",
            details={"path": path, "file": filename, "written_bytes": written,
                     "needed_bytes": needed},
        )


def translate_hub_error(exc: Exception, *, repo_id: str, revision: str | None, endpoint: str,
                        token_given: bool, filename: str | None = None) -> AppError | None:
    """Our error for a ``huggingface_hub`` (or its HTTP client's) exception, or None."""
    import httpx2
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, LocalEntryNotFoundError):  # the hub could not be reached at all
        return HubUnavailable(endpoint, str(exc).splitlines()[0][:200])
    if isinstance(exc, HFValidationError):
        return InvalidRepoId(repo_id, str(exc).splitlines()[0])
    if isinstance(exc, GatedRepoError):  # a RepositoryNotFoundError subclass: test it first
        return GatedRepo(repo_id, endpoint, token_given=token_given)
    if isinstance(exc, RevisionNotFoundError):
        return RevisionNotFound(repo_id, revision or "main")
    if isinstance(exc, RepositoryNotFoundError):
        return RepoNotFound(repo_id, endpoint, token_given=token_given)
    if isinstance(exc, EntryNotFoundError):
        if filename == "config.json":
            return MissingConfig(f"{repo_id}@{revision or 'main'}")
        return NotFound("file", filename or "?", f"{filename!r} is not in {repo_id!r} at "
                        f"{revision}; the repo changed since the preflight: run it again")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401 and token_given:
            return InvalidToken(endpoint)
        return HubUnavailable(endpoint, f"HTTP {status}")
    if isinstance(exc, httpx2.TransportError):
        return HubUnavailable(endpoint, f"{type(exc).__name__}: {exc}"[:300])
    return None


class InvalidToken(AppError, PermissionError):
    code = "invalid_token"
    status = 401

    def __init__(self, endpoint: str) -> None:
        super().__init__(
            f"the hub at {endpoint} rejected the access token (unknown or expired); create a "
            "new one in your account settings and try again",
            details={"endpoint": endpoint},
        )

