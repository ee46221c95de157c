"""A stopped extraction resumed where the model fits at another precision than its first run's.

Found by the precision walk: the first run of a job that stepped down (fp32 asked, over the
memory budget: bf16 used) was stopped; resumed on a worker with room for fp32, it loaded at fp32
and the store refused it ("its config (model_fingerprint, precision_used, quantization) differs
from this run's"), while the row now said fp32 beside a store of bf16 rows. The other way round
(fp32 first, a smaller budget at the resume) the row said "bf16 (asked fp32)" beside fp32 rows.
A resume now loads at the precision the store's rows were computed at, and where that no longer
fits it is refused saying so (what was stored, what fits, what to do); the row keeps the store's.

Real parts: the world's SQLite and tiny llama checkpoint, real job workers (``Worker.run_one``)
with real memory budgets (``memory_budget_bytes``), a real cancel.
"""

from __future__ import annotations

import threading
from typing import Any

from extraction_world import ExtractionWorld
from helpers import wait_for
from interpstudio.core.settings import Settings
from interpstudio.db.models import Job
from interpstudio.jobs.runner import Worker
from interpstudio.ml.memory import estimate_memory
from interpstudio.ml.store import read_manifest
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import ExtractionSpec


def budget_for_bf16_only(world: ExtractionWorld) -> int:
    """A memory budget the tiny model fits at bf16 and not at fp32 (the loader's own estimates)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(world.settings.data_dir / "models" / "1" /
                                            "checkpoint"))
    fp32, bf16 = estimate_memory(config, "fp32"), estimate_memory(config, "bf16")
    return (fp32 + bf16) // 2


def settings_with(world: ExtractionWorld, budget: int | None) -> Settings:
    return world.settings.model_copy(update={"memory_budget_bytes": budget})


def stopped_run(world: ExtractionWorld, settings: Settings) -> int:
    """An fp32 extraction created and started under ``settings``, cancelled once it has stored
    some rows: its id (its store partial)."""
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(repeat=300),
                          hook_points=["blocks.*.resid_post"], batch_size=1, shard_rows=100,
                          precision="fp32", device="cpu")
    with world.factory.begin() as session:
        extraction_id = service.create_extraction(session=session, settings=settings,
                                                  spec=spec).id
    worker = threading.Thread(target=Worker(settings, poll_interval_s=0.05).run_one)
    worker.start()

    def stored_rows() -> int:
        journal = world.settings.data_dir / "extractions" / str(extraction_id) / "store" / (
            "shards.jsonl")
        return journal.is_file() and journal.read_text().count("\n") >= 2

    wait_for(stored_rows, timeout=120)
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    worker.join(120)
    assert row_of(world, extraction_id)["status"] == "cancelled"
    return extraction_id


def row_of(world: ExtractionWorld, extraction_id: int) -> dict[str, Any]:
    with world.factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        job = session.get(Job, row.job_id)
        assert job is not None
        return {"status": row.status, "precision_used": row.precision_used,
                "precision_requested": row.precision_requested, "error": row.error_message,
                "job_state": job.state, "job_error": job.error_message}


def resume(world: ExtractionWorld, extraction_id: int, settings: Settings) -> dict[str, Any]:
    with world.factory.begin() as session:
        service.resume_extraction(session=session, extraction_id=extraction_id)
    assert Worker(settings, poll_interval_s=0.05).run_one()
    return row_of(world, extraction_id)


def store_precision(world: ExtractionWorld, extraction_id: int) -> tuple[str, str]:
    manifest = read_manifest(world.settings.data_dir / "extractions" / str(extraction_id) /
                             "store")
    return manifest["status"], manifest["spec"]["precision_used"]


def test_a_run_that_stepped_down_resumes_at_its_stores_precision_where_more_fits(
    world: ExtractionWorld,
) -> None:
    extraction_id = stopped_run(world, settings_with(world, budget_for_bf16_only(world)))
    assert row_of(world, extraction_id)["precision_used"] == "bf16"
    assert store_precision(world, extraction_id) == ("partial", "bf16")

    after = resume(world, extraction_id, settings_with(world, None))  # room for fp32 now
    assert after["job_state"] == "succeeded", after["job_error"]
    assert after["status"] == "complete"
    assert (after["precision_requested"], after["precision_used"]) == ("fp32", "bf16")
    assert store_precision(world, extraction_id) == ("complete", "bf16")


def test_a_resume_where_the_stores_precision_no_longer_fits_says_so_and_keeps_the_row_true(
    world: ExtractionWorld,
) -> None:
    extraction_id = stopped_run(world, settings_with(world, None))
    assert row_of(world, extraction_id)["precision_used"] == "fp32"

    after = resume(world, extraction_id, settings_with(world, budget_for_bf16_only(world)))
    assert after["job_state"] == "failed" and after["status"] == "failed"
    assert after["precision_used"] == "fp32"  # what the store holds, not what this load used
    assert store_precision(world, extraction_id) == ("partial", "fp32")
    message = after["error"]
    assert message.startswith(f"cannot resume extraction {extraction_id}: the rows its store "
                              "keeps were computed with the model at fp32, and here it loads "
                              "only at bf16 (fp32 needs about "), message
    assert "over the memory budget" in message and "INTERPSTUDIO_MEMORY_BUDGET_BYTES" in message
    assert message.endswith("then resume it, or retry it to start afresh at bf16"), message
