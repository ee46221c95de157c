"""No second tokenization where one made with another model's byte-identical tokenizer files is
usable: ``POST /datasets/{id}/tokenizations`` (and ``datasets tokenize``) refused only the same
tokenizer key, so a twin model (the tiny llama's tokenizer, registered twice) queued a redundant
job. On SQLite and PostgreSQL, with rows made through the ORM and a real app (no worker: what is
queued stays queued), and ``ModelRead.tokenizer_sha256`` saying the fingerprint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dataset_helpers import register_model_row
from fastapi.testclient import TestClient
from sqlalchemy import update

from helpers import LOOPBACK
from interpstudio.api.app import create_app
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.base import utcnow
from interpstudio.db.models import Dataset, Model, Tokenization
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256, tokenizer_files

POLICY = {"max_length": 32, "mode": "truncate", "add_bos": None, "min_tokens": 1}


@dataclass
class Twins:
    settings: Settings
    api: TestClient
    dataset_id: int
    models: dict[str, int]  # a, b: one tokenizer (b's fingerprint unrecorded); c: another
    keys: dict[str, str]

    def tokenize(self, model: str, **policy: object) -> dict:
        response = self.api.post(f"/api/v1/datasets/{self.dataset_id}/tokenizations", json={
            "model_id": self.models[model], "policy": {**POLICY, **policy}})
        return {"status_code": response.status_code, **response.json()}

    def set_status(self, tokenization_id: int, status: str) -> None:
        factory = make_session_factory(make_engine(self.settings.resolved_database_url))
        with factory.begin() as session:
            session.execute(update(Tokenization).where(Tokenization.id == tokenization_id)
                            .values(status=status))


@pytest.fixture
def twins(settings: Settings, tiny_llama_dir: Path, tiny_gpt2_dir: Path) -> Iterator[Twins]:
    """A ready dataset and three ready models: a and b hold the tiny llama (byte-identical
    tokenizer files; a's fingerprint recorded as its import records it, b's left for its
    files), c the tiny gpt2 (another tokenizer)."""
    paths = DataPaths(settings.data_dir)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        dataset = Dataset(name="quotes", source="local", status="ready", path="datasets/1",
                          rows=3, updated_at=utcnow())
        session.add(dataset)
        rows = {}
        for name, source in (("a", tiny_llama_dir), ("b", tiny_llama_dir), ("c", tiny_gpt2_dir)):
            folder = shutil.copytree(source, paths.root / "models" / name / "checkpoint")
            rows[name] = Model(key=f"org/{name}@1", name=name, source="local", status="ready",
                               path=f"models/{name}/checkpoint", updated_at=utcnow(),
                               tokenizer_sha256=None if name == "b"
                               else read_tokenizer_sha256(folder))
        session.add_all(rows.values())
        session.flush()
        dataset_id = dataset.id
        models = {k: m.id for k, m in rows.items()}
        keys = {k: m.key for k, m in rows.items()}
    with TestClient(base_url=LOOPBACK, app=create_app(settings, job_feed_interval_s=0.05,
                                                      system_interval_s=0.5)) as api:
        yield Twins(settings, api, dataset_id, models, keys)


def test_a_twin_models_tokenization_under_the_same_policy_is_refused_naming_it(
        twins: Twins) -> None:
    made = twins.tokenize("a")
    assert made["status_code"] == 201 and made["status"] == "queued", made
    refused = twins.tokenize("b")
    assert refused["status_code"] == 409, refused
    error = refused["error"]
    assert error["code"] == "tokenization_exists"
    a, b = twins.models["a"], twins.models["b"]
    assert error["message"] == (
        f"this dataset is already tokenized with that policy by model {a} (org/a@1): "
        f"tokenization {made['id']}, queued; model {b} (org/b@1) may use it, as their "
        f"tokenizer files are identical: use tokenization {made['id']}, or delete it first to "
        f"tokenize again with model {b}")
    assert error["details"] == {"tokenization_id": made["id"], "status": "queued",
                                "tokenizer_key": "org/a@1", "maker_model_id": a, "model_id": b}
    listed = twins.api.get(f"/api/v1/datasets/{twins.dataset_id}/tokenizations").json()
    assert [t["id"] for t in listed["items"]] == [made["id"]]
    # the same model again: the refusal it always had, unchanged
    again = twins.tokenize("a")
    assert again["status_code"] == 409 and again["error"]["details"] == {
        "tokenization_id": made["id"], "status": "queued"}
    assert "already tokenized with that tokenizer and policy" in again["error"]["message"]


def test_running_and_ready_are_refused_failed_other_policies_and_tokenizers_are_not(
        twins: Twins) -> None:
    made = twins.tokenize("a")["id"]
    for status in ("running", "ready"):
        twins.set_status(made, status)
        refused = twins.tokenize("b")
        assert refused["status_code"] == 409, refused
        assert refused["error"]["details"]["status"] == status
        assert f"tokenization {made}, {status};" in refused["error"]["message"]
    other_policy = twins.tokenize("b", max_length=16)
    assert other_policy["status_code"] == 201 and other_policy["tokenizer_key"] == "org/b@1"
    other_tokenizer = twins.tokenize("c")
    assert other_tokenizer["status_code"] == 201, other_tokenizer
    twins.set_status(made, "failed")  # nothing to use: tokenizing with b is the way on
    retried = twins.tokenize("b")
    assert retried["status_code"] == 201 and retried["model_id"] == twins.models["b"]
    # usable both ways: b's tokenization refuses one of a under its policy
    twins.set_status(retried["id"], "ready")
    refused_a = twins.tokenize("a", max_length=16)
    assert refused_a["status_code"] == 409
    assert refused_a["error"]["details"]["tokenization_id"] == other_policy["id"]


def test_model_read_says_the_tokenizer_fingerprint(twins: Twins, tiny_llama_dir: Path,
                                                   tiny_gpt2_dir: Path) -> None:
    read = {k: twins.api.get(f"/api/v1/models/{i}").json() for k, i in twins.models.items()}
    want = read_tokenizer_sha256(tiny_llama_dir)
    assert want is not None and len(want) == 64
    assert read["a"]["tokenizer_sha256"] == read["b"]["tokenizer_sha256"] == want  # b: files
    assert read["c"]["tokenizer_sha256"] == read_tokenizer_sha256(tiny_gpt2_dir) != want
    listed = twins.api.get("/api/v1/models").json()["items"]
    assert {m["id"]: m["tokenizer_sha256"] for m in listed} == {
        i: read[k]["tokenizer_sha256"] for k, i in twins.models.items()}
    assert tokenizer_files(tiny_llama_dir)  # the precondition: it has tokenizer files


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": settings.resolved_database_url, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "interpstudio", "datasets", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_datasets_tokenize_of_a_twin_model_is_refused_in_words(
        ds_settings: Settings, tiny_llama_dir: Path) -> None:
    """``datasets tokenize`` queued a second job for a model with the first's tokenizer (and,
    with ``--enqueue``, printing the queued row failed on its counts, which it does not have
    yet: a traceback)."""
    made = _cli(ds_settings, "add", "--bundled", "--json")
    assert made.returncode == 0, made.stderr
    dataset_id = json.loads(made.stdout)["id"]
    a = register_model_row(ds_settings, tiny_llama_dir, key="org/a@1")
    b = register_model_row(ds_settings, tiny_llama_dir, key="org/b@1")
    first = _cli(ds_settings, "tokenize", str(dataset_id), "--model", str(a), "--max-length",
                 "32", "--enqueue")
    assert first.returncode == 0, first.stderr  # was a TypeError: no counts while queued
    [made_row] = json.loads(_cli(ds_settings, "show", str(dataset_id), "--json").stdout
                            )["tokenizations"]
    tokenization_id = made_row["id"]
    assert (f"queued tokenization {tokenization_id} as job {made_row['job_id']}; a worker "
            "(`interpstudio serve` or `interpstudio worker`) will run it"
            ) in " ".join(first.stdout.split()), first.stdout
    refused = _cli(ds_settings, "tokenize", str(dataset_id), "--model", str(b), "--max-length",
                   "32", "--enqueue")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    said = " ".join(refused.stderr.split())
    assert (f"error: this dataset is already tokenized with that policy by model {a} "
            f"(org/a@1): tokenization {tokenization_id}, queued; model {b} (org/b@1) may use "
            f"it, as their tokenizer files are identical: use tokenization {tokenization_id}"
            ) in said, said
    shown = _cli(ds_settings, "show", str(dataset_id), "--json")
    assert [t["id"] for t in json.loads(shown.stdout)["tokenizations"]] == [tokenization_id]
