"""Local imports refused before a row, a job or a copied byte exists (an unsupported architecture,
a GGUF that transformers cannot read or that is cut off), and imports that fail later leave the
model row ``failed`` with the job's message, whatever raised."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from interpstudio.core.settings import Settings
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.ml.model_support import UnsupportedArchitecture, check_supported

API = "/api/v1/models"


def _bert_checkpoint(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, vocab_size=100)
    BertModel(config).save_pretrained(str(folder))
    return folder


def _write_gguf(target: Path, architecture: str) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(target), architecture)
    writer.add_block_count(1)
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_tensor("token_embd.weight", np.zeros((16, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def _nothing_recorded(client: TestClient, settings: Settings) -> None:
    assert client.get(API).json()["total"] == 0
    assert client.get("/api/v1/jobs").json()["total"] == 0
    models = settings.data_dir / "models"
    assert not models.exists() or not any(models.iterdir())


def test_import_of_an_unsupported_architecture_is_refused_before_any_copy(
        hub_client: TestClient, hub_settings: Settings, tmp_path: Path) -> None:
    source = _bert_checkpoint(tmp_path / "imports" / "bert")
    with pytest.raises(UnsupportedArchitecture) as expected:
        check_supported(json.loads((source / "config.json").read_text()))
    for body in ({"path": str(source)},  # a folder, and its weights file with the config
                 {"path": str(source / "model.safetensors"),
                  "config_path": str(source / "config.json")}):
        refused = hub_client.post(f"{API}/import", json=body)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "unsupported_architecture"
        assert error["message"] == expected.value.message  # the hub preflight's words
    _nothing_recorded(hub_client, hub_settings)


def test_gguf_of_an_architecture_transformers_cannot_read_is_refused_naming_it(
        hub_client: TestClient, hub_settings: Settings, tmp_path: Path) -> None:
    source = _write_gguf(tmp_path / "imports" / "rwkv.gguf", "rwkv6")
    refused = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unsupported_gguf_architecture"
    assert "rwkv.gguf: GGUF architecture 'rwkv6' is not supported" in error["message"]
    assert "llama" in error["message"]  # what is supported
    _nothing_recorded(hub_client, hub_settings)


def test_truncated_gguf_is_refused_naming_the_tensor_and_the_sizes(
        hub_client: TestClient, hub_settings: Settings, tiny_gguf_file: Path,
        tmp_path: Path) -> None:
    whole = tiny_gguf_file.read_bytes()
    source = tmp_path / "imports" / "cut.gguf"
    source.write_bytes(whole[: len(whole) * 2 // 3])
    refused = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "corrupt_gguf"
    assert "cut.gguf is not a valid GGUF file (truncated: tensor " in error["message"]
    assert f"file has {source.stat().st_size:,}" in error["message"]
    _nothing_recorded(hub_client, hub_settings)


def test_gguf_cut_off_after_it_was_queued_fails_the_job_and_the_row_saying_so(
        hub_client: TestClient, hub_settings: Settings, tiny_gguf_file: Path, tmp_path: Path,
        worker_thread, wait_model: Callable[..., dict]) -> None:
    source = shutil.copy(tiny_gguf_file, tmp_path / "imports" / "tiny.gguf")
    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    with open(source, "r+b") as handle:  # the file changes between the request and the job
        handle.truncate(os.path.getsize(source) // 2)
    worker_thread(hub_settings)
    failed = wait_model(created.json()["id"], "ready", "failed")
    assert failed["status"] == "failed"
    assert failed["job"]["error_code"] == "corrupt_gguf"
    assert "tiny.gguf is not a valid GGUF file (truncated: tensor" in failed["error_message"]


def test_cli_import_of_a_bad_gguf_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    imports = tmp_path / "imports"
    imports.mkdir()
    source = _write_gguf(imports / "rwkv.gguf", "rwkv6")
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_IMPORT_ROOTS": json.dumps([str(imports)]), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "interpstudio", "models", "import",
                             str(source)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "GGUF architecture 'rwkv6' is not supported" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_failing_with_a_library_error_leaves_the_row_failed(
        hub_client: TestClient, hub_settings: Settings, tmp_path: Path, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    """A config whose MLP width does not match the weights: transformers raises a RuntimeError
    (not an AppError) in the inspect stage. The row used to stay ``importing``."""
    from hub_server import build_tiny_model
    from interpstudio.db.models import Model

    source = build_tiny_model(tmp_path / "imports" / "mismatched", "llama")
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    created = hub_client.post(f"{API}/import", json={"path": str(source)})
    assert created.status_code == 201, created.text
    worker_thread(hub_settings)
    failed = wait_model(created.json()["id"], "ready", "failed")
    assert failed["job"]["state"] == "failed"
    engine = make_engine(hub_settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            row = session.get(Model, created.json()["id"])
            assert row is not None
            assert row.status == "failed"  # the row itself, not only the derived status
            assert row.error_message == failed["job"]["error_message"]
            assert row.error_message.startswith("RuntimeError: ")
    finally:
        engine.dispose()
