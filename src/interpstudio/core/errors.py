"""The one error hierarchy of Interp Studio.

Every error a user can cause or meet is an ``AppError`` subclass with a stable ``code`` (the API
returns it as ``{"error": {"code", "message", "details"}}``), an HTTP ``status`` and context in
``details``. Each subclass is also the matching builtin (``NotFound`` is a ``LookupError``), so
library code can catch what it expects without knowing about the app.

This module is NOT responsible for turning errors into responses (``api/errors.py`` does that) or
for logging them.
"""

from __future__ import annotations

import numbers
from typing import Any


class AppError(Exception):
    """Base of every error the product reports to a user."""

    code: str = "app_error"
    status: int = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidInput(AppError, ValueError):
    """The request or argument is well-formed but not acceptable."""

    code = "invalid_input"
    status = 422


# the largest count (max_tokens, max_samples) a run may be given: a 64-bit integer, what numpy's
# int64 and the store's JSON (orjson) hold; a larger one crashed the job as it wrote its manifest
MAX_COUNT = 2**63 - 1


def whole_number(name: str, value: Any) -> int:
    """``value`` as an int (a whole float such as ``1e6`` is one), else ``InvalidInput`` naming
    ``name``: a size of ``2.5`` was a bare TypeError in one place and cut silently in another."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(
            value).is_integer():
        return int(value)
    raise InvalidInput(f"{name} must be a whole number, got {value!r}",
                       details={name: repr(value)})


class NotFound(AppError, LookupError):
    """A resource named by id does not exist."""

    code = "not_found"
    status = 404

    def __init__(self, resource: str, resource_id: object, message: str | None = None) -> None:
        super().__init__(
            message or f"{resource} {resource_id!s} does not exist",
            details={"resource": resource, "id": str(resource_id)},
        )
        self.resource = resource
        self.resource_id = resource_id


class JobNotFound(NotFound):
    code = "job_not_found"

    def __init__(self, job_id: object) -> None:
        super().__init__("job", job_id)


FORCE = "--force in the CLI, ?force=true in the API"  # how a refused delete is forced


class Conflict(AppError, RuntimeError):
    """The action does not fit the resource's current state."""

    code = "conflict"
    status = 409


class JobHasOwner(Conflict):
    """The job made a record (model, dataset, tokenization, extraction) that still refers to it:
    deleting it alone would leave the record pointing at nothing and unable to resume."""

    code = "job_has_owner"

    def __init__(self, job_id: int, kind: str, owner_id: int) -> None:
        super().__init__(
            f"job {job_id} belongs to {kind} {owner_id} (it resumes and retries through it): "
            f"delete the {kind} instead, which deletes its job too",
            details={"job_id": job_id, "owner_kind": kind, "owner_id": owner_id},
        )


class InvalidJobState(Conflict):
    code = "invalid_job_state"

    def __init__(self, job_id: int, state: str, action: str, allowed: list[str]) -> None:
        super().__init__(
            f"cannot {action} job {job_id}: it is {state} (allowed from: {', '.join(allowed)})",
            details={"job_id": job_id, "state": state, "action": action, "allowed": allowed},
        )


class JobAlreadySucceeded(Conflict):
    """A retry of a succeeded job: it would delete what the job made (an extraction's complete
    store, a model's files, a tokenization) and compute it again from nothing. Refused, saying
    how to do that on purpose; a retry is for a job that stopped (failed, cancelled,
    interrupted). ``owner``: the record the job made, ``(kind, id)``, or None."""

    code = "job_already_succeeded"

    def __init__(self, job_id: int, kind: str, owner: tuple[str, int] | None,
                 allowed: list[str]) -> None:
        if owner is None:
            instead = f"to run it again, start a new {kind} job"
        else:
            instead = (f"{owner[0]} {owner[1]} keeps them; to compute it again, delete "
                       f"{owner[0]} {owner[1]} and create it anew")
        super().__init__(
            f"cannot retry job {job_id}: it succeeded, and a retry would delete its results and "
            f"compute them again from nothing (a retry is for a job that stopped: "
            f"{', '.join(allowed)}); {instead}",
            details={"job_id": job_id, "state": "succeeded", "action": "retry",
                     "allowed": allowed, "owner_kind": owner[0] if owner else None,
                     "owner_id": owner[1] if owner else None},
        )


class Unauthorized(AppError, PermissionError):
    code = "unauthorized"
    status = 401


class ConfigurationError(AppError, ValueError):
    """Settings that cannot work; raised at start-up, before anything is served."""

    code = "configuration_error"
    status = 500


class BrokerUnavailable(ConfigurationError):
    """``INTERPSTUDIO_BROKER_URL`` names a Redis that cannot be used at start (unreachable, a
    database index it does not have, refused credentials); ``where`` is its host, port and
    database, never the password."""

    code = "broker_unavailable"

    def __init__(self, where: str, cause: str) -> None:
        super().__init__(f"INTERPSTUDIO_BROKER_URL: cannot use Redis at {where}: {cause}",
                         details={"where": where, "cause": cause})
        self.where = where
        self.cause = cause


class UnknownJobKind(InvalidInput):
    code = "unknown_job_kind"

    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(
            f"unknown job kind {kind!r}; known kinds: {', '.join(sorted(known))}",
            details={"kind": kind, "known": sorted(known)},
        )


class InsufficientDisk(AppError, OSError):
    """Refused before starting: the work needs more free disk than there is."""

    code = "insufficient_disk"
    status = 507

    def __init__(self, *, needed: int, free: int, path: str) -> None:
        super().__init__(
            f"not enough free disk at {path}: needs {needed:,} bytes, {free:,} free",
            details={"needed_bytes": needed, "free_bytes": free, "path": path},
        )


class PathOutsideRoot(AppError, PermissionError):
    """A user-supplied path would escape the directory it must stay in."""

    code = "path_outside_root"
    status = 403

    def __init__(self, path: str, roots: list[str], hint: str | None = None) -> None:
        super().__init__(
            f"path {path!r} is outside the allowed roots ({', '.join(roots)})"
            + (f": {hint}" if hint else ""),
            details={"path": path, "allowed_roots": roots},
        )


class JobCancelled(AppError):
    """Raised inside a running task when the user asked it to stop (cooperative cancel)."""

    code = "cancelled"
    status = 409

    def __init__(self, message: str = "cancelled by user") -> None:
        super().__init__(message)
