"""``/api/v1/extractions`` over HTTP (FastAPI TestClient on SQLite, a real worker thread, the
tiny llama): preflight, create, live progress over the WebSocket, get/list filters, stats,
samples, SAELens export, error statuses (404/409/422), delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from extraction_world import ExtractionWorld
from helpers import LOOPBACK, wait_for
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.ml import open_activations

API = "/api/v1/extractions"


@pytest.fixture
def api(world: ExtractionWorld) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(world.settings, job_feed_interval_s=0.05,
                               system_interval_s=0.5)) as client:
        yield client


def body(world: ExtractionWorld, tokenization_id: int, **overrides: Any) -> dict[str, Any]:
    return {"model_id": world.model_id, "tokenization_id": tokenization_id,
            "hook_points": ["blocks.*.resid_post", "blocks.1.attn_out"], "batch_size": 2,
            "device": "cpu", **overrides}


def finished(api: TestClient, extraction_id: int) -> dict[str, Any]:
    return wait_for(lambda: (e := api.get(f"{API}/{extraction_id}").json())["job"]["state"]
                    in ("succeeded", "failed", "cancelled", "interrupted") and e, timeout=120)


def completed(api: TestClient, world: ExtractionWorld,
              worker_thread: Callable[[Settings], Any]) -> int:
    """A default extraction of a fresh tokenization, run to completion by a worker: its id."""
    created = api.post(API, json=body(world, world.tokenization()))
    assert created.status_code == 201, created.text
    worker_thread(world.settings)
    assert finished(api, created.json()["id"])["status"] == "complete"
    return int(created.json()["id"])


def test_preflight_create_progress_stats_samples_export_delete(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    tokenization_id = world.tokenization(repeat=150)
    preflight = api.post(f"{API}/preflight", json=body(world, tokenization_id))
    assert preflight.status_code == 200, preflight.text
    report = preflight.json()
    assert report["disk_ok"] and report["projected"]["bound"] in ("compute", "disk")
    assert report["calibration"]["tokens_per_s"] > 0
    assert report["model"]["precision_used"] == "fp32"

    with api.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_json({"type": "subscribe", "job_ids": None, "system": False})
        created = api.post(API, json=body(world, tokenization_id, batch_size=1))
        assert created.status_code == 201, created.text
        extraction = created.json()
        assert extraction["status"] == "queued" and extraction["preflight"]["disk_ok"]
        assert extraction["store_abs_path"] is None  # nothing written yet
        worker_thread(world.settings)
        updates = []
        for _ in range(2000):
            message = ws.receive_json()
            if message["type"] == "job.updated" and message["job"]["id"] == extraction["job_id"]:
                updates.append(message["job"])
                if message["job"]["state"] in ("succeeded", "failed"):
                    break
    fractions = [u["progress"] for u in updates if u["progress"] is not None]
    assert len([b for a, b in pairwise(fractions) if b > a]) >= 3, fractions
    # until the first shard is whole it says so rather than "0.000 GB written" (059d371)
    assert any(" captured · " in (u["message"] or "") and "bound" in u["message"]
               and (" written in whole shards" in u["message"]
                    or "no whole shard written yet" in u["message"])
               for u in updates)
    assert any(u["unit"] == "tokens" and u["rate"] for u in updates)
    assert not any("tok/s" in (u["message"] or "") for u in updates)  # one rate: the job's

    done = finished(api, extraction["id"])
    assert done["status"] == "complete", done
    # a tester could not paste the relative path into Python; the UI shows this one
    assert Path(done["store_abs_path"]).is_absolute()
    assert open_activations(done["store_abs_path"]).rows == done["counts"]["rows"]
    assert done["counts"]["bytes"] == report["bytes"]["shard_files"]

    stats = api.get(f"{API}/{extraction['id']}/stats").json()
    assert set(stats["hooks"]) == {"blocks.0.resid_post", "blocks.1.attn_out",
                                   "blocks.1.resid_post"}
    assert [p["layer"] for p in stats["layer_norms"]["resid_post"]] == [0, 1]
    samples = api.get(f"{API}/{extraction['id']}/samples").json()
    assert samples["hooks"]["blocks.0.resid_post"][0]["token"]
    assert samples["group"] == stats["group"] == "all"
    for what in ("stats", "samples"):
        grouped = api.get(f"{API}/{extraction['id']}/{what}", params={"group": "non_bos"})
        assert grouped.status_code == 200 and grouped.json()["group"] == "non_bos"
        refused = api.get(f"{API}/{extraction['id']}/{what}", params={"group": "first"})
        assert refused.status_code == 422 and "non_bos" in refused.text
    top = api.get(f"{API}/{extraction['id']}/samples", params={"group": "non_bos"}).json()
    assert all(s["position"] > 0 for s in top["hooks"]["blocks.0.resid_post"])

    exported = api.post(f"{API}/{extraction['id']}/export", json={"context_size": 8})
    assert exported.status_code == 200, exported.text
    datasets = pytest.importorskip("datasets")
    table = datasets.load_from_disk(exported.json()["abs_path"])
    assert exported.json()["abs_path"] == str(world.settings.data_dir / exported.json()["path"])
    assert "blocks.1.attn_out" in table.column_names and "token_ids" in table.column_names

    listed = api.get(API, params={"status": "complete", "model_id": world.model_id}).json()
    assert [e["id"] for e in listed["items"]] == [extraction["id"]] and listed["total"] == 1
    assert api.get(API, params={"status": "failed"}).json()["total"] == 0
    assert api.post(f"{API}/{extraction['id']}/cancel").status_code == 409

    assert api.delete(f"{API}/{extraction['id']}").status_code == 204
    assert api.get(f"{API}/{extraction['id']}").status_code == 404
    assert not (world.settings.data_dir / "extractions" / str(extraction["id"])).exists()


def test_bad_requests_get_clear_4xx(api: TestClient, world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization()
    unknown = api.post(API, json=body(world, tokenization_id, hook_points=["blocks.0.resid"]))
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_hook_point"
    assert "mlp_out" in unknown.json()["error"]["details"]["valid_kinds"]
    layer = api.post(f"{API}/preflight",
                     json=body(world, tokenization_id, hook_points=["blocks.9.mlp_out"]))
    assert layer.status_code == 422 and layer.json()["error"]["details"]["n_layers"] == 2
    foreign = world.tokenization(tokenizer_key="gpt2@main")
    mismatch = api.post(API, json=body(world, foreign))
    assert mismatch.status_code == 422
    assert mismatch.json()["error"]["code"] == "tokenizer_mismatch"
    assert api.post(API, json=body(world, 999)).status_code == 404
    assert api.post(API, json={**body(world, tokenization_id), "bogus": 1}).status_code == 422
    assert api.get(f"{API}/12345").status_code == 404
    assert api.get(f"{API}/12345/stats").status_code == 404


def test_create_reuses_the_preflight_just_made_for_the_same_request(
    api: TestClient, world: ExtractionWorld
) -> None:
    """Found in a browser: Start sat ~17 s while the server loaded the model and timed a batch
    again right after the user's own preflight. A create reuses a calibrated report made for the
    same request (its free-disk check made again); another request gets its own."""
    tokenization_id = world.tokenization()
    report = api.post(f"{API}/preflight", json=body(world, tokenization_id)).json()
    created = api.post(API, json={**body(world, tokenization_id), "name": "any name"}).json()
    assert created["preflight"]["calibration"] == report["calibration"]  # timed once
    assert created["preflight"]["bytes"] == report["bytes"]
    other = api.post(API, json=body(world, tokenization_id, batch_size=1)).json()
    assert other["preflight"]["calibration"] != report["calibration"]
    assert other["preflight"]["plan"]["batch_size"] == 1


def test_force_delete_tokenization_refuses_while_an_extraction_job_is_active(
    api: TestClient, world: ExtractionWorld
) -> None:
    tokenization_id = world.tokenization()
    created = api.post(API, json=body(world, tokenization_id))
    assert created.status_code == 201, created.text
    extraction = created.json()  # queued: no worker runs in this test

    refused = api.delete(f"/api/v1/tokenizations/{tokenization_id}", params={"force": True})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "dataset_busy" and "cancel it first" in error["message"]
    assert error["details"]["job_id"] == extraction["job_id"]
    assert api.get(f"{API}/{extraction['id']}").status_code == 200

    assert api.post(f"{API}/{extraction['id']}/cancel").status_code == 200
    gone = api.delete(f"/api/v1/tokenizations/{tokenization_id}", params={"force": True})
    assert gone.status_code == 204, gone.text
    assert api.get(f"{API}/{extraction['id']}").status_code == 404
    # its job goes with it (it stayed listed, and a retry of it could only fail: tester)
    assert api.get(f"/api/v1/jobs/{extraction['job_id']}").status_code == 404


def test_export_refuses_unfinished_runs_and_failed_requests_keep_the_previous_export(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    from interpstudio.db.models import Extraction

    datasets = pytest.importorskip("datasets")
    extraction_id = completed(api, world, worker_thread)
    export = f"{API}/{extraction_id}/export"
    good = api.post(export, json={"context_size": 8})
    assert good.status_code == 200, good.text
    assert good.json()["replaced"] is False
    [spanning] = good.json()["warnings"]  # the quotes differ in length: rows of 8 span two
    assert "no one context_size keeps them apart" in spanning
    folder = world.settings.data_dir / good.json()["path"]

    def previous_export_intact() -> bool:
        table = datasets.load_from_disk(str(folder))
        return bool(table.features["token_ids"].length == 8
                    and "blocks.1.attn_out" in table.column_names)

    unknown = api.post(export, json={"hook_names": ["blocks.9.nope"], "context_size": 4})
    assert unknown.status_code == 404, unknown.text
    assert previous_export_intact()
    too_long = api.post(export, json={"context_size": 10**6})
    assert too_long.status_code == 422, too_long.text
    assert previous_export_intact()
    empty = api.post(export, json={"hook_names": [], "context_size": 4})
    assert empty.status_code == 422, empty.text
    assert "give at least one hook name, or omit hook_names" in empty.json()["error"]["message"]
    assert previous_export_intact()
    assert not [p.name for p in folder.parent.iterdir() if "export-tmp" in p.name]

    # a store that is not whole (a stopped one exports its whole shards: test_export_job.py)
    for status in ("running", "failed"):
        with world.factory.begin() as session:
            session.get(Extraction, extraction_id).status = status  # type: ignore[union-attr]
        refused = api.post(export, json={"context_size": 4})
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "extraction_results_not_ready"
        # what to do fits the state: a stopped run is not coming back by waiting (tester)
        todo, wrong = ("wait", "resume") if status == "running" else ("resume", "wait")
        message = refused.json()["error"]["message"]
        assert todo in message and wrong not in message, message
        assert previous_export_intact()

    with world.factory.begin() as session:
        session.get(Extraction, extraction_id).status = "complete"  # type: ignore[union-attr]
    # a second export replaces the first, and says so (found by a tester: silently)
    again = api.post(export, json={"context_size": 4})
    assert again.status_code == 200 and again.json()["replaced"] is True


def test_a_run_cancelled_before_its_first_shard_says_its_store_is_empty(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """A run cancelled before its first whole shard: its row gave the store's path and nothing
    else, so the results page asked /stats, which answered statistics of 0 rows (every figure
    null) and drew an empty partial store. The row now says the store is empty, and /stats
    refuses it as results not ready, as it does a run interrupted before writing any."""
    created = api.post(API, json=body(world, world.tokenization(repeat=300), batch_size=1,
                                      hook_points=["blocks.*.resid_post"],
                                      shard_rows=1_000_000))
    assert created.status_code == 201, created.text
    extraction_id = created.json()["id"]
    assert created.json()["store_empty"] is False  # no store at all yet
    worker_thread(world.settings)
    wait_for(lambda: (api.get(f"{API}/{extraction_id}").json()["job"]["done"] or 0) > 0,
             timeout=60)
    running = api.get(f"{API}/{extraction_id}").json()
    assert running["store_abs_path"] is not None and running["store_empty"] is True
    assert api.post(f"{API}/{extraction_id}/cancel").status_code == 200
    stopped = finished(api, extraction_id)
    assert stopped["status"] == "cancelled"
    assert stopped["store_abs_path"] is not None and stopped["store_empty"] is True
    listed = api.get(API, params={"status": "cancelled"}).json()["items"]
    assert [(e["id"], e["store_empty"]) for e in listed] == [(extraction_id, True)]
    refused = api.get(f"{API}/{extraction_id}/stats")
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "extraction_results_not_ready"
    assert "resume" in refused.json()["error"]["message"]

    done = completed(api, world, worker_thread)  # a store with shards is not empty
    assert api.get(f"{API}/{done}").json()["store_empty"] is False


def test_samples_of_one_hook_point_and_an_unknown_point_refused_naming_the_runs(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """``/samples`` answered every hook point's rows (a page shows one point's; ~1,400 rows for
    90 points); ``?hook=`` gives one. A point the run does not have is a 404 that lists the
    run's points, as the export's refusal does."""
    samples = f"{API}/{completed(api, world, worker_thread)}/samples"
    every = api.get(samples, params={"group": "non_bos"}).json()
    one = api.get(samples, params={"group": "non_bos", "hook": "blocks.1.attn_out"})
    assert one.status_code == 200, one.text
    assert one.json()["hooks"] == {"blocks.1.attn_out": every["hooks"]["blocks.1.attn_out"]}
    assert one.json()["hooks"]["blocks.1.attn_out"] and one.json()["group"] == "non_bos"

    for bad in ("blocks.1.mlp_out", "blocks.7.resid_post", "blocks.*.resid_post", ""):
        refused = api.get(samples, params={"hook": bad})
        assert refused.status_code == 404, (bad, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "hook_point_not_stored"
        assert error["details"]["stored"] == ["blocks.0.resid_post", "blocks.1.attn_out",
                                              "blocks.1.resid_post"]
        assert "blocks.1.attn_out" in error["message"]
    schema = api.get("/openapi.json").json()
    documented = schema["paths"]["/api/v1/extractions/{extraction_id}/samples"]["get"]
    assert "hook" in {p["name"] for p in documented["parameters"]}


def test_export_takes_hook_points_like_create_and_hook_names_as_deprecated_alias(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """The export body said ``hook_names`` where the create body says ``hook_points`` (and the
    CLI ``--hooks``): a client sending ``hook_points`` got a 422 (extra field)."""
    datasets = pytest.importorskip("datasets")
    export = f"{API}/{completed(api, world, worker_thread)}/export"

    for field in ("hook_points", "hook_names"):  # the old name still works, for one release
        done = api.post(export, json={field: ["blocks.1.attn_out"], "context_size": 4})
        assert done.status_code == 200, done.text
        assert done.json()["hook_points"] == done.json()["hook_names"] == ["blocks.1.attn_out"]
        table = datasets.load_from_disk(done.json()["abs_path"])
        assert "blocks.1.attn_out" in table.column_names
        assert "blocks.0.resid_post" not in table.column_names
    same = api.post(export, json={"hook_points": ["blocks.1.attn_out"],
                                  "hook_names": ["blocks.1.attn_out"], "context_size": 4})
    assert same.status_code == 200, same.text
    both = api.post(export, json={"hook_points": ["blocks.1.attn_out"],
                                  "hook_names": ["blocks.0.resid_post"], "context_size": 4})
    assert both.status_code == 422 and "hook_points only" in both.text, both.text

    schema = api.get("/openapi.json").json()["components"]["schemas"]
    request = schema["ExportCreate"]["properties"]
    assert request["hook_names"]["deprecated"] is True
    assert "alias of `hook_points`" in request["hook_names"]["description"]
    assert "deprecated" not in request["hook_points"]


def test_an_export_of_every_kth_token_says_its_rows_are_not_consecutive(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """An ``every_k`` store's rows were exported as SAELens contexts of consecutive text."""
    created = api.post(API, json=body(world, world.tokenization(), positions="every_k",
                                      every_k=2))
    assert created.status_code == 201, created.text
    worker_thread(world.settings)
    assert finished(api, created.json()["id"])["status"] == "complete"
    exported = api.post(f"{API}/{created.json()['id']}/export", json={"context_size": 3})
    assert exported.status_code == 200, exported.text
    assert exported.json()["warnings"][0] == (
        "rows are not consecutive tokens: the store keeps one token in 2 of each sequence "
        "(positions 'every_k', k=2: positions 1, 3, 5, ...), so a dataset row of 3 holds tokens "
        "2 apart, which SAELens will treat as consecutive text")


