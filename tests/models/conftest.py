"""Fixtures of the models capability: settings pointed at the local test hub, an app client on
them, hub repos of tiny real models (``org/tiny``; a ~10 MB ``org/big`` for resume tests), and a
tiny GGUF file written with the ``gguf`` package from the tiny llama's weights and vocabulary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from helpers import LOOPBACK, make_settings
from hub_server import HubServer, build_tiny_model
from interpstudio.api.app import create_app
from interpstudio.core.settings import Settings
from interpstudio.db.migrate import upgrade

BIG_OVERRIDES = {"hidden_size": 256, "intermediate_size": 1024, "num_attention_heads": 4,
                 "num_key_value_heads": 2}


@pytest.fixture(scope="session")
def big_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~10 MB llama checkpoint (2 layers, hidden 256): big enough to stop mid-file."""
    return build_tiny_model(tmp_path_factory.mktemp("big-llama"), "llama", **BIG_OVERRIDES)


# HF llama parameter names -> GGUF tensor names (llama.cpp's naming, which transformers maps back)
_GGUF_TOP = {"model.embed_tokens.weight": "token_embd.weight",
             "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
_GGUF_BLOCK = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q",
               "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
               "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
               "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def write_tiny_gguf(source: Path, target: Path, *, quantization: str | None = None) -> Path:
    """The tiny llama at ``source`` as an F32 GGUF file (config, vocabulary, tensors); with
    ``quantization`` (``"Q4_1"``) its 2-D tensors are stored quantized by the ``gguf`` package,
    its norms stay F32 and ``general.file_type`` says it, as llama.cpp writes the bundled file."""
    import json

    import gguf
    from safetensors.numpy import load_file

    config = json.loads((source / "config.json").read_text())
    vocab = json.loads((source / "tokenizer.json").read_text())["model"]["vocab"]
    tokens = [f"<extra_{i}>" for i in range(config["vocab_size"])]
    for token, index in vocab.items():
        tokens[index] = token
    writer = gguf.GGUFWriter(str(target), "llama")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(10000.0)
    writer.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([float(-i) for i in range(len(tokens))])
    writer.add_token_types([1] * len(tokens))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    quant_type = gguf.GGMLQuantizationType[quantization] if quantization else None
    if quantization:
        writer.add_file_type(gguf.LlamaFileType[f"MOSTLY_{quantization}"])
    for name, array in load_file(source / "model.safetensors").items():
        if name in _GGUF_TOP:
            gguf_name = _GGUF_TOP[name]
        else:  # model.layers.{i}.{part}.weight
            _, _, layer, *rest = name.split(".")
            gguf_name = f"blk.{layer}.{_GGUF_BLOCK['.'.join(rest[:-1])]}.weight"
        if quant_type is not None and array.ndim == 2:
            # the blocks' bytes (rows of 40 bytes for 64 Q4_1 weights): the writer reads the
            # weights' shape from them and the type
            writer.add_tensor(gguf_name, gguf.quants.quantize(array.astype(np.float32),
                                                              quant_type), raw_dtype=quant_type)
        else:
            writer.add_tensor(gguf_name, array.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


@pytest.fixture(scope="session")
def tiny_gguf_file(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_q4_gguf_file(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama as a Q4_1 GGUF, as the bundled SmolLM2 file is stored."""
    return write_tiny_gguf(tiny_llama_dir, tmp_path_factory.mktemp("gguf") / "tiny-q4.gguf",
                           quantization="Q4_1")


@pytest.fixture
def hub_settings(tmp_path: Path, hub: HubServer) -> Settings:
    """SQLite settings whose hub endpoint is the local test hub; imports allowed from
    ``tmp_path / "imports"``."""
    (tmp_path / "imports").mkdir()
    settings = make_settings(tmp_path, hf_endpoint=hub.url, import_roots=[tmp_path / "imports"])
    upgrade(settings.resolved_database_url)
    return settings


@pytest.fixture
def hub_client(hub_settings: Settings) -> Iterator[TestClient]:
    with TestClient(base_url=LOOPBACK, app=create_app(hub_settings, job_feed_interval_s=0.05,
                               system_interval_s=0.5)) as client:
        yield client


@pytest.fixture
def tiny_repo(hub: HubServer, tiny_llama_dir: Path) -> str:
    """``org/tiny`` on the hub (the 0.9 MB tiny llama); returns its commit sha."""
    return hub.add_model("org/tiny", tiny_llama_dir)


@pytest.fixture
def big_repo(hub: HubServer, big_llama_dir: Path) -> str:
    return hub.add_model("org/big", big_llama_dir)


@pytest.fixture
def wait_model(hub_client: TestClient) -> Callable[..., dict]:
    """Wait until a model reaches one of ``states``; returns its last JSON. At a final status
    (ready, failed, cancelled) it also waits for the job to end: the task sets the model's row
    before the runner records the job's outcome (its ``error_code``), so a read in between saw
    a failed model whose job was still running (a CI flake)."""
    from helpers import wait_for

    final = {"ready", "failed", "cancelled"}

    def wait(model_id: int, *states: str, timeout: float = 60.0) -> dict:
        def done() -> dict | None:
            model = hub_client.get(f"/api/v1/models/{model_id}").json()
            if model["status"] not in states:
                return None
            job = model.get("job")
            if model["status"] in final and job and job["state"] in ("queued", "running"):
                return None
            return model

        return wait_for(done, timeout=timeout)

    return wait
