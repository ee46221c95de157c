"""Job parameter schemas for activation extraction; gathered by ``job_kinds.py``.

This module is NOT responsible for running the jobs (``jobs/tasks/``) or for the use cases
(``services/``); it must stay torch-free.
"""

from __future__ import annotations

from interpstudio.services.job_params import JobParams

KINDS: dict[str, type[JobParams]] = {}