def test_the_job_of_an_extraction_is_deleted_with_it_not_alone(
        api: TestClient, world: ExtractionWorld) -> None:
    """Found by a tester: DELETE /jobs/{id} of a cancelled extraction's job left the extraction
    pointing at a job that no longer existed, so it could never be resumed."""
    created = api.post(API, json=body(world, world.tokenization())).json()
    assert api.post(f"{API}/{created['id']}/cancel").json()["status"] == "cancelled"
    refused = api.delete(f"/api/v1/jobs/{created['job_id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "job_has_owner" and error["details"]["owner_id"] == created["id"]
    assert "delete the extraction instead" in error["message"]
    assert api.post(f"{API}/{created['id']}/resume").json()["status"] == "queued"
    assert api.post(f"{API}/{created['id']}/cancel").status_code == 200
    assert api.delete(f"{API}/{created['id']}").status_code == 204  # and its job with it
    assert api.get(f"/api/v1/jobs/{created['job_id']}").status_code == 404


def test_a_retry_of_a_complete_extraction_is_refused_and_keeps_its_store(
        api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]) -> None:
    """Found by a browser walk: a complete extraction (and its succeeded job on the Jobs page)
    offered Retry, and the API took it: the complete store was deleted to compute the same
    again. Both routes refuse it (409), saying how to compute it again on purpose."""
    extraction_id = completed(api, world, worker_thread)
    extraction = api.get(f"{API}/{extraction_id}").json()
    manifest = world.settings.data_dir / extraction["path"] / "store" / "manifest.json"
    kept = manifest.read_bytes()
    for route in (f"{API}/{extraction_id}/retry", f"/api/v1/jobs/{extraction['job_id']}/retry"):
        refused = api.post(route)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "job_already_succeeded"
        assert (error["details"]["owner_kind"], error["details"]["owner_id"]) == (
            "extraction", extraction_id)
        assert f"delete extraction {extraction_id} and create it anew" in error["message"]
    after = api.get(f"{API}/{extraction_id}").json()
    assert after["status"] == "complete" and after["job"]["state"] == "succeeded"
    assert after["job"]["attempt"] == extraction["job"]["attempt"]
    assert manifest.read_bytes() == kept  # the store is untouched


