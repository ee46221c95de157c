"""Structural architecture resolution, supported-config checks, module tree and parameter counts."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest
import torch
from tiny_models import FAMILY_LAYOUTS, SUPPORTED_TEST_FAMILIES, tiny_causal_lm, tiny_config
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    BertConfig,
    CLIPVisionConfig,
    Gemma3Config,
    PreTrainedModel,
    T5Config,
    ViTConfig,
)

from interpstudio.ml.architecture import (
    UnsupportedArchitecture,
    check_supported,
    resolve_architecture,
)
from interpstudio.ml.module_tree import (
    ORIGINAL_PARAMETER_COUNT_ATTR,
    ModuleNode,
    count_parameters,
    count_parameters_from_config,
    describe_modules,
)


@functools.cache
def model_of(family: str) -> PreTrainedModel:
    return tiny_causal_lm(family)


def test_layout_oracle_covers_every_test_family() -> None:
    assert set(FAMILY_LAYOUTS) == set(SUPPORTED_TEST_FAMILIES)


@pytest.mark.parametrize("family", SUPPORTED_TEST_FAMILIES)
def test_resolve_architecture_finds_block_parts_per_family(family: str) -> None:
    model = model_of(family)
    layout = FAMILY_LAYOUTS[family]
    architecture = resolve_architecture(model, refresh=True)

    assert architecture.n_layers == model.config.num_hidden_layers == 3
    assert architecture.d_model == 64
    assert architecture.blocks_path == layout.blocks
    assert architecture.final_norm == layout.final_norm
    assert architecture.parallel_residual is layout.parallel_residual
    assert architecture.moe is (layout.down_proj is None)
    for block in architecture.blocks:
        assert block.path == f"{layout.blocks}.{block.index}"
        assert block.attention == f"{block.path}.{layout.attention}"
        assert block.attn_out == f"{block.path}.{layout.attn_out}"
        assert block.mlp_out == f"{block.path}.{layout.mlp_out}"
        assert block.down_proj == (f"{block.path}.{layout.down_proj}" if layout.down_proj else None)
        assert len(block.norms) >= 1


def test_layer_count_follows_config_not_module_count() -> None:
    model = tiny_causal_lm("llama", num_hidden_layers=4)
    tree = describe_modules(model, resolve_architecture(model))
    blocks = [node for node in _walk(tree) if node.role == "block"]
    assert resolve_architecture(model).n_layers == len(blocks) == 4


def test_moe_blocks_have_no_down_projection_but_dense_ones_do() -> None:
    # qwen2_moe with mlp_only_layers: layer 1 is a dense MLP inside an MoE model.
    model = tiny_causal_lm("qwen2_moe", mlp_only_layers=[1])
    blocks = resolve_architecture(model).blocks
    assert [block.moe for block in blocks] == [True, False, True]
    assert blocks[1].down_proj == "model.layers.1.mlp.down_proj"


def test_resolve_architecture_missing_block_list_names_what_it_saw() -> None:
    model = model_of("llama")
    model.config.num_hidden_layers = 5  # no list of 5 layers exists
    try:
        with pytest.raises(UnsupportedArchitecture, match="could not find its list of 5"):
            resolve_architecture(model, refresh=True)
    finally:
        model.config.num_hidden_layers = 3
        resolve_architecture(model, refresh=True)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (BertConfig(), "encoder-only"),
        (T5Config(), "encoder-decoder"),
        (ViTConfig(), "no causal-LM class"),
        (CLIPVisionConfig(), "no causal-LM class"),
        ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "encoder-only"),
        ({"model_type": "vit"}, "no causal-LM class"),
        ({}, "no model_type"),
    ],
)
def test_check_supported_refuses_non_causal_configs(config: object, reason: str) -> None:
    with pytest.raises(UnsupportedArchitecture, match=reason) as raised:
        check_supported(config)
    assert raised.value.code == "unsupported_architecture"
    assert "decoder-only causal language models" in raised.value.message
    assert "llama" in raised.value.details["supported"]


@pytest.mark.parametrize(
    "config",
    [
        tiny_config("llama"),
        tiny_config("gpt_neox"),
        {"model_type": "qwen2"},
        BertConfig(is_decoder=True),
    ],
)
def test_check_supported_accepts_decoder_configs(config: object) -> None:
    check_supported(config)


@pytest.mark.parametrize("family", ["llama", "gpt2", "mixtral", "opt", "qwen2_moe"])
def test_count_parameters_matches_numel_and_meta_build(family: str) -> None:
    model = model_of(family)
    unique = {id(p): p.numel() for p in model.parameters()}
    assert count_parameters(model) == sum(unique.values())
    assert count_parameters_from_config(tiny_config(family)) == count_parameters(model)


def test_count_parameters_from_config_llama_7b_shape() -> None:
    config = tiny_config(
        "llama",
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        head_dim=128,
        vocab_size=32000,
        tie_word_embeddings=False,
    )
    assert count_parameters_from_config(config) == 6_738_415_616


class PackedLinear(nn.Module):
    """A linear layer whose 4-bit weights are stored two per byte, as quantized formats do."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        packed = torch.zeros(out_features * in_features // 2, dtype=torch.uint8)
        self.weight = nn.Parameter(packed, requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features))


