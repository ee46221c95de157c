"""The errors of the extraction use cases, each with a stable ``code`` and useful ``details``.

This module is NOT responsible for the errors of the engine or the store (``ml/extract_plan.py``,
``ml/hook_points.py``, ``ml/store.py`` define those; they reach the API unchanged).
"""

from __future__ import annotations

from typing import Any

from interpstudio.core.errors import AppError, Conflict, InvalidInput, NotFound


class ExtractionNotFound(NotFound):
    code = "extraction_not_found"

    def __init__(self, extraction_id: int) -> None:
        super().__init__("extraction", extraction_id,
                         f"extraction {extraction_id} does not exist; list extractions to find "
                         "its id")


class ExtractionModelNotFound(NotFound):
    code = "extraction_model_not_found"

    def __init__(self, model_id: int) -> None:
        super().__init__("model", model_id,
                         f"model {model_id} does not exist; list models (or import one) first")


class ExtractionTokenizationNotFound(NotFound):
    code = "extraction_tokenization_not_found"

    def __init__(self, tokenization_id: int) -> None:
        super().__init__("tokenization", tokenization_id,
                         f"tokenization {tokenization_id} does not exist; tokenize the dataset "
                         "with the model first")


class ModelNotReady(Conflict):
    code = "extraction_model_not_ready"

    def __init__(self, model_id: int, status: str) -> None:
        super().__init__(
            f"model {model_id} is {status}, not ready: wait for its download/import to finish "
            "(or retry it) before extracting",
            details={"model_id": model_id, "status": status},
        )


class TokenizationNotReady(Conflict):
    code = "extraction_tokenization_not_ready"

    def __init__(self, tokenization_id: int, status: str) -> None:
        super().__init__(
            f"tokenization {tokenization_id} is {status}, not ready: wait for it to finish",
            details={"tokenization_id": tokenization_id, "status": status},
        )


class TokenizerMismatch(InvalidInput):
    """The tokenization was made with another tokenizer than the model's, one whose files are
    not byte-identical to the model's, or whose model (``maker_id``) is gone, so its files
    cannot be compared (never silently used)."""

    code = "tokenizer_mismatch"

    def __init__(self, *, tokenization_id: int, tokenizer_key: str, model_key: str,
                 maker_id: int | None) -> None:
        why = ("its tokenizer files differ from this model's" if maker_id is not None else
               "the model it was made with is gone, so its tokenizer files cannot be compared")
        super().__init__(
            f"tokenization {tokenization_id} was made with tokenizer {tokenizer_key!r}, but the "
            f"model's tokenizer is {model_key!r} and {why}: tokenize the dataset with this model",
            details={"tokenization_id": tokenization_id, "tokenizer_key": tokenizer_key,
                     "model_key": model_key, "maker_model_id": maker_id},
        )


class ExtractionBusy(Conflict):
    code = "extraction_busy"

    def __init__(self, extraction_id: int, job_state: str, action: str) -> None:
        super().__init__(
            f"extraction {extraction_id} cannot be {action}: its job is {job_state}; cancel it "
            "and wait until it stops",
            details={"extraction_id": extraction_id, "job_state": job_state, "action": action},
        )


class ExtractionAlreadyUnderway(Conflict):
    """An extraction of the same configuration is queued or running: a second one would compute
    and write the same store again beside it."""

    code = "extraction_already_underway"

    def __init__(self, extraction_id: int, status: str, config_hash: str) -> None:
        super().__init__(
            f"extraction {extraction_id} with the same configuration (hash {config_hash[:12]}) "
            f"is {status}: follow it (or cancel it) instead of starting a copy",
            details={"extraction_id": extraction_id, "status": status,
                     "config_hash": config_hash},
        )


class ExtractionHasNoJob(Conflict):
    code = "extraction_has_no_job"

    def __init__(self, extraction_id: int, action: str) -> None:
        super().__init__(
            f"extraction {extraction_id} has no job to {action}; create a new extraction instead",
            details={"extraction_id": extraction_id, "action": action},
        )


class ExtractionResultsNotReady(Conflict):
    code = "extraction_results_not_ready"

    def __init__(self, extraction_id: int, what: str, status: str) -> None:
        if status in ("queued", "running", "pending"):
            todo = "they are written when the run finishes: wait for it"
        elif status == "complete":  # finished, yet its files are gone (moved or deleted by hand)
            todo = ("its files are missing from the data dir (moved or deleted outside the app): "
                    "put them back, or delete the extraction and create it anew to write "
                    "them again")
        else:  # cancelled, interrupted, failed, partial: nothing is coming by itself
            todo = "the run stopped before finishing: resume it (or retry it) to get them"
        super().__init__(
            f"extraction {extraction_id} has no {what} yet (it is {status}); {todo}",
            details={"extraction_id": extraction_id, "what": what, "status": status},
        )


class PreflightNotTaken(AppError):
    """A preflight queued for the job workers was not taken by one in time: they are all busy
    with other jobs, or none runs."""

    code = "preflight_not_taken"
    status = 503

    def __init__(self, job_id: int, wait_s: float, device: str) -> None:
        where = "" if device == "auto" else f" on a machine with device {device!r}"
        super().__init__(
            f"no job worker took the preflight (job {job_id}) within {wait_s:g} s, so it was "
            f"withdrawn: the workers are busy or none is running (start `interpstudio worker`"
            f"{where}). Starting the extraction does not need it: its job measures the run when "
            f"a worker starts it",
            details={"job_id": job_id, "wait_s": wait_s, "device": device},
        )


class PreflightFailedOnWorker(AppError):
    """The preflight job failed on its worker: its refusal as the worker reported it (the same
    ``code``, HTTP status and details; 500 for a job that crashed or was stopped)."""

    def __init__(self, job_id: int, state: str, code: str | None, message: str | None,
                 error: dict[str, Any] | None) -> None:
        self.code = code or "preflight_failed"
        self.status = int((error or {}).get("status") or 500)
        super().__init__(
            f"{message or 'no reason given'} (the preflight ran on a job worker: job {job_id}, "
            f"{state})",
            details={**(error or {}).get("details", {}), "job_id": job_id, "job_state": state},
        )


class ResumePrecisionDoesNotFit(AppError, MemoryError):
    """A stopped run's rows were computed with the model at one precision, and the resume could
    load it only at another (the memory budget or free memory is smaller now): a store holds one
    precision's rows, so its resume needs the same one."""

    code = "extraction_resume_precision_does_not_fit"
    status = 507

    def __init__(self, extraction_id: int, *, stored: str, loaded: str,
                 reason: str | None) -> None:
        super().__init__(
            f"cannot resume extraction {extraction_id}: the rows its store keeps were computed "
            f"with the model at {stored}, and here it loads only at {loaded} "
            f"({reason or 'a smaller precision'}); free memory or raise "
            f"INTERPSTUDIO_MEMORY_BUDGET_BYTES, then resume it, or retry it to start afresh at "
            f"{loaded}",
            details={"extraction_id": extraction_id, "stored_precision": stored,
                     "loaded_precision": loaded, "fallback_reason": reason},
        )
