"""Errors of the dataset and tokenization use cases (stable ``code``, useful ``details``).

Errors met while reading files live in ``ml/text_sources.py`` and those met on the hub in
``ml/dataset_hub.py``. This module is NOT responsible for turning errors into responses.
"""

from __future__ import annotations

from typing import Any

from interpstudio.core.errors import (
    FORCE,
    AppError,
    Conflict,
    InsufficientDisk,
    InvalidInput,
    NotFound,
)


class DatasetNotFound(NotFound):
    code = "dataset_not_found"

    def __init__(self, dataset_id: object) -> None:
        super().__init__("dataset", dataset_id)


class TokenizationNotFound(NotFound):
    code = "tokenization_not_found"

    def __init__(self, tokenization_id: object) -> None:
        super().__init__("tokenization", tokenization_id)


class DatasetInUse(Conflict):
    code = "dataset_in_use"

    def __init__(self, dataset_id: int, found: dict[str, list[dict[str, Any]]]) -> None:
        parts = [f"{len(found[k])} {k} ({', '.join(str(d['id']) for d in found[k])})"
                 for k in ("tokenizations", "extractions") if found[k]]
        super().__init__(
            f"dataset {dataset_id} is used by {' and '.join(parts)}; delete those first, or "
            f"delete with force ({FORCE}) to remove them and their files too",
            details={"dataset_id": dataset_id, **found})


class TokenizationInUse(Conflict):
    code = "tokenization_in_use"

    def __init__(self, tokenization_id: int, extractions: list[dict[str, Any]]) -> None:
        super().__init__(
            f"tokenization {tokenization_id} is used by extraction(s) "
            f"{', '.join(str(e['id']) for e in extractions)}; delete those first, or delete "
            f"with force ({FORCE})", details={"tokenization_id": tokenization_id,
                                        "extractions": extractions})


class DatasetBusy(Conflict):
    code = "dataset_busy"

    def __init__(self, what: str, job_id: int, state: str, action: str) -> None:
        super().__init__(
            f"cannot {action}: job {job_id} of {what} is {state}; cancel it first and wait for "
            "it to stop", details={"what": what, "job_id": job_id, "state": state,
                                   "action": action})


class DatasetNotReady(Conflict):
    code = "dataset_not_ready"

    def __init__(self, dataset_id: int, status: str) -> None:
        # a stopped import never finishes by itself (it said "once its import has finished")
        said = (f"dataset {dataset_id} is {status}: its import stopped, so it has no rows to "
                "preview or tokenize; resume its import job, or import the files again"
                if status in ("failed", "cancelled", "interrupted") else
                f"dataset {dataset_id} is {status}; its rows can be previewed or tokenized once "
                "its import has finished")
        super().__init__(said, details={"dataset_id": dataset_id, "status": status})


class TokenizationNotReady(Conflict):
    code = "tokenization_not_ready"

    def __init__(self, tokenization_id: int, status: str) -> None:
        super().__init__(
            f"tokenization {tokenization_id} is {status}; its sequences can be previewed once "
            "its job has finished", details={"tokenization_id": tokenization_id,
                                             "status": status})


class TokenizationExists(Conflict):
    """The dataset already has a tokenization under that policy made with this model's
    tokenizer (``message`` and more ``details``: a subclass's case of it)."""

    code = "tokenization_exists"

    def __init__(self, existing_id: int, status: str, *, message: str | None = None,
                 **details: Any) -> None:
        super().__init__(
            message or (f"this dataset is already tokenized with that tokenizer and policy "
                        f"(tokenization {existing_id}, {status}); use it, or delete it first"),
            details={"tokenization_id": existing_id, "status": status, **details})


class UsableTokenizationExists(TokenizationExists):
    """The dataset already has a tokenization under that policy made with another model whose
    tokenizer files are byte-identical (``services/tokenizer_identity``): the one asked for
    would hold the same ids. The same code and shape as ``TokenizationExists`` (one refusal to
    handle), with the model it was made with in ``details``."""

    def __init__(self, *, existing_id: int, status: str, tokenizer_key: str, maker_id: int,
                 maker_key: str, model_id: int, model_key: str) -> None:
        super().__init__(
            existing_id, status,
            message=(f"this dataset is already tokenized with that policy by model {maker_id} "
                     f"({maker_key}): tokenization {existing_id}, {status}; model {model_id} "
                     f"({model_key}) may use it, as their tokenizer files are identical: use "
                     f"tokenization {existing_id}, or delete it first to tokenize again with "
                     f"model {model_id}"),
            tokenizer_key=tokenizer_key, maker_model_id=maker_id, model_id=model_id)


class TokenizerUnavailable(Conflict):
    code = "tokenizer_unavailable"

    def __init__(self, model_id: int, reason: str) -> None:
        super().__init__(f"model {model_id} cannot provide a tokenizer: {reason}",
                         details={"model_id": model_id, "reason": reason})


class UploadTooLarge(AppError, ValueError):
    code = "upload_too_large"
    status = 413

    def __init__(self, limit: int, received: int | None = None) -> None:
        super().__init__(
            f"the upload exceeds the limit of {limit:,} bytes; upload fewer or smaller files, or "
            "raise INTERPSTUDIO_MAX_UPLOAD_BYTES", details={"limit_bytes": limit,
                                                            "received_bytes": received})


class DiskFullDuringImport(InsufficientDisk):
    """The disk filled up while writing; the partial files were removed."""

    code = "disk_full"

    def __init__(self, path: str, free: int) -> None:
        AppError.__init__(
            self, f"the disk at {path} filled up during the import ({free:,} bytes free); the "
            "partial files were removed: free some space and retry",
            details={"path": path, "free_bytes": free})


class UploadGone(InvalidInput):
    """A retried import of an upload whose files were removed when it failed."""

    code = "upload_gone"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"the uploaded file(s) {', '.join(missing)} were removed when the "
                         "import failed; upload them again", details={"missing": missing})


class MaxLengthPastPositions(InvalidInput):
    """A max length past the most positions the model takes (``model_positions``: a learned
    position table, or its config's ``max_position_embeddings`` / ``n_positions`` as its rope
    scaling extends them): with a learned table every extraction would refuse the
    tokenization, with rotary positions the model would run on positions it never saw; so it is
    refused before it is made. ``option`` names what to give another value to (the CLI's
    ``--max-length``)."""

    code = "sequence_too_long"

    def __init__(self, model_id: int, max_length: int, limit: int, source: str, *,
                 option: str = "max length") -> None:
        super().__init__(
            f"{option} {max_length} is more than model {model_id}'s {limit:,} positions "
            f"({source}); give {option} {limit} or less",
            details={"model_id": model_id, "max_length": max_length, "model_context": limit,
                     "source": source})


class TokenizationBegunByOlderRules(Conflict):
    """A resume of a tokenization whose store an earlier version began: its rows would be
    tokenized under two sets of rules (special-token text, empty rows, truncation)."""

    code = "tokenization_begun_by_older_rules"

    def __init__(self, tokenization_id: int) -> None:
        super().__init__(
            f"tokenization {tokenization_id} was begun by an earlier version of Interp Studio "
            "whose tokenization rules differ (special-token text, empty rows, truncation); "
            "resuming would mix them in one store: retry it to tokenize anew",
            details={"tokenization_id": tokenization_id})
