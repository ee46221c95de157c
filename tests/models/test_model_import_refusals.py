"""Local imports refused before a row, a job or a copied byte exists (an unsupported
architecture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from interpstudio.core.settings import Settings
from interpstudio.ml.model_support import UnsupportedArchitecture, check_supported

API = "/api/v1/models"


def _bert_checkpoint(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, vocab_size=100)
    BertModel(config).save_pretrained(str(folder))
    return folder


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