def test_count_parameters_counts_packed_weights_at_original_size() -> None:
    model = tiny_causal_lm("llama")
    before = count_parameters(model)
    mlp = model.model.layers[0].mlp
    mlp.down_proj = PackedLinear(mlp.down_proj.in_features, mlp.down_proj.out_features)
    # The packed module brings a bias the original had not.
    assert count_parameters(model) == before + 64
    assert sum(p.numel() for p in model.parameters()) < before
    info = _node(describe_modules(model), "model.layers.0.mlp.down_proj")
    assert info.parameters[0].shape == [64, 128]
    assert info.parameters[0].stored_shape == [64 * 128 // 2]


def test_count_parameters_honours_loader_declared_count() -> None:
    model = tiny_causal_lm("llama")
    before = count_parameters(model)
    module = model.model.layers[0].mlp.down_proj
    setattr(module, ORIGINAL_PARAMETER_COUNT_ATTR, 999)
    assert count_parameters(model) == before - module.weight.numel() + 999


def test_describe_modules_sums_and_labels() -> None:
    model = model_of("gpt2")
    tree = describe_modules(model, resolve_architecture(model))
    assert tree.parameter_count == count_parameters(model)
    roles = {node.name: node.role for node in _walk(tree)}
    assert roles["transformer.h"] == "blocks"
    assert roles["transformer.h.0.attn"] == "attention"
    assert roles["transformer.h.0.mlp.c_proj"] == "down_proj"
    assert roles["transformer.ln_f"] == "final_norm"
    assert roles["transformer.wte"] == "embedding"
    assert _node(tree, "transformer.wte").parameters[0].shape == [256, 64]
    assert tree.to_dict()["children"][0]["name"] == "transformer"


def _walk(node: ModuleNode) -> Iterator[ModuleNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _node(tree: ModuleNode, name: str) -> ModuleNode:
    return next(node for node in _walk(tree) if node.name == name)


def test_multimodal_model_resolves_text_blocks_not_vision_tower() -> None:
    """Gemma-3 with a vision tower of as many layers as the text model: the text blocks win."""
    text = {
        "vocab_size": 300,
        "hidden_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "intermediate_size": 128,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    }
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=4,
        image_token_index=299,
        boi_token_index=297,
        eoi_token_index=298,
    )
    model = AutoModelForCausalLM.from_config(config).eval()
    architecture = resolve_architecture(model)
    assert architecture.blocks_path == "model.language_model.layers"
    assert architecture.final_norm == "model.language_model.norm"
    assert architecture.d_model == 64


def test_quantized_model_keeps_names_and_true_count() -> None:
    quanto = pytest.importorskip("optimum.quanto")
    model = tiny_causal_lm("llama")
    before_count, before = count_parameters(model), resolve_architecture(model, refresh=True)
    quanto.quantize(model, weights=quanto.qint4)
    quanto.freeze(model)
    assert type(model.model.layers[0].mlp.down_proj).__name__ == "QLinear"
    assert resolve_architecture(model, refresh=True) == before
    assert count_parameters(model) == before_count
