"""The ``selftest`` job: proves torch, the data disk and the job system work end to end.

Stages: ``torch`` (import, version, device), ``disk`` (write, fsync, read back and checksum a file
in the job's folder), ``forward`` (``iterations`` forward passes of a tiny random transformer, with
progress in passes). Resumable: the checkpoint records the passes done. This module is NOT
responsible for the measurements themselves (``ml/selftest.py``).
"""

from __future__ import annotations

import time
from typing import Any

from interpstudio.core.errors import AppError
from interpstudio.jobs.context import JobContext


class SelftestFailure(AppError, RuntimeError):
    code = "selftest_failed"
    status = 500


def run_selftest(ctx: JobContext) -> dict[str, Any]:
    iterations = int(ctx.params.get("iterations", 20))
    delay = float(ctx.params.get("step_delay_s", 0.0))
    fail_at = ctx.params.get("fail_at")
    start_at = int((ctx.checkpoint or {}).get("iterations_done", 0))

    ctx.progress(stage="torch", done=0, total=iterations, unit="passes")
    from interpstudio.ml import selftest

    torch_info = selftest.torch_info()
    ctx.check_cancelled()

    ctx.progress(stage="disk")
    disk = selftest.disk_roundtrip(ctx.work_dir)
    ctx.check_cancelled()

    ctx.progress(stage="forward", done=start_at, total=iterations, unit="passes")
    model, input_ids = selftest.tiny_model()
    started = time.perf_counter()
    for index in range(start_at, iterations):
        ctx.check_cancelled()
        if fail_at is not None and index + 1 == fail_at:
            raise SelftestFailure(f"deliberate failure at iteration {fail_at} (fail_at was set)",
                                  details={"iteration": fail_at})
        selftest.forward_pass(model, input_ids)
        ctx.sleep(delay)
        ctx.progress(done=index + 1)
        if (index + 1) % 10 == 0:
            ctx.save_checkpoint({"iterations_done": index + 1})
    elapsed = time.perf_counter() - started
    passes = iterations - start_at
    return {
        "torch": torch_info,
        "disk": disk,
        "forward": {"passes": passes, "resumed_from": start_at,
                    "passes_per_s": passes / elapsed if elapsed > 0 else None},
    }
