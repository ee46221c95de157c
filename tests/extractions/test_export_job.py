"""The SAELens export as an ``extraction_export`` job over the real API and a real worker thread
(tiny llama, SQLite): rising progress and the sync export's answer as its result, a cancel that
keeps the previous export, up-front refusals before any job, and a stopped extraction exported
as partial. Small export blocks (``ml.export._BLOCK_BYTES``, a size, not a fake) make a tiny
store take many blocks, so progress and a cancel between blocks can be seen."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from extraction_world import ExtractionWorld
from helpers import LOOPBACK, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.models import FINISHED_STATES
from interpstudio.services.extractions import FINAL_STATUSES

API = "/api/v1/extractions"
HOOKS = ["blocks.*.resid_post", "blocks.1.attn_out"]


@pytest.fixture
def api(world: ExtractionWorld) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(world.settings, job_feed_interval_s=0.05,
                               system_interval_s=0.5)) as client:
        yield client


def extraction(api: TestClient, world: ExtractionWorld, **spec: Any) -> int:
    body = {"model_id": world.model_id, "tokenization_id": world.tokenization(repeat=40),
            "hook_points": HOOKS, "batch_size": 4, "device": "cpu", **spec}
    created = api.post(API, json=body)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def finished(api: TestClient, extraction_id: int) -> dict[str, Any]:
    """The extraction once its job and its record both say so (each is final only once its
    own write is committed; a GET reads both from one snapshot since 050635f)."""
    return wait_for(lambda: (e := api.get(f"{API}/{extraction_id}").json())["job"]["state"]
                    in FINISHED_STATES and e["status"] in FINAL_STATUSES and e, timeout=120)


def completed(api: TestClient, world: ExtractionWorld,
              worker_thread: Callable[[Settings], Any], **spec: Any) -> int:
    """A complete extraction, run by a worker thread; its id."""
    extraction_id = extraction(api, world, **spec)
    worker_thread(world.settings)
    assert finished(api, extraction_id)["status"] == "complete"
    return extraction_id


def follow(api: TestClient, job_id: int, seen: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's snapshots as the API serves them, until it finishes."""
    def step() -> dict[str, Any] | None:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        seen.append(job)
        return job if job["state"] in FINISHED_STATES else None
    return wait_for(step, timeout=120, interval=0.02)


