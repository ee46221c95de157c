"""Which model configs Interp Studio can work with: decoder-only causal language models.

``check_supported(config)`` takes a transformers config object or the plain dict read from a
repository's ``config.json`` (so a service can refuse a model before any weight byte moves) and
raises ``UnsupportedArchitecture`` for seq2seq, encoder-only, vision/audio-only and other non-causal
configs. The test is structural, not a hand-written allow-list: a ``model_type`` is accepted when
the installed transformers can build a causal LM for it (``AutoModelForCausalLM``), it is not an
encoder-decoder, and, for encoder families that can also run as decoders (those that also have a
masked-LM class: BERT, RoBERTa, ...), the config really is a decoder (``is_decoder=True``).

This module is NOT responsible for finding a model's layers (``architecture.py``) or for loading
weights. Importing it does not import torch; calling ``check_supported`` imports transformers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interpstudio.core.errors import InvalidInput

SUPPORTED_DESCRIPTION = (
    "decoder-only causal language models that transformers' AutoModelForCausalLM can build "
    "(e.g. llama, mistral, mixtral, qwen2/qwen3 (+moe), gemma/gemma2/gemma3, phi/phi3, gpt2, "
    "gpt_neox, gptj, gpt_bigcode, falcon, opt, bloom, stablelm, olmo/olmo2/olmoe, granite, "
    "cohere, starcoder2, smollm3, deepseek_v3, ...)"
)


class UnsupportedArchitecture(InvalidInput):
    """The model is not a decoder-only causal LM, or its decoder layers cannot be found."""

    code = "unsupported_architecture"

    def __init__(self, model_type: str | None, reason: str) -> None:
        super().__init__(
            f"model type {model_type!r} is not supported: {reason}. "
            f"Supported: {SUPPORTED_DESCRIPTION}. Choose a causal LM checkpoint instead.",
            details={
                "model_type": model_type,
                "reason": reason,
                "supported": SUPPORTED_DESCRIPTION,
            },
        )
        self.model_type = model_type
        self.reason = reason


def _config_field(config: Any, name: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(name)
    return getattr(config, name, None)


def _causal_lm_model_types() -> frozenset[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    return frozenset(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def _masked_lm_model_types() -> frozenset[str]:
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return frozenset(MODEL_FOR_MASKED_LM_MAPPING_NAMES)


def check_supported(config: Any) -> str:
    """Raise ``UnsupportedArchitecture`` unless ``config`` describes a decoder-only causal LM.

    ``config`` is a ``PretrainedConfig`` or a ``config.json`` dict; returns its ``model_type``.
    """
    model_type = _config_field(config, "model_type")
    if not model_type:
        raise UnsupportedArchitecture(None, "the config has no model_type")
    if _config_field(config, "is_encoder_decoder"):
        raise UnsupportedArchitecture(model_type, "it is an encoder-decoder (seq2seq) model")
    if model_type not in _causal_lm_model_types():
        architectures = list(_config_field(config, "architectures") or [])
        raise UnsupportedArchitecture(
            model_type,
            "transformers has no causal-LM class for it (an encoder-only, vision, audio or other "
            f"non-generative model; architectures={architectures})",
        )
    # Encoder families that transformers can also run as decoders (BERT, RoBERTa, ...) have a
    # masked-LM class too; they are causal only when the config says is_decoder=True.
    if model_type in _masked_lm_model_types() and not _config_field(config, "is_decoder"):
        raise UnsupportedArchitecture(
            model_type,
            "it is an encoder-only (bidirectional) model: its config has is_decoder=False",
        )
    return str(model_type)
