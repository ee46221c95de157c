"""Tiny random causal LMs, one per decoder family, for tests that need a real HF model.

``tiny_causal_lm("llama")`` builds a fp32, eval-mode, eager-attention model with hidden 64, 3 layers
and a 256-token vocabulary straight from a transformers config (never from the Hub). Every family
in ``SUPPORTED_TEST_FAMILIES`` builds in well under a second on a CPU.

``FAMILY_LAYOUTS`` is the test oracle for where each family keeps its parts, written by reading its
``modeling_*.py`` in transformers 5.23 (architecture resolution must find the same).

This module is NOT responsible for tokenizers, saved checkpoints on disk (call ``save_pretrained``
on the result where a test needs files) or for deciding what the product supports
(``interpstudio.ml.architecture.check_supported`` does that).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

TINY_VOCAB = 256
TINY_HIDDEN = 64
TINY_LAYERS = 3

# Written with the standard names; transformers' ``attribute_map`` turns them into a family's own
# names (GPT-2's ``n_embd``, ...). Special token ids must lie inside the tiny vocabulary.
_COMMON: dict[str, Any] = {
    "vocab_size": TINY_VOCAB,
    "hidden_size": TINY_HIDDEN,
    "num_hidden_layers": TINY_LAYERS,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "intermediate_size": 128,
    "max_position_embeddings": 128,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}

# Small expert counts so mixture-of-experts families stay tiny.
_MOE: dict[str, Any] = {
    "num_local_experts": 4,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
}

# Marks a _COMMON key a family's config must not receive (e.g. a read-only property).
_DROP = object()

# What a family needs beyond _COMMON to build small (or to build at all).
_FAMILY_OVERRIDES: dict[str, dict[str, Any]] = {
    "mixtral": _MOE,
    "qwen2_moe": _MOE,
    "qwen3_moe": _MOE,
    "olmoe": _MOE,
    "phi": {"partial_rotary_factor": 0.5},
    "gpt_neox": {"rotary_pct": 0.5},
    "gptj": {"rotary_dim": 8},
    "opt": {"ffn_dim": 128, "word_embed_proj_dim": TINY_HIDDEN},
    "falcon": {"head_dim": _DROP, "parallel_attn": True, "new_decoder_architecture": False},
    "bloom": {"n_head": 4},
    "codegen": {"rotary_dim": 8},
    "deepseek_v3": {
        **_MOE,
        "head_dim": _DROP,
        "num_key_value_heads": 4,
        "qk_rope_head_dim": 8,
        "qk_nope_head_dim": 8,
        "v_head_dim": 16,
        "kv_lora_rank": 16,
        "q_lora_rank": 16,
        "n_routed_experts": 4,
        "n_shared_experts": 1,
        "first_k_dense_replace": 1,
        "n_group": 1,
        "topk_group": 1,
    },
    "phimoe": _MOE,
    "granitemoe": _MOE,
    "minimax": _MOE,
    "gpt_oss": _MOE,
    "llama4_text": _MOE,
}

SUPPORTED_TEST_FAMILIES: tuple[str, ...] = (
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi",
    "phi3",
    "gpt2",
    "gpt_neox",
    "gptj",
    "gpt_bigcode",
    "falcon",
    "opt",
    "bloom",
    "stablelm",
    "olmo",
    "olmo2",
    "granite",
    "cohere",
    "starcoder2",
)

# More decoder families transformers 5.23 ships that build tiny; tested for resolution, fidelity
# and capture of every point they resolve (hybrids such as jamba have blocks without attention).
EXTRA_TEST_FAMILIES: tuple[str, ...] = (
    "qwen3_moe",
    "olmoe",
    "smollm3",
    "llama4_text",
    "deepseek_v3",
    "exaone4",
    "gpt_oss",
    "glm",
    "glm4",
    "helium",
    "persimmon",
    "nemotron",
    "phimoe",
    "granitemoe",
    "cohere2",
    "codegen",
    "mpt",
    "xglm",
    "biogpt",
    "openai-gpt",
    "internlm3",
    "ministral",
    "seed_oss",
    "vaultgemma",
    "ernie4_5",
    "arcee",
    "bitnet",
    "doge",
    "minimax",
    "hunyuan_v1_dense",
    "jamba",
    "recurrent_gemma",
    "lfm2",
    "qwen3_5_text",
    "ctrl",
    "mamba",
)


def tiny_config(family: str, **overrides: Any) -> PretrainedConfig:
    """The tiny config of ``family`` (a transformers ``model_type``), with ``overrides`` on top."""
    merged = {**_COMMON, **_FAMILY_OVERRIDES.get(family, {}), **overrides}
    kwargs = {key: value for key, value in merged.items() if value is not _DROP}
    config = AutoConfig.for_model(family, **kwargs)
    config._attn_implementation = "eager"
    return config


def tiny_causal_lm(family: str, *, seed: int = 0, **overrides: Any) -> PreTrainedModel:
    """A random, fp32, eval-mode, eager-attention causal LM of ``family``.

    ``overrides`` are config fields (e.g. ``num_hidden_layers=4``); ``seed`` fixes the weights.
    """
    config = tiny_config(family, **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(
        config, attn_implementation="eager", dtype=torch.float32
    )
    return model.eval()


class FamilyLayout(NamedTuple):
    """Where a family keeps its parts; paths after ``blocks`` are relative to one block."""

    blocks: str
    attention: str
    attn_out: str  # module whose output is attn_out
    mlp_out: str  # module whose output is mlp_out
    down_proj: str | None  # None: mixture-of-experts MLP
    parallel_residual: bool
    final_norm: str
    # Norms applied to attn_out / mlp_out before the residual add ("sandwich" norms), if any.
    branch_norms: tuple[str, str] | None = None


_LLAMA_LIKE = FamilyLayout(
    "model.layers", "self_attn", "self_attn", "mlp", "mlp.down_proj", False, "model.norm"
)
_MOE = _LLAMA_LIKE._replace(down_proj=None)
_SANDWICH = _LLAMA_LIKE._replace(
    branch_norms=("post_attention_layernorm", "post_feedforward_layernorm")
)

FAMILY_LAYOUTS: dict[str, FamilyLayout] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "mixtral": _MOE,
    "qwen2": _LLAMA_LIKE,
    "qwen2_moe": _MOE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _SANDWICH,
    "gemma3_text": _SANDWICH,
    "phi": FamilyLayout(
        "model.layers", "self_attn", "self_attn", "mlp", "mlp.fc2", True, "model.final_layernorm"
    ),
    "phi3": _LLAMA_LIKE,
    "gpt2": FamilyLayout(
        "transformer.h", "attn", "attn", "mlp", "mlp.c_proj", False, "transformer.ln_f"
    ),
    "gpt_neox": FamilyLayout(
        "gpt_neox.layers",
        "attention",
        "attention",
        "mlp",
        "mlp.dense_4h_to_h",
        True,
        "gpt_neox.final_layer_norm",
    ),
    "gptj": FamilyLayout(
        "transformer.h", "attn", "attn", "mlp", "mlp.fc_out", True, "transformer.ln_f"
    ),
    "gpt_bigcode": FamilyLayout(
        "transformer.h", "attn", "attn", "mlp", "mlp.c_proj", False, "transformer.ln_f"
    ),
    "falcon": FamilyLayout(
        "transformer.h",
        "self_attention",
        "self_attention",
        "mlp",
        "mlp.dense_4h_to_h",
        True,
        "transformer.ln_f",
    ),
    "opt": FamilyLayout(
        "model.decoder.layers",
        "self_attn",
        "self_attn",
        "fc2",
        "fc2",
        False,
        "model.decoder.final_layer_norm",
    ),
    # BLOOM's attention and MLP add the residual themselves: their raw contribution is the
    # output of their last projection.
    "bloom": FamilyLayout(
        "transformer.h",
        "self_attention",
        "self_attention.dense",
        "mlp.dense_4h_to_h",
        "mlp.dense_4h_to_h",
        False,
        "transformer.ln_f",
    ),
    "stablelm": _LLAMA_LIKE,
    "olmo": _LLAMA_LIKE,
    "olmo2": _SANDWICH,
    "granite": _LLAMA_LIKE,
    "cohere": _LLAMA_LIKE._replace(parallel_residual=True),
    "starcoder2": _LLAMA_LIKE._replace(down_proj="mlp.c_proj"),
}