def test_an_export_job_reports_rising_progress_and_answers_as_the_sync_export(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = pytest.importorskip("datasets")
    from interpstudio.ml import open_activations

    extraction_id = completed(api, world, worker_thread)
    acts = open_activations(world.settings.data_dir / "extractions" / str(extraction_id))
    row_bytes = 8 * sum(acts[h].shape[1] for h in acts.hook_names) * 2  # context 8, float16
    # about 25 blocks: progress seen rising over several of the reporter's writes (one dataset
    # row a block made 325 and took a minute)
    block_bytes = row_bytes * (len(acts.tokens) // 200)
    monkeypatch.setattr("interpstudio.ml.export._BLOCK_BYTES", block_bytes)

    started = api.post(f"{API}/{extraction_id}/export-job", json={"context_size": 8})
    assert started.status_code == 202, started.text
    assert started.json()["kind"] == "extraction_export"
    assert started.json()["state"] == "queued"
    seen: list[dict[str, Any]] = []
    job = follow(api, started.json()["id"], seen)
    assert job["state"] == "succeeded", job
    done = [s["done"] for s in seen if s["stage"] in ("export", "assemble") and s["done"]]
    assert done == sorted(done) and len(set(done)) >= 2, done
    total = job["result"]["rows"]
    assert done[-1] == total and {s["total"] for s in seen if s["done"]} == {total}
    assert [s["stage"] for s in job["stages"]][-2:] == ["export", "assemble"]
    # the assembly is a stage of its own with no count (an indeterminate bar and its message),
    # not the export's full bar sitting at 100 %
    exported, assembled = job["stages"][-2:]
    assert (exported["done"], exported["total"]) == (total, total)
    assert (assembled["done"], assembled["total"]) == (None, None)
    # it counts sequences of context-size tokens: "16 / 16 rows" on the Jobs page, beside an
    # extraction of 4,096 rows, read as activation rows
    assert {s["unit"] for s in seen if s["stage"] == "export"} == {"sequences"}
    by_job = datasets.load_from_disk(job["result"]["abs_path"])[:]

    monkeypatch.undo()  # the sync twin in blocks of the default size: the same dataset
    sync = api.post(f"{API}/{extraction_id}/export", json={"context_size": 8})
    assert sync.status_code == 200, sync.text
    assert sync.json() == {**job["result"], "replaced": True}
    assert datasets.load_from_disk(sync.json()["abs_path"])[:] == by_job
    assert job["result"]["partial"] is False


def test_a_cancelled_export_job_leaves_the_previous_export(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = pytest.importorskip("datasets")
    extraction_id = completed(api, world, worker_thread)
    previous = api.post(f"{API}/{extraction_id}/export", json={"context_size": 4})
    assert previous.status_code == 200, previous.text
    folder = world.settings.data_dir / previous.json()["path"]
    before = datasets.load_from_disk(str(folder))[:]

    monkeypatch.setattr("interpstudio.ml.export._BLOCK_BYTES", 1)  # one dataset row a block
    started = api.post(f"{API}/{extraction_id}/export-job", json={"context_size": 2})
    job_id = started.json()["id"]
    # a second export of the row while this one runs is refused, and so are a delete and a retry
    again = api.post(f"{API}/{extraction_id}/export-job", json={"context_size": 2})
    assert again.status_code == 409 and again.json()["error"]["code"] == "export_underway"
    assert api.post(f"{API}/{extraction_id}/export", json={}).status_code == 409
    assert api.delete(f"{API}/{extraction_id}").status_code == 409
    # a retry would remove the store being read: refused (a complete run is never retried)
    retry = api.post(f"{API}/{extraction_id}/retry")
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "job_already_succeeded"
    wait_for(lambda: (api.get(f"/api/v1/jobs/{job_id}").json()["done"] or 0) > 0, timeout=60)
    assert api.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = follow(api, job_id, [])
    assert job["state"] == "cancelled", job
    assert 0 < job["done"] < job["total"]
    assert datasets.load_from_disk(str(folder))[:] == before
    assert not [p.name for p in folder.parent.iterdir() if "export-tmp" in p.name]


def test_refusals_known_up_front_answer_before_any_job(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
) -> None:
    from interpstudio.db.models import Extraction

    extraction_id = completed(api, world, worker_thread)
    start = f"{API}/{extraction_id}/export-job"
    unknown = api.post(start, json={"hook_points": ["blocks.9.nope"]})
    assert unknown.status_code == 404, unknown.text
    no_module = api.post(start, json={"column_names": "module_paths"})  # no import record here
    assert no_module.status_code == 422, no_module.text
    assert "module paths are unknown" in no_module.json()["error"]["message"]
    bad = api.post(start, json={"dtype": "int8"})
    assert bad.status_code == 422, bad.text
    for status in ("running", "failed"):
        with world.factory.begin() as session:
            session.get(Extraction, extraction_id).status = status  # type: ignore[union-attr]
        refused = api.post(start, json={})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "extraction_results_not_ready"
    jobs = api.get("/api/v1/jobs", params={"kind": "extraction_export"}).json()
    assert jobs["total"] == 0


def test_a_float16_export_past_its_range_is_refused_before_any_job(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
) -> None:
    """The BOS token's embedding carries a value past float16's range down the residual stream
    (the attention-sink rows of real models reach it). A float16 export of that float32 store
    was queued and failed when the block holding the value was written; the store's statistics
    show it, so the start answers 422 naming the point and no job is made. Without the first
    positions, which alone hold it, the export runs and is whole."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    checkpoint = world.settings.data_dir / "models" / str(world.model_id) / "checkpoint"
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint))
    bos = AutoTokenizer.from_pretrained(str(checkpoint)).bos_token_id
    with torch.no_grad():
        model.get_input_embeddings().weight[bos, 0] = 1e5
    model.save_pretrained(str(checkpoint))
    extraction_id = completed(api, world, worker_thread, dtype="float32")

    body = {"dtype": "float16", "context_size": 8}
    for route in ("export-job", "export"):
        refused = api.post(f"{API}/{extraction_id}/{route}", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["details"]["found_in"] == "statistics"
        assert error["details"]["hook_point"].endswith("resid_post")
        assert "values beyond float16's range" in error["message"]
        assert "leave out first positions" in error["message"]
    assert api.get("/api/v1/jobs", params={"kind": "extraction_export"}).json()["total"] == 0
    started = api.post(f"{API}/{extraction_id}/export-job",
                       json={**body, "exclude_first_position": True})
    assert started.status_code == 202, started.text
    job = follow(api, started.json()["id"], [])
    assert job["state"] == "succeeded", job
    assert job["result"]["dtype"] == "float16" and job["result"]["rows"] > 0


def test_the_free_disk_check_counts_only_the_rows_the_export_writes(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    tmp_path: Path,
) -> None:
    """The check before the job counted every stored row, first positions included: an export
    leaving them out that fits the disk was refused. The extraction's folder on a real tmpfs
    with room for what that export writes (twice, and Arrow's few KiB) but not for every row:
    started and written; with the first positions it is refused up front, naming what it
    needs."""
    from helpers import small_filesystem
    from interpstudio.ml.export import plan_export

    short = ["Yes.", "No, sir.", "Go on.", "Hi there."]  # a first position in every 3 or 4
    extraction_id = completed(api, world, worker_thread,
                              tokenization_id=world.tokenization(short, repeat=100))
    folder = world.settings.data_dir / "extractions" / str(extraction_id)
    body = {"dtype": "float16", "context_size": 8, "exclude_first_position": True}
    plan = plan_export(folder / "store", **body)
    every_row = len(plan.acts.tokens) * (sum(plan.acts[h].shape[1] for h in plan.hooks) * 2 + 4)
    room = 2 * plan.export_bytes + (64 << 10)
    assert room < 2 * every_row  # what the old check asked for does not fit
    aside = tmp_path / "aside"
    folder.rename(aside)
    with small_filesystem(folder, str(room)):
        (folder / "store").symlink_to(aside / "store")
        refused = api.post(f"{API}/{extraction_id}/export-job",
                           json={**body, "exclude_first_position": False})
        assert refused.status_code == 507, refused.text
        assert refused.json()["error"]["details"]["needed_bytes"] > room
        started = api.post(f"{API}/{extraction_id}/export-job", json=body)
        assert started.status_code == 202, started.text
        job = follow(api, started.json()["id"], [])
        assert job["state"] == "succeeded", job
        assert job["result"]["tokens_exported"] == plan.dataset_rows * 8


def test_an_export_opens_the_store_once(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check, the service and the export each opened the store (three manifest and journal
    reads for one export): opened once, the plan made on it is what is written."""
    from interpstudio.ml import store

    extraction_id = completed(api, world, worker_thread)
    reads: list[Any] = []
    real = store.read_manifest

    def counted(directory: Any) -> Any:
        reads.append(directory)
        return real(directory)

    monkeypatch.setattr(store, "read_manifest", counted)  # the real read, counted
    done = api.post(f"{API}/{extraction_id}/export", json={"context_size": 8})
    assert done.status_code == 200, done.text
    assert len(reads) == 1, reads


def test_a_stopped_extraction_exports_its_whole_shards_as_partial(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
) -> None:
    datasets = pytest.importorskip("datasets")
    body = {"model_id": world.model_id, "tokenization_id": world.tokenization(repeat=300),
            "hook_points": ["blocks.*.resid_post"], "batch_size": 1, "device": "cpu",
            "shard_rows": 100}
    created = api.post(API, json=body)
    assert created.status_code == 201, created.text
    extraction_id = created.json()["id"]
    worker_thread(world.settings)
    wait_for(lambda: (api.get(f"{API}/{extraction_id}").json()["job"]["done"] or 0) > 300,
             timeout=120)
    assert api.post(f"{API}/{extraction_id}/cancel").status_code == 200
    stopped = finished(api, extraction_id)
    assert stopped["status"] == "cancelled", stopped
    kept = int(stopped["job"]["done"])  # every position kept: one row per token

    started = api.post(f"{API}/{extraction_id}/export-job", json={"context_size": 10})
    assert started.status_code == 202, started.text
    job = follow(api, started.json()["id"], [])
    assert job["state"] == "succeeded", job
    result = job["result"]
    assert result["partial"] is True
    assert result["warnings"][0].startswith(f"extraction {extraction_id} is cancelled: this "
                                            f"export holds the {kept:,} rows of its ")
    assert result["tokens_exported"] + result["tokens_dropped"] == kept
    assert len(datasets.load_from_disk(result["abs_path"])) == result["rows"] == kept // 10
    sync = api.post(f"{API}/{extraction_id}/export", json={"context_size": 10})
    assert sync.status_code == 200 and sync.json()["partial"] is True


@pytest.mark.parametrize("delivered", [True, False], ids=["seen-by-the-task", "only-on-the-row"])
def test_a_cancel_during_the_assembly_lets_it_finish_and_the_result_says_so(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any],
    monkeypatch: pytest.MonkeyPatch, delivered: bool,
) -> None:
    """The ``assemble`` stage is one ``datasets`` call that cannot be stopped: a cancel arriving
    then lets it finish. The cancel is requested for real (``services.jobs.cancel_job``, what
    ``POST /jobs/{id}/cancel`` does) from the job's own ``assemble`` progress report, the one
    moment known from outside the task to lie inside the stage. The seam: ``JobContext.progress``
    wrapped to make the real report, then the request (a hook, not a fake: nothing is skipped).
    ``delivered``: the wrapper then waits until the runner's monitor has handed the cancel to the
    task (``should_stop()``), as in an assembly longer than the monitor's poll (0.25 s); without
    that, the assembly of this small export ends before the monitor reads the row again, and the
    job, which looked only at its stop flag, dropped the cancel without a word. Either way: the
    job succeeds, its result ends with ``CANCEL_TOO_LATE``, the previous export is replaced, and
    the new one is whole (the rows of an export nobody cancelled)."""
    datasets = pytest.importorskip("datasets")
    from interpstudio.jobs.context import JobContext
    from interpstudio.jobs.tasks.extraction_export import CANCEL_TOO_LATE
    from interpstudio.services.jobs import cancel_job

    extraction_id = completed(api, world, worker_thread)
    previous = api.post(f"{API}/{extraction_id}/export", json={"context_size": 4})
    assert previous.status_code == 200, previous.text

    report = JobContext.progress
    asked: list[int] = []

    def progress(ctx: JobContext, **fields: Any) -> None:
        report(ctx, **fields)
        if ctx.kind == "extraction_export" and fields.get("stage") == "assemble":
            with world.factory.begin() as session:
                cancel_job(session=session, job_id=ctx.job_id, paths=None)
            asked.append(ctx.job_id)
            if delivered:
                wait_for(ctx.should_stop, timeout=30)

    monkeypatch.setattr(JobContext, "progress", progress)
    started = api.post(f"{API}/{extraction_id}/export-job", json={"context_size": 8})
    assert started.status_code == 202, started.text
    job = follow(api, started.json()["id"], [])
    assert asked == [job["id"]]
    assert job["state"] == "succeeded", job
    assert (job["error_code"], job["error_message"], job["cancel_requested"]) == (
        None, None, False)
    assert [s["stage"] for s in job["stages"]][-2:] == ["export", "assemble"]
    assert job["message"] is None  # a finished job's; the result's warnings say the rest
    result = job["result"]
    assert result["warnings"][-1] == CANCEL_TOO_LATE
    assert result["replaced"] is True and result["context_size"] == 8
    by_job = datasets.load_from_disk(result["abs_path"])
    assert len(by_job) == result["rows"] > 0
    rows = by_job[:]

    monkeypatch.undo()
    again = api.post(f"{API}/{extraction_id}/export", json={"context_size": 8})
    assert again.status_code == 200, again.text
    assert CANCEL_TOO_LATE not in again.json()["warnings"]
    assert datasets.load_from_disk(again.json()["abs_path"])[:] == rows
