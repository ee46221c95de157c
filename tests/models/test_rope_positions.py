"""``services/models.read_positions`` of rotary models with rope scaling: the context the scaled
model is made for, read from config.json files in both forms transformers reads (4's
``rope_scaling``, written here as those models publish it; 5's ``rope_parameters``, written by
the installed transformers' own ``save_pretrained``), per rope type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interpstudio.core.paths import DataPaths
from interpstudio.services.models import read_positions

MPE = "max_position_embeddings in its config.json"


def _positions_of_config(tmp_path: Path, config: dict[str, Any]) -> tuple[int, str] | None:
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "config.json").write_text(json.dumps(config))
    return read_positions(DataPaths(tmp_path / "data"), 1, checkpoint)  # no architecture.json


def _saved_by_transformers(tmp_path: Path, arch: str, **kwargs: Any) -> tuple[int, str] | None:
    """read_positions of the config.json transformers' ``save_pretrained`` writes for ``arch``
    built with ``kwargs`` (``rope_parameters``, the transformers 5 form)."""
    from transformers import AutoConfig

    checkpoint = tmp_path / "saved"
    AutoConfig.for_model(arch, **kwargs).save_pretrained(checkpoint)
    assert "rope_parameters" in json.loads((checkpoint / "config.json").read_text())
    return read_positions(DataPaths(tmp_path / "data"), 1, checkpoint)


@pytest.mark.parametrize(("name", "config", "expected"), [
    # Qwen2.5 with the yarn its model card adds: 32768 trained, 4x
    ("qwen2.5 yarn", {"model_type": "qwen2", "max_position_embeddings": 32768,
                      "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768,
                                       "type": "yarn"}},
     (131072, "original_max_position_embeddings 32768 x yarn factor 4 in its config.json")),
    # Qwen3 with yarn: its positions (40960) are more than trained, the product more again
    ("qwen3 yarn", {"model_type": "qwen3", "max_position_embeddings": 40960,
                    "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                     "original_max_position_embeddings": 32768}},
     (131072, "original_max_position_embeddings 32768 x yarn factor 4 in its config.json")),
    # yarn without an original: transformers takes max_position_embeddings as the original
    ("yarn without original", {"model_type": "llama", "max_position_embeddings": 2048,
                               "rope_scaling": {"type": "yarn", "factor": 2.5}},
     (5120, "max_position_embeddings 2048 x yarn factor 2.5 in its config.json")),
    # DeepSeek-V3 states the product as its positions: 4096 x 40 = 163840
    ("deepseek-v3 yarn", {"model_type": "deepseek_v3", "max_position_embeddings": 163840,
                          "rope_scaling": {"type": "yarn", "factor": 40, "beta_fast": 32,
                                           "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0,
                                           "original_max_position_embeddings": 4096}},
     (163840, MPE)),
    # Llama 3.1: 131072 from 8192 with factor 8 (a product would say 65536): kept
    ("llama 3.1 llama3", {"model_type": "llama", "max_position_embeddings": 131072,
                          "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0,
                                           "original_max_position_embeddings": 8192,
                                           "rope_type": "llama3"}},
     (131072, MPE)),
    # Llama 3.2: factor 32 from 8192 (a product would say 262144): kept
    ("llama 3.2 llama3", {"model_type": "llama", "max_position_embeddings": 131072,
                          "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0,
                                           "high_freq_factor": 4.0,
                                           "original_max_position_embeddings": 8192,
                                           "rope_type": "llama3"}},
     (131072, MPE)),
    # Phi-3 128k: longrope from 4096, its positions already the extended context
    ("phi-3 longrope", {"model_type": "phi3", "max_position_embeddings": 131072,
                        "original_max_position_embeddings": 4096,
                        "rope_scaling": {"type": "longrope", "long_factor": [1.0, 1.5],
                                         "short_factor": [1.0, 1.0]}},
     (131072, MPE)),
    # linear and dynamic define no extended context of their own: kept (conservative)
    ("linear", {"model_type": "llama", "max_position_embeddings": 4096,
                "rope_scaling": {"type": "linear", "factor": 4.0}}, (4096, MPE)),
    ("dynamic", {"model_type": "llama", "max_position_embeddings": 4096,
                 "rope_scaling": {"type": "dynamic", "factor": 2.0}}, (4096, MPE)),
    # a factor below 1 or not a number, an unknown type: no more than the positions
    ("yarn factor below 1", {"max_position_embeddings": 4096,
                             "rope_scaling": {"type": "yarn", "factor": 0.5}}, (4096, MPE)),
    ("yarn factor not a number", {"max_position_embeddings": 4096,
                                  "rope_scaling": {"type": "yarn", "factor": "4"}}, (4096, MPE)),
    ("yarn factor past any model", {"max_position_embeddings": 32768, "rope_scaling": {
        "type": "yarn", "factor": 1e6}}, (32768, MPE)),
    ("type not a string", {"max_position_embeddings": 4096,
                           "rope_scaling": {"type": ["yarn"], "factor": 4.0}}, (4096, MPE)),
    ("unknown type", {"max_position_embeddings": 4096,
                      "rope_scaling": {"type": "stretchy", "factor": 4.0}}, (4096, MPE)),
    ("no scaling", {"max_position_embeddings": 4096, "rope_scaling": None}, (4096, MPE)),
])
def test_the_positions_of_a_rope_scaled_config_per_type(
        tmp_path: Path, name: str, config: dict[str, Any], expected: tuple[int, str]) -> None:
    """A tester: a Qwen2.5 with yarn (131072 positions) was refused every max length past
    32768, its config's max_position_embeddings, read as the hard limit."""
    assert _positions_of_config(tmp_path, config) == expected, name