def test_export_names_columns_by_module_path_when_asked(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """SAELens with model_class_name='AutoModelForCausalLM' refused our column names (it hooks
    module paths). ``column_names: module_paths`` names them by the modules the model's import
    recorded (architecture.json); without that record it is refused."""
    datasets = pytest.importorskip("datasets")
    extraction_id = completed(api, world, worker_thread)
    export = f"{API}/{extraction_id}/export"
    asked = {"hook_points": ["blocks.1.attn_out", "blocks.0.resid_post"], "context_size": 4,
             "column_names": "module_paths"}
    unknown = api.post(export, json=asked)  # the test world's model row has no import record
    assert unknown.status_code == 422 and "architecture record" in unknown.text, unknown.text

    world.record_architecture()
    done = api.post(export, json=asked)
    assert done.status_code == 200, done.text
    columns = {"model.layers.1.self_attn": "blocks.1.attn_out",
               "model.layers.0": "blocks.0.resid_post"}
    assert done.json()["column_names"] == "module_paths" and done.json()["columns"] == columns
    table = datasets.load_from_disk(done.json()["abs_path"]).with_format("numpy")
    store = open_activations(api.get(f"{API}/{extraction_id}").json()["store_abs_path"])
    for column, point in columns.items():
        rows = table[column][:].reshape(-1, store[point].shape[1])
        assert np.array_equal(rows, np.asarray(store[point][: len(rows)]))
    default = api.post(export, json={"context_size": 4})
    assert default.json()["column_names"] == "hook_points"
    assert default.json()["columns"]["blocks.1.attn_out"] == "blocks.1.attn_out"
    bad = api.post(export, json={**asked, "column_names": "paths"})
    assert bad.status_code == 422


def test_an_export_can_leave_out_the_first_positions(
    api: TestClient, world: ExtractionWorld, worker_thread: Callable[[Settings], Any]
) -> None:
    """``exclude_first_position``: the rows at position 0 (BOS / attention sinks, whose norm
    dwarfs the rest's) are left out of every column and token_ids; the answer counts them."""
    datasets = pytest.importorskip("datasets")
    extraction_id = completed(api, world, worker_thread)
    exported = api.post(f"{API}/{extraction_id}/export",
                        json={"context_size": 4, "exclude_first_position": True})
    assert exported.status_code == 200, exported.text
    done = exported.json()
    acts = open_activations(world.settings.data_dir / f"extractions/{extraction_id}/store")
    kept = acts.tokens[:, 2] != 0
    assert done["exclude_first_position"] is True and done["first_positions_excluded"] == 5
    assert done["rows"] * 4 + done["tokens_dropped"] == int(np.count_nonzero(kept))
    table = datasets.load_from_disk(done["abs_path"]).with_format("numpy")
    rows = done["rows"] * 4
    for point in done["hook_points"]:
        assert np.array_equal(table[point][:].reshape(rows, -1), acts[point][:][kept][:rows])
    assert np.array_equal(table["token_ids"][:].reshape(-1), acts.tokens[:, 0][kept][:rows])
    every = api.post(f"{API}/{extraction_id}/export", json={"context_size": 4}).json()
    assert (every["exclude_first_position"], every["first_positions_excluded"]) == (False, 0)
