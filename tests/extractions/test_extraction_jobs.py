"""Extraction use cases and the ``extract`` job, on a real SQLite database, a real worker and the
tiny llama with its real tokenizer: create (with preflight), run, statistics, samples with text,
cancel + resume (byte-identical), retry, delete, refusals, kill -9 of a worker process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extraction_world import ExtractionWorld
from helpers import start_worker_process, wait_for
from interpstudio.core.errors import AppError
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.core.units import format_bytes
from interpstudio.db.models import FINISHED_STATES
from interpstudio.ml import open_activations
from interpstudio.ml.store import listed_files, read_manifest
from interpstudio.services import extractions as service
from interpstudio.services import jobs as job_service
from interpstudio.services.extraction_params import ExtractionSpec


def make_spec(world: ExtractionWorld, tokenization_id: int, **overrides: Any) -> ExtractionSpec:
    values: dict[str, Any] = {"model_id": world.model_id, "tokenization_id": tokenization_id,
                              "hook_points": ["blocks.*.resid_post", "blocks.0.mlp_out"],
                              "batch_size": 2, "device": "cpu"}
    values.update(overrides)
    return ExtractionSpec(**values)


def create(world: ExtractionWorld, spec: ExtractionSpec) -> int:
    with world.factory.begin() as session:
        return service.create_extraction(session=session, settings=world.settings, spec=spec).id


def job_of(world: ExtractionWorld, extraction_id: int) -> dict[str, Any]:
    with world.factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        job = job_service.get_job(session=session, job_id=row.job_id)  # type: ignore[arg-type]
        return {"state": job.state, "done": job.done, "total": job.total, "message": job.message,
                "error": job.error_message, "row_status": row.status, "counts": row.counts,
                "effective": service.effective_status(row, job), "precision": row.precision_used,
                "stages": list(job.stages or [])}


def wait_finished(world: ExtractionWorld, extraction_id: int) -> dict[str, Any]:
    return wait_for(lambda: (j := job_of(world, extraction_id))["state"] in FINISHED_STATES and j,
                    timeout=300)  # generous: the CI box is a shared 2-core CPU


def store_of(world: ExtractionWorld, extraction_id: int) -> Path:
    return world.settings.data_dir / "extractions" / str(extraction_id) / "store"


def hashes(store: Path) -> dict[str, str]:
    return {rel: record["sha256"] for rel, record in listed_files(read_manifest(store))}


def test_extraction_job_runs_and_writes_store_stats_and_samples(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    extraction_id = create(world, make_spec(world, world.tokenization()))
    worker_thread(world.settings)
    job = wait_finished(world, extraction_id)
    assert job["state"] == "succeeded", job["error"]
    assert job["row_status"] == "complete" and job["precision"] == "fp32"
    assert job["done"] == job["total"] == job["counts"]["tokens"] == job["counts"]["rows"]
    # after the last batch, an uncounted stage while the last shard and statistics are written
    # (at 100 % the job read "ETA any moment" for that while), ending with what was written
    stages = {s["stage"]: s for s in job["stages"]}
    assert list(stages)[-3:] == ["extract", "finish", "samples"]
    assert stages["extract"]["done"] == stages["extract"]["total"] == job["counts"]["tokens"]
    assert stages["finish"]["done"] is None
    acts = open_activations(store_of(world, extraction_id))
    acts.verify()
    assert acts.status == "complete" and acts.spec["model_key"] == "org/tiny@0123abc"
    paths = DataPaths(world.settings.data_dir)
    with world.factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        stats = service.read_stats(paths=paths, row=row)
        samples = service.read_samples(paths=paths, row=row)
    assert [p["layer"] for p in stats["layer_norms"]["resid_post"]] == [0, 1]
    assert "per_dim" not in stats["hooks"]["blocks.0.mlp_out"]["groups"]["all"]
    top = samples["hooks"]["blocks.1.resid_post"][0]
    assert top["token"] and isinstance(top["before"], str)
    assert top["norm"] == stats["hooks"]["blocks.1.resid_post"]["groups"]["all"]["norm"]["max"]
    assert_groups_kept_apart(world, paths, extraction_id, acts)


def assert_groups_kept_apart(world: ExtractionWorld, paths: DataPaths, extraction_id: int,
                             acts: Any) -> None:
    """Per row group, the norm curve and the top-norm rows are those of the group's own rows,
    recomputed here from the stored activations: ``non_bos`` never shows a first position."""
    hook = "blocks.1.resid_post"
    norms = np.linalg.norm(acts[hook][:].astype(np.float64), axis=1)
    first = acts.tokens[:][:, 2] == 0  # columns: token_id, sequence_index, position
    assert first.any() and (~first).any()
    with world.factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        for group, rows in (("non_bos", ~first), ("bos", first), ("all", first | ~first)):
            stats = service.read_stats(paths=paths, row=row, group=group)
            samples = service.read_samples(paths=paths, row=row, group=group)
            assert stats["group"] == samples["group"] == group
            curve = {p["layer"]: p["norm_mean"] for p in stats["layer_norms"]["resid_post"]}
            assert curve[1] == pytest.approx(norms[rows].mean(), rel=1e-6)
            top = samples["hooks"][hook]
            assert top and all(rows[s["row"]] for s in top)
            assert top[0]["norm"] == pytest.approx(norms[rows].max(), rel=1e-9)
            assert [s["norm"] for s in top] == sorted((s["norm"] for s in top), reverse=True)


def test_samples_written_before_groups_are_read_as_group_all(world: ExtractionWorld) -> None:
    """A ``samples.json`` from before per-group samples ({"hooks": ...}) still serves ``all``,
    and no other group's rows are made up from it."""
    extraction_id = create(world, make_spec(world, world.tokenization()))
    folder = store_of(world, extraction_id).parent
    folder.mkdir(parents=True, exist_ok=True)
    old = {"hooks": {"blocks.0.resid_post": [{"norm": 2.0, "row": 0}]},
           "context": {"before": 8, "after": 4}}
    (folder / service.SAMPLES_FILE).write_text(json.dumps(old))
    with world.factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        paths = DataPaths(world.settings.data_dir)
        assert service.read_samples(paths=paths, row=row)["hooks"] == old["hooks"]
        assert service.read_samples(paths=paths, row=row, group="non_bos")["hooks"] == {}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"hook_points": ["blocks.0.residual"]}, "unknown_hook_point"),
        ({"hook_points": ["blocks.5.resid_post"]}, "hook_layer_out_of_range"),
        ({"tokenizer_key": "other/model@1"}, "tokenizer_mismatch"),
        ({"texts": []}, "empty_extraction"),
    ],
)
def test_bad_requests_are_refused_before_any_row_exists(
    world: ExtractionWorld, change: dict[str, Any], code: str
) -> None:
    tokenization_id = world.tokenization(
        texts=change.get("texts", ["some words here"]),
        tokenizer_key=change.get("tokenizer_key", "org/tiny@0123abc"))
    spec_change = {k: v for k, v in change.items() if k == "hook_points"}
    with pytest.raises(AppError) as info:
        create(world, make_spec(world, tokenization_id, **spec_change))
    assert info.value.code == code and info.value.status == 422
    if code == "unknown_hook_point":
        assert "resid_post" in info.value.details["valid_kinds"]
    with world.factory() as session:
        assert service.list_extractions(session=session, statuses=[], model_id=None,
                                        tokenization_id=None, search=None, limit=10,
                                        offset=0)[1] == 0


