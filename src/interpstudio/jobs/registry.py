"""Which function runs each job kind, imported lazily inside the worker process.

Targets are ``"module:function"`` strings so that importing the registry (e.g. in the API process
to list kinds) never imports torch. Parameter schemas live in ``services/job_kinds.py``. This
module is NOT responsible for claiming or running jobs (``runner.py``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from interpstudio.core.errors import UnknownJobKind

if TYPE_CHECKING:
    from interpstudio.jobs.context import JobContext

TaskFunction = Callable[["JobContext"], dict[str, Any] | None]

TASKS: dict[str, str] = {
    "selftest": "interpstudio.jobs.tasks.selftest:run_selftest",
    "model_download": "interpstudio.jobs.tasks.models:run_model_download",
    "model_import": "interpstudio.jobs.tasks.models:run_model_import",
    "dataset_import": "interpstudio.jobs.tasks.datasets:run_dataset_import",
    "tokenize": "interpstudio.jobs.tasks.datasets:run_tokenization",
    "extract": "interpstudio.jobs.tasks.extraction:run_extraction",
    "extract_preflight": "interpstudio.jobs.tasks.extraction:run_extraction_preflight",
    "extraction_export": "interpstudio.jobs.tasks.extraction_export:run_extraction_export",
}


def load_task(kind: str) -> TaskFunction:
    target = TASKS.get(kind)
    if target is None:
        raise UnknownJobKind(kind, list(TASKS))
    module_name, function_name = target.split(":")
    return getattr(importlib.import_module(module_name), function_name)
