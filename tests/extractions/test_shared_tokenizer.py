"""A tokenization made with one model serves every model whose tokenizer files are
byte-identical: three tiny models imported for real (a llama, the same llama's tokenizer with
other weights, and a gpt2 with a tokenizer of its own), a dataset uploaded and tokenized with the
first, then an extraction of the second over it (rows equal to its own forward), ``extract
--dataset`` of the second finding it, the tokenizations list offering it, the third refused, and
rows imported before the fingerprint was recorded read from their files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from helpers import LOOPBACK, make_settings, wait_for
from hub_server import build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade
from interpstudio.db.models import Model, Tokenization
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.jobs.runner import Worker
from interpstudio.ml import open_activations
from interpstudio.ml.token_store import open_tokenized
from interpstudio.services import extractions as service
from interpstudio.services.extraction_params import ExtractionSpec
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256, tokenizer_files

TEXTS = ["The quick brown fox jumps over the lazy dog.",
         "A stitch in time saves nine, said the tailor to the apprentice.",
         "It was the best of times, it was the worst of times."]


@dataclass
class Shared:
    settings: Settings
    api: TestClient
    folders: dict[str, Path]  # a, b (a's tokenizer, other weights), c (another tokenizer)
    models: dict[str, int]
    dataset_id: int
    tokenization_id: int  # made with a


def _ready(api: TestClient, url: str) -> dict[str, Any]:
    body = wait_for(lambda: (b := api.get(url).json())["status"] in (
        "ready", "complete", "failed", "cancelled", "interrupted") and b, timeout=300)
    assert body["status"] in ("ready", "complete"), body.get("error_message")
    return body


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path,
           tiny_gpt2_dir: Path) -> Iterator[Shared]:
    root = tmp_path_factory.mktemp("shared-tokenizer")
    imports = root / "imports"
    folders = {"a": shutil.copytree(tiny_llama_dir, imports / "llama-a"),
               "b": build_tiny_model(imports / "llama-b", "llama", seed=1),
               "c": shutil.copytree(tiny_gpt2_dir, imports / "gpt2-c")}
    settings = make_settings(root, import_roots=[imports])
    upgrade(settings.resolved_database_url)
    worker = Worker(settings, poll_interval_s=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    with TestClient(base_url=LOOPBACK, app=create_app(settings, job_feed_interval_s=0.05,
                                                      system_interval_s=0.5)) as api:
        models = {}
        for name, folder in folders.items():
            made = api.post("/api/v1/models/import", json={"path": str(folder)})
            assert made.status_code in (200, 201), made.text
            models[name] = made.json()["id"]
        for model_id in models.values():
            _ready(api, f"/api/v1/models/{model_id}")
        dataset = api.post("/api/v1/datasets/upload", data={"name": "quotes"}, files=[
            ("files", ("quotes.txt", "\n".join(TEXTS).encode()))])
        assert dataset.status_code == 201, dataset.text
        dataset_id = _ready(api, f"/api/v1/datasets/{dataset.json()['id']}")["id"]
        made = api.post(f"/api/v1/datasets/{dataset_id}/tokenizations",
                        json={"model_id": models["a"], "policy": {"max_length": 32}})
        assert made.status_code == 201, made.text
        tokenization_id = _ready(api, f"/api/v1/tokenizations/{made.json()['id']}")["id"]
        yield Shared(settings, api, folders, models, dataset_id, tokenization_id)
    worker.shutdown.set()
    thread.join(10)


def _spec(shared: Shared, model: str, **overrides: Any) -> dict[str, Any]:
    return {"model_id": shared.models[model], "tokenization_id": shared.tokenization_id,
            "hook_points": ["blocks.0.resid_post"], "batch_size": 2, "device": "cpu",
            "dtype": "float32", **overrides}


def test_models_with_byte_identical_tokenizer_files_record_one_fingerprint(
        shared: Shared) -> None:
    """The precondition, and the import recording it: a and b differ in weights only."""
    a, b, c = (shared.folders[k] for k in "abc")
    assert [p.name for p in tokenizer_files(a)] == ["tokenizer.json", "tokenizer_config.json"]
    assert all((a / p.name).read_bytes() == (b / p.name).read_bytes()
               for p in tokenizer_files(a))
    assert (a / "model.safetensors").read_bytes() != (b / "model.safetensors").read_bytes()
    factory = make_session_factory(make_engine(shared.settings.resolved_database_url))
    with factory() as session:
        recorded = {k: session.get(Model, i).tokenizer_sha256  # type: ignore[union-attr]
                    for k, i in shared.models.items()}
    assert recorded["a"] == recorded["b"] == read_tokenizer_sha256(a)
    assert recorded["c"] == read_tokenizer_sha256(c) != recorded["a"]
    assert recorded["a"] is not None and len(recorded["a"]) == 64


def test_an_extraction_over_another_models_tokenization_equals_its_own_forward(
        shared: Shared) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    made = shared.api.post("/api/v1/extractions", json=_spec(shared, "b"))
    assert made.status_code == 201, made.text
    done = _ready(shared.api, f"/api/v1/extractions/{made.json()['id']}")
    acts = open_activations(shared.settings.data_dir / done["path"] / "store")
    tokenized = open_tokenized(shared.settings.data_dir / "datasets" / str(shared.dataset_id)
                               / "tokenizations" / str(shared.tokenization_id))
    sequences = [tokenized.sequence(i).tolist() for i in range(len(tokenized))]
    assert acts.rows == sum(map(len, sequences)) == done["counts"]["tokens_total"]
    table = acts.tokens[:]  # (rows, 3): token id, sequence, position
    assert table[:, 0].tolist() == [t for s in sequences for t in s]
    a, b = (AutoModelForCausalLM.from_pretrained(
        str(shared.settings.data_dir / "models" / str(shared.models[k]) / "checkpoint")).eval()
        for k in "ab")
    stored = acts["blocks.0.resid_post"][:]  # (rows, d_model)
    with torch.inference_mode():
        for index, sequence in enumerate(sequences):
            ids = torch.tensor([sequence])  # (1, T)
            want = b(ids, output_hidden_states=True).hidden_states[1][0]  # (T, d_model)
            np.testing.assert_allclose(stored[table[:, 1] == index], want.numpy(), atol=1e-5)
            other = a(ids, output_hidden_states=True).hidden_states[1][0]  # the maker's weights
            assert not np.allclose(stored[table[:, 1] == index], other.numpy(), atol=1e-3)


def test_a_model_with_another_tokenizer_is_still_refused_in_words(shared: Shared) -> None:
    refused = shared.api.post("/api/v1/extractions", json=_spec(shared, "c"))
    assert refused.status_code == 422
    error = refused.json()["error"]
    with make_session_factory(make_engine(shared.settings.resolved_database_url))() as session:
        keys = {k: session.scalar(select(Model.key).where(Model.id == i))
                for k, i in shared.models.items()}
    assert error["code"] == "tokenizer_mismatch"
    assert error["message"] == (
        f"tokenization {shared.tokenization_id} was made with tokenizer {keys['a']!r}, but the "
        f"model's tokenizer is {keys['c']!r} and its tokenizer files differ from this model's: "
        "tokenize the dataset with this model")
    assert error["details"]["maker_model_id"] == shared.models["a"]


def test_the_tokenizations_list_offers_a_model_the_ones_it_may_use(shared: Shared) -> None:
    url = f"/api/v1/datasets/{shared.dataset_id}/tokenizations"
    offered = {k: [t["id"] for t in shared.api.get(url, params={
        "usable_with_model": i}).json()["items"]] for k, i in shared.models.items()}
    assert offered == {"a": [shared.tokenization_id], "b": [shared.tokenization_id], "c": []}
    assert shared.api.get(url, params={"usable_with_model": 999}).status_code == 404


def test_extract_dataset_of_a_twin_model_uses_the_tokenization_made_with_the_other(
        shared: Shared) -> None:
    """``extract --dataset`` tokenized the dataset again for the second model."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(shared.settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": shared.settings.resolved_database_url}
    result = subprocess.run(
        [sys.executable, "-m", "interpstudio", "extract", "--model", str(shared.models["b"]),
         "--dataset", str(shared.dataset_id), "--hooks", "blocks.0.resid_post", "--device",
         "cpu", "--dry-run"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (f"using tokenization {shared.tokenization_id} of dataset {shared.dataset_id}"
            in result.stdout)
    assert (f"made with model {shared.models['a']}'s tokenizer: its files are identical"
            in " ".join(result.stdout.split()))
    listed = shared.api.get(f"/api/v1/datasets/{shared.dataset_id}/tokenizations").json()
    assert listed["total"] == 1


def test_rows_imported_before_the_fingerprint_was_recorded_read_it_from_their_files(
        shared: Shared) -> None:
    factory = make_session_factory(make_engine(shared.settings.resolved_database_url))
    paths = DataPaths(shared.settings.data_dir)
    with factory.begin() as session:
        before = dict(session.execute(
            Model.__table__.select().with_only_columns(Model.id, Model.tokenizer_sha256)).all())
        session.execute(update(Model).values(tokenizer_sha256=None))
    try:
        with factory() as session:
            found = service.find_tokenization_for(session=session, paths=paths,
                                                  dataset_id=shared.dataset_id,
                                                  model_id=shared.models["b"])
            assert found is not None and found.id == shared.tokenization_id
            for model, usable in (("b", True), ("c", False)):
                spec = ExtractionSpec(**_spec(shared, model))
                if usable:
                    _, tokenization, _ = service.resolve_inputs(session=session, paths=paths,
                                                                spec=spec)
                    assert tokenization.id == shared.tokenization_id
                else:
                    with pytest.raises(Exception, match="tokenizer files differ"):
                        service.resolve_inputs(session=session, paths=paths, spec=spec)
            assert service.find_tokenization_for(
                session=session, paths=paths, dataset_id=shared.dataset_id,
                model_id=shared.models["c"]) is None
            assert session.get(Tokenization, shared.tokenization_id) is not None
    finally:
        with factory.begin() as session:
            for model_id, digest in before.items():
                session.execute(update(Model).where(Model.id == model_id)
                                .values(tokenizer_sha256=digest))


def test_find_and_list_match_tokenizer_files_on_each_backend(
        settings: Settings, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> None:
    """The queries on SQLite and PostgreSQL, on rows made through the ORM: a's and b's folders
    hold the same tokenizer files (b's fingerprint left unrecorded: read from them), c's
    another; d's none at all (a tokenization of its key is never anyone else's)."""
    from interpstudio.db.base import utcnow
    from interpstudio.db.models import Dataset
    from interpstudio.services import tokenizations

    paths = DataPaths(settings.data_dir)
    sources = {"a": tiny_llama_dir, "b": tiny_llama_dir, "c": tiny_gpt2_dir, "d": None}
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        dataset = Dataset(name="quotes", source="local", status="ready", path="datasets/1",
                          rows=3, updated_at=utcnow())
        session.add(dataset)
        models = {}
        for name, source in sources.items():
            folder = paths.root / "models" / name / "checkpoint"
            folder.mkdir(parents=True)
            for file in tokenizer_files(source) if source else []:
                shutil.copyfile(file, folder / file.name)
            models[name] = Model(key=f"org/{name}@1", name=name, source="local", status="ready",
                                 path=f"models/{name}/checkpoint", updated_at=utcnow(),
                                 tokenizer_sha256=read_tokenizer_sha256(folder)
                                 if name in "acd" else None)
        session.add_all(models.values())
        session.flush()
        made: dict[str, list[int]] = {}
        for n, name in enumerate(("a", "c", "d", "a")):  # a twice: the newer one is found
            row = Tokenization(dataset_id=dataset.id, model_id=models[name].id,
                               tokenizer_key=models[name].key, policy={"max_length": 32},
                               policy_hash=f"p{n}", status="ready", path=f"t/{n}",
                               updated_at=utcnow(), counts={"sequences": 3, "tokens": 30})
            session.add(row)
            session.flush()
            made.setdefault(name, []).insert(0, row.id)  # newest first
        ids = {k: m.id for k, m in models.items()}
        dataset_id = dataset.id
    with factory() as session:
        found = {k: service.find_tokenization_for(session=session, paths=paths,
                                                  dataset_id=dataset_id, model_id=i)
                 for k, i in ids.items()}
        assert {k: f.id if f else None for k, f in found.items()} == {
            "a": made["a"][0], "b": made["a"][0], "c": made["c"][0], "d": made["d"][0]}
        listed = {k: tokenizations.list_tokenizations(
            session=session, paths=paths, dataset_id=dataset_id, limit=10, offset=0,
            usable_with_model=i) for k, i in ids.items()}
        assert {k: ([t.id for t in rows], total) for k, (rows, total) in listed.items()} == {
            "a": (made["a"], 2), "b": (made["a"], 2), "c": (made["c"], 1), "d": (made["d"], 1)}