def test_cancel_then_resume_is_byte_identical_to_an_uninterrupted_run(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    tokenization_id = world.tokenization(repeat=300)
    spec = make_spec(world, tokenization_id, batch_size=1, hook_points=["blocks.*.resid_post"],
                     shard_rows=500)
    reference = create(world, spec)
    worker_thread(world.settings)
    assert wait_finished(world, reference)["state"] == "succeeded"

    extraction_id = create(world, spec)
    wait_for(lambda: (job_of(world, extraction_id)["done"] or 0) > 200, timeout=60)
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    asked = time.monotonic()
    job = wait_finished(world, extraction_id)
    assert time.monotonic() - asked < 2.0
    assert job["state"] == "cancelled" and job["effective"] == "cancelled"
    partial = open_activations(store_of(world, extraction_id))
    partial.verify()
    assert partial.status == "partial" and 0 < partial.rows < job["total"]
    # found by a tester: the last message predated the shards committed while stopping
    on_disk = sum(record["bytes"] for _, record in listed_files(partial.manifest))
    shards = len(partial.manifest["shards"])
    assert job["message"] == (f"kept {partial.rows:,} rows in {shards} "
                              f"whole shard{'' if shards == 1 else 's'} · "
                              f"{format_bytes(on_disk)} written; resume to continue from there"
                              ), job["message"]
    # found by a tester: done counted the rows computed (15,360) beside "kept 14,336 rows"
    assert job["done"] == partial.rows  # every position kept: one row per token

    with world.factory.begin() as session:
        service.resume_extraction(session=session, extraction_id=extraction_id)
    assert wait_finished(world, extraction_id)["state"] == "succeeded"
    assert hashes(store_of(world, extraction_id)) == hashes(store_of(world, reference))


def test_a_run_cancelled_before_its_first_whole_shard_says_it_kept_nothing(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """A tester: it said "kept 0 rows in 0 whole shards · 0.000 GB written; resume to continue
    from there", as if Resume saved work over Retry."""
    spec = make_spec(world, world.tokenization(repeat=300), batch_size=1,
                     hook_points=["blocks.*.resid_post"], shard_rows=1_000_000)
    extraction_id = create(world, spec)
    worker_thread(world.settings)
    wait_for(lambda: (job_of(world, extraction_id)["done"] or 0) > 0, timeout=60)
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    job = wait_finished(world, extraction_id)
    assert job["state"] == "cancelled"
    assert read_manifest(store_of(world, extraction_id))["shards"] == []
    assert job["message"] == ("kept no rows (stopped before the first whole shard); resume "
                              "starts from the beginning")


def test_a_job_that_fails_before_its_task_settles_the_extraction_fails_it_too(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """A tester: a job failed before the task took its extraction over (a folder outside the
    data dir, through a symlink), and the extraction stayed ``queued``: every later identical
    request was refused as "queued: follow it (or cancel it)". The runner settles the records a
    failed job leaves unsettled. The fault is real: the row's folder is a path out of the data
    dir (as a symlinked ``extractions/`` made it)."""
    from interpstudio.db.models import Extraction

    extraction_id = create(world, make_spec(world, world.tokenization()))
    with world.factory.begin() as session:
        session.get(Extraction, extraction_id).path = "../outside"  # type: ignore[union-attr]
    worker_thread(world.settings)
    job = wait_finished(world, extraction_id)
    assert job["state"] == "failed" and job["row_status"] == "failed"
    assert "outside" in (job["error"] or "")
    create(world, make_spec(world, world.tokenization()))  # no longer refused as underway


def test_retry_starts_afresh_and_delete_removes_everything(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """A retry is for a stopped run: it drops the shards the run kept and writes the store anew
    (the same bytes as an uninterrupted run). A complete run is not retried (its store would be
    deleted to compute the same again): refused, the store untouched."""
    spec = make_spec(world, world.tokenization(repeat=300), batch_size=1,
                     hook_points=["blocks.*.resid_post"], shard_rows=500)
    reference = create(world, spec)
    worker_thread(world.settings)
    assert wait_finished(world, reference)["state"] == "succeeded"
    first = hashes(store_of(world, reference))
    with world.factory.begin() as session, pytest.raises(AppError) as info:
        service.retry_extraction(session=session, extraction_id=reference)
    assert info.value.code == "job_already_succeeded" and info.value.status == 409
    assert hashes(store_of(world, reference)) == first

    extraction_id = create(world, spec)
    wait_for(lambda: (job_of(world, extraction_id)["done"] or 0) > 200, timeout=60)
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    assert wait_finished(world, extraction_id)["state"] == "cancelled"
    assert read_manifest(store_of(world, extraction_id))["shards"]  # kept some
    with world.factory() as session:
        planned = service.get_extraction(session=session, extraction_id=extraction_id).counts
    with world.factory.begin() as session:
        row = service.retry_extraction(session=session, extraction_id=extraction_id)
        # the last run's results (bytes, speed, ...) are not shown beside the new run's progress
        assert row.counts == {k: planned[k] for k in ("tokens_total", "rows_total", "bytes_total")}
    job = wait_finished(world, extraction_id)
    assert job["state"] == "succeeded"
    assert hashes(store_of(world, extraction_id)) == first
    manifest = read_manifest(store_of(world, extraction_id))
    assert manifest["resumes"] == []  # a fresh store, not a resumed one
    with world.factory.begin() as session:
        service.delete_extraction(session=session, paths=DataPaths(world.settings.data_dir),
                                  extraction_id=extraction_id)
    assert not (world.settings.data_dir / "extractions" / str(extraction_id)).exists()
    with world.factory() as session, pytest.raises(AppError) as info:
        service.get_extraction(session=session, extraction_id=extraction_id)
    assert info.value.status == 404


def test_delete_while_running_is_a_conflict(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    extraction_id = create(world, make_spec(world, world.tokenization(repeat=300), batch_size=1))
    worker_thread(world.settings)
    wait_for(lambda: job_of(world, extraction_id)["state"] == "running", timeout=60)
    with world.factory.begin() as session, pytest.raises(AppError) as info:
        service.delete_extraction(session=session, paths=DataPaths(world.settings.data_dir),
                                  extraction_id=extraction_id)
    assert info.value.code == "extraction_busy" and info.value.status == 409
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    wait_finished(world, extraction_id)



def test_kill_9_of_the_worker_then_resume_is_byte_identical(
    world: ExtractionWorld, tmp_path: Path
) -> None:
    tokenization_id = world.tokenization(repeat=120)
    spec = make_spec(world, tokenization_id, batch_size=1, hook_points=["blocks.*.resid_post"],
                     shard_rows=200)
    reference = create(world, spec)
    log = tmp_path / "worker.log"
    first = start_worker_process(world.settings, log)
    try:
        assert wait_finished(world, reference)["state"] == "succeeded", log.read_text()
        extraction_id = create(world, spec)  # the same configuration, once the first has ended
        store = store_of(world, extraction_id)
        wait_for(lambda: (store / "manifest.json").exists() and read_manifest(store)["shards"],
                 timeout=60)
    finally:
        first.kill()
        first.wait()
    assert job_of(world, extraction_id)["state"] == "running"
    second = start_worker_process(world.settings, log)
    try:
        job = wait_for(lambda: (j := job_of(world, extraction_id))["state"] != "running" and j,
                       timeout=60)
        assert job["state"] == "interrupted" and job["effective"] == "interrupted"
        with world.factory.begin() as session:
            service.resume_extraction(session=session, extraction_id=extraction_id)
        assert wait_finished(world, extraction_id)["state"] == "succeeded", log.read_text()
    finally:
        second.kill()
        second.wait()
    resumed = read_manifest(store_of(world, extraction_id))
    assert len(resumed["resumes"]) == 1
    assert hashes(store_of(world, extraction_id)) == hashes(store_of(world, reference))
    np.testing.assert_array_equal(open_activations(store_of(world, extraction_id)).tokens[:],
                                  open_activations(store_of(world, reference)).tokens[:])


def test_deleting_the_model_while_an_extraction_runs_is_refused_with_what_depends_on_it(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    from interpstudio.services import models as model_service

    extraction_id = create(world, make_spec(world, world.tokenization(repeat=300), batch_size=1))
    worker_thread(world.settings)
    wait_for(lambda: job_of(world, extraction_id)["state"] == "running", timeout=60)
    with world.factory.begin() as session, pytest.raises(AppError) as info:
        model_service.delete_model(session=session, model_id=world.model_id,
                                   paths=DataPaths(world.settings.data_dir))
    assert info.value.status == 409 and info.value.code == "model_in_use"
    assert [e["id"] for e in info.value.details["extractions"]] == [extraction_id]
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=extraction_id)
    assert wait_finished(world, extraction_id)["state"] == "cancelled"
    assert (world.settings.data_dir / "models" / "1" / "checkpoint").is_dir()


def test_the_api_row_groups_are_the_groups_stats_json_reports() -> None:
    from typing import get_args

    from interpstudio.ml.stats import REPORTED_GROUPS
    from interpstudio.services.extraction_params import RowGroup

    assert set(get_args(RowGroup)) == set(REPORTED_GROUPS)


def test_a_quantized_model_is_packed_once_then_read_back_by_later_runs(
    world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """Pitfall: quantized weights never kept, so every load quantized again. The preflight's
    load keeps the packed layers in ``models/<id>/quantized``; the run and a later run of the
    same request read them (the file is not written again) and write the same store."""
    spec = make_spec(world, world.tokenization(), precision="q4")
    extraction_id = create(world, spec)
    cache = world.settings.data_dir / "models" / str(world.model_id) / "quantized"
    (packed_file,) = cache.glob("q4-*.safetensors")
    written = packed_file.stat().st_mtime_ns
    worker_thread(world.settings)

    def run() -> tuple[dict[str, str], dict[str, Any]]:
        job = wait_finished(world, extraction_id)
        assert job["state"] == "succeeded" and job["precision"] == "q4", job["error"]
        with world.factory() as session:
            row = service.get_extraction(session=session, extraction_id=extraction_id)
            return hashes(store_of(world, extraction_id)), row.info["model_load"]["quantization"]

    first, read = run()
    assert read["from_cache"]
    with world.factory.begin() as session:  # a complete run is not retried: made anew
        service.delete_extraction(session=session, paths=DataPaths(world.settings.data_dir),
                                  extraction_id=extraction_id)
    extraction_id = create(world, spec)
    again, read = run()
    assert read["from_cache"] and again == first
    assert list(cache.glob("q4-*.safetensors")) == [packed_file]
    assert packed_file.stat().st_mtime_ns == written


def test_a_dataset_tokenized_for_two_models_gives_each_model_its_own(
        world: ExtractionWorld) -> None:
    """Pitfall 18: the tokenization found for a model is one made with that model's tokenizer,
    not the dataset's first or newest; a model with none gets none."""
    from interpstudio.db.base import utcnow
    from interpstudio.db.models import Model

    mine = world.tokenization()
    with world.factory.begin() as session:
        other = Model(key="orgB/other@feed", name="other", source="local", status="ready",
                      path="models/2/checkpoint", n_layers=2, d_model=64, model_type="llama",
                      precision_requested="fp32", updated_at=utcnow())
        third = Model(key="orgC/none@beef", name="none", source="local", status="ready",
                      path="models/3/checkpoint", n_layers=2, d_model=64, model_type="llama",
                      precision_requested="fp32", updated_at=utcnow())
        session.add_all([other, third])
        session.flush()
        other_id, third_id = other.id, third.id
    theirs = world.tokenization(tokenizer_key="orgB/other@feed")  # newer than mine
    paths = DataPaths(world.settings.data_dir)
    with world.factory() as session:
        def found(model_id: int) -> int | None:
            row = service.find_tokenization_for(session=session, paths=paths,
                                                dataset_id=world.dataset_id,
                                                model_id=model_id)
            return None if row is None else row.id

        assert theirs > mine
        assert found(world.model_id) == mine
        assert found(other_id) == theirs
        assert found(third_id) is None


def test_a_second_run_of_a_configuration_underway_is_refused_until_the_first_ends(
    world: ExtractionWorld,
) -> None:
    """Two tabs or two terminals starting the same extraction: the second is told which one is
    already underway (the name and the spelling of the hook points are not the configuration);
    once the first has ended, the configuration may run again."""
    tokenization_id = world.tokenization()
    first = create(world, make_spec(world, tokenization_id, name="mine"))
    same = make_spec(world, tokenization_id, name="theirs",
                     hook_points=["blocks.0.resid_post", "blocks.1.resid_post", "blocks.0.mlp_out"])
    with pytest.raises(AppError) as info:
        create(world, same)
    assert info.value.code == "extraction_already_underway" and info.value.status == 409
    assert info.value.details["extraction_id"] == first
    assert f"extraction {first} with the same configuration" in str(info.value)
    create(world, make_spec(world, tokenization_id, batch_size=1))  # another configuration
    with world.factory.begin() as session:
        service.cancel_extraction(session=session, extraction_id=first)  # queued: ends at once
    second = create(world, same)
    for action in (service.resume_extraction, service.retry_extraction):
        with world.factory.begin() as session, pytest.raises(AppError) as info:
            action(session=session, extraction_id=first)
        assert info.value.details["extraction_id"] == second
    # the Jobs page resumes / retries the job itself (found by a reviewer: it bypassed this)
    with world.factory() as session:
        first_job = service.get_extraction(session=session, extraction_id=first).job_id
    for job_action in (job_service.resume_job, job_service.retry_job):
        with world.factory.begin() as session, pytest.raises(AppError) as info:
            job_action(session=session, job_id=first_job)
        assert info.value.code == "extraction_already_underway"
