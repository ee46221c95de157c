"""What an extraction job says about the model it loaded, and what its store records of the
weights' source.

Found by the precision walk: a job whose load stepped down (fp32 asked, over the memory budget:
bf16 used) said "loading at fp32" in its load stage and then only the engine's figures, so the
CLI bar and the UI never said it ran at bf16 until the run had ended. Once the load is done the
message now says the precision and why, and every later message of the run ends with the
fallback ("at bf16: fp32 did not fit").

And a model imported from a quantized GGUF (the bundled SmolLM2 is Q4_1) has "fp32" weights that
are a float32 copy of 4-bit ones: the store's spec records the source quantization from the model
row, as it records the precision, and a store begun before it was recorded still resumes.

Real parts: the world's SQLite and tiny llama checkpoint, real job workers (``Worker.run_one``)
with a real memory budget, a real cancel, the real loader.
"""

from __future__ import annotations

import threading
from pathlib import Path

from test_resume_precision import budget_for_bf16_only, resume, settings_with, stopped_run

from extraction_world import ExtractionWorld
from helpers import wait_for
from interpstudio.db.models import Job, Model
from interpstudio.jobs.runner import Worker
from interpstudio.ml.gguf_check import check_gguf
from interpstudio.ml.loading import load_model
from interpstudio.ml.store import read_manifest
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import ExtractionSpec
from tiny_gguf import write_tiny_gguf

Q4_1_SOURCE = {"format": "gguf", "type": "Q4_1", "bits": 4,
               "tensor_types": {"F32": 5, "Q4_1": 14},
               "note": "weights dequantized from a 4-bit GGUF (Q4_1) to float32"}


def test_a_run_that_fell_back_says_at_what_precision_while_it_runs(
        world: ExtractionWorld) -> None:
    settings = settings_with(world, budget_for_bf16_only(world))
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(repeat=300),
                          hook_points=["blocks.*.resid_post"], batch_size=1, shard_rows=100,
                          precision="fp32", device="cpu")
    with world.factory.begin() as session:
        row = service.create_extraction(session=session, settings=settings, spec=spec)
        extraction_id, job_id = row.id, row.job_id
    worker = threading.Thread(target=Worker(settings, poll_interval_s=0.05).run_one)
    worker.start()
    seen: dict[str, str] = {}

    def extracting() -> bool:  # the run is at work: the engine's figures in the message
        with world.factory() as session:
            job = session.get(Job, job_id)
            assert job is not None
            if job.stage == "extract" and job.message and " captured · " in job.message:
                seen["message"] = job.message
            return "message" in seen

    try:
        wait_for(extracting, timeout=120)
    finally:
        with world.factory.begin() as session:
            service.cancel_extraction(session=session, extraction_id=extraction_id)
        worker.join(120)
    assert seen["message"].endswith(" · at bf16: fp32 did not fit"), seen["message"]


def test_the_message_after_the_load_says_the_precision_and_why(tiny_llama_dir: Path) -> None:
    from interpstudio.jobs.tasks.extraction import fallback_note, loaded_message

    fits = load_model(tiny_llama_dir, precision="fp32", memory_budget_bytes=1 << 30)
    assert (loaded_message(fits), fallback_note(fits)) == ("loaded at fp32", None)

    budget = fits.estimated_bytes - 1  # fp32 is over it, bf16 (half of it) is not
    stepped = load_model(tiny_llama_dir, precision="fp32", memory_budget_bytes=budget)
    assert stepped.precision_used == "bf16"
    assert loaded_message(stepped) == (
        f"loaded at bf16, not fp32: fp32 needs about {fits.estimated_bytes:,} bytes, over the "
        f"memory budget of {budget:,} bytes on cpu")
    assert fallback_note(stepped) == "at bf16: fp32 did not fit"


def set_source(world: ExtractionWorld, source: dict[str, object]) -> None:
    """The model row's info as the import of a quantized GGUF records it."""
    with world.factory.begin() as session:
        model = session.get(Model, world.model_id)
        assert model is not None
        model.info = {**(model.info or {}), "source_quantization": source}


def store_spec_of(world: ExtractionWorld, extraction_id: int) -> dict[str, object]:
    return read_manifest(world.settings.data_dir / "extractions" / str(extraction_id) /
                         "store")["spec"]


def run_to_the_end(world: ExtractionWorld) -> int:
    spec = ExtractionSpec(model_id=world.model_id, tokenization_id=world.tokenization(),
                          hook_points=["blocks.0.resid_post"], precision="fp32", device="cpu")
    with world.factory.begin() as session:
        extraction_id = service.create_extraction(session=session, settings=world.settings,
                                                  spec=spec).id
    assert Worker(world.settings, poll_interval_s=0.05).run_one()
    return extraction_id


def test_a_store_of_a_model_from_a_quantized_gguf_records_the_source_quantization(
        world: ExtractionWorld) -> None:
    plain = run_to_the_end(world)
    assert "source_quantization" not in store_spec_of(world, plain)  # nothing new for others

    set_source(world, Q4_1_SOURCE)
    from_gguf = run_to_the_end(world)
    spec = store_spec_of(world, from_gguf)
    assert spec["source_quantization"] == Q4_1_SOURCE
    assert spec["precision_used"] == "fp32"


def test_a_run_of_a_gguf_import_made_before_its_source_was_recorded_records_it(
        world: ExtractionWorld, tiny_llama_dir: Path, tmp_path: Path) -> None:
    """Found by the backfill audit: such a row got its source quantization at the API's start
    and from ``models list`` / ``show`` / ``demo``, but ``extract`` and ``worker`` on an install
    never served ran the job on the row as it was, and the store recorded no source. The job
    fills the row first, wherever it runs (``Worker.run_one`` is what both commands run)."""
    source = write_tiny_gguf(tiny_llama_dir, tmp_path / "tiny-q4.gguf", quantization="Q4_1")
    with world.factory.begin() as session:  # the import facts, as an old GGUF import left them
        model = session.get(Model, world.model_id)
        assert model is not None
        model.info = {"import_source": str(source), "import_kind": "gguf",
                      "import_bytes": source.stat().st_size, "import_skipped": [],
                      "import_skipped_count": 0}
    spec = store_spec_of(world, run_to_the_end(world))
    assert spec["source_quantization"] == check_gguf(source).source_quantization()
    assert spec["source_quantization"]["type"] == "Q4_1"
    with world.factory() as session:
        row = session.get(Model, world.model_id)
        assert row is not None and row.info["source_quantization"] == spec["source_quantization"]


def test_a_store_begun_before_the_source_was_recorded_still_resumes(
        world: ExtractionWorld) -> None:
    extraction_id = stopped_run(world, world.settings)
    set_source(world, Q4_1_SOURCE)  # recorded since: the store's spec lacks it
    after = resume(world, extraction_id, world.settings)
    assert after["job_state"] == "succeeded", after["job_error"]
    assert "source_quantization" not in store_spec_of(world, extraction_id)