def test_a_top_level_original_is_taken_before_the_scalings_as_transformers_does(
        tmp_path: Path) -> None:
    config = {"max_position_embeddings": 8192, "original_max_position_embeddings": 4096,
              "rope_scaling": {"type": "yarn", "factor": 8.0,
                               "original_max_position_embeddings": 8192}}
    assert _positions_of_config(tmp_path, config) == (
        32768, "original_max_position_embeddings 4096 x yarn factor 8 in its config.json")


def test_rope_parameters_as_transformers_5_saves_them(tmp_path: Path) -> None:
    """transformers 5 writes ``rope_parameters`` (``rope_scaling`` is only read)."""
    assert _saved_by_transformers(
        tmp_path, "qwen2", max_position_embeddings=32768, num_hidden_layers=2,
        rope_scaling={"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},
    ) == (131072, "original_max_position_embeddings 32768 x yarn factor 4 in its config.json")


def test_rope_parameters_per_layer_type_take_the_least_layers_context(tmp_path: Path) -> None:
    """Gemma 3 scales only its full-attention layers (linear, kept); a config whose every layer
    type is scaled by yarn takes the least of their contexts."""
    assert _saved_by_transformers(
        tmp_path, "gemma3_text", max_position_embeddings=131072, num_hidden_layers=2,
        layer_types=["sliding_attention", "full_attention"],
        rope_scaling={"factor": 8.0, "rope_type": "linear"}) == (131072, MPE)
    both = {"max_position_embeddings": 1024, "layer_types": ["sliding_attention", "full_attention"],
            "original_max_position_embeddings": 64,  # transformers reads it for a flat one only
            "rope_parameters": {
                "full_attention": {"rope_type": "yarn", "factor": 4.0},
                "sliding_attention": {"rope_type": "yarn", "factor": 2.0}}}
    assert _positions_of_config(tmp_path, both) == (
        2048, "max_position_embeddings 1024 x yarn factor 2 in its config.json")
    both["rope_parameters"]["sliding_attention"] = {"rope_type": "default"}  # type: ignore[index]
    assert _positions_of_config(tmp_path / "again", both) == (1024, MPE)


def test_rope_scaling_is_read_before_rope_parameters(tmp_path: Path) -> None:
    """transformers takes ``rope_scaling`` where a config has both."""
    config = {"max_position_embeddings": 1000,
              "rope_scaling": {"type": "yarn", "factor": 3.0},
              "rope_parameters": {"rope_type": "yarn", "factor": 2.0}}
    assert _positions_of_config(tmp_path, config) == (
        3000, "max_position_embeddings 1000 x yarn factor 3 in its config.json")


def test_a_learned_position_table_is_not_scaled(tmp_path: Path) -> None:
    """A learned table's size is what it holds, whatever the config says of rope."""
    from interpstudio.services.model_files import architecture_file

    paths = DataPaths(tmp_path / "data")
    architecture = architecture_file(paths, 1)
    architecture.parent.mkdir(parents=True)
    architecture.write_text(json.dumps({"position_limit": 1024}))
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({
        "n_positions": 1024, "rope_scaling": {"type": "yarn", "factor": 4.0}}))
    assert read_positions(paths, 1, checkpoint) == (1024, "its learned position table")
