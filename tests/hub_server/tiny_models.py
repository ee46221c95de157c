"""Tiny random-weight causal LMs and tokenizers, built offline, for hub and pipeline tests.

What it is: `build_tiny_model(folder, arch)` writes a Hugging Face model folder (config.json,
generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json) for a 2-layer,
hidden-64 model of one of `SUPPORTED_ARCHS`, with seeded weights (same arguments -> same bytes,
~0.7-0.9 MB of fp32 safetensors, large enough for drop/resume tests). `build_tiny_tokenizer`
trains a byte-level BPE (vocab 512, never an unknown token) with <pad>/<s>/</s>/<unk>.
Llama's tokenizer prepends <s> like the real family; gpt2, gpt_neox and qwen2 add no BOS.

What it is NOT: nothing is downloaded (the Hub is never contacted), and the weights are random:
the models are for plumbing, shapes and hook fidelity, not for meaningful text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub_server.staging import staged_folder
from hub_server.tiny_corpus import tokenizer_training_texts

SUPPORTED_ARCHS = ("llama", "gpt2", "gpt_neox", "qwen2")
SPECIAL_TOKENS = {"pad": "<pad>", "bos": "<s>", "eos": "</s>", "unk": "<unk>"}
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3  # order of SPECIAL_TOKENS in the trained vocab
TOKENIZER_VOCAB_SIZE = 512
MODEL_VOCAB_SIZE = 1000  # > tokenizer vocab, like real models with padded embeddings

# Per family: config kwargs for a 2-layer, hidden-64 model (GPT-2 names its fields n_*).
_ARCH_CONFIGS: dict[str, dict[str, Any]] = {
    "llama": {
        "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
    },
    "qwen2": {
        "hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
    },
    "gpt_neox": {
        "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2,
        "num_attention_heads": 4, "max_position_embeddings": 256,
    },
    "gpt2": {"n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 256, "n_inner": 256},
}  # fmt: skip
_ADDS_BOS = {"llama"}


def build_tiny_tokenizer(*, add_bos: bool = False) -> Any:
    """A `PreTrainedTokenizerFast` over a byte-level BPE trained on the tiny corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tokenizer_training_texts(), trainer=trainer)
    if add_bos:
        bos = SPECIAL_TOKENS["bos"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, BOS_ID)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, **{f"{k}_token": v for k, v in SPECIAL_TOKENS.items()}
    )


def build_tiny_model(
    folder: Path | str, arch: str = "llama", *, seed: int = 0, **overrides: Any
) -> Path:
    """Write a tiny random `arch` causal LM + tokenizer into `folder`; return the folder.

    `overrides` go to the transformers config (e.g. `num_hidden_layers=4`, `vocab_size=600`,
    `tie_word_embeddings=True`). Files are written by `save_pretrained` (safetensors) into a
    staging folder, then moved into `folder` one whole file at a time.
    """
    if arch not in _ARCH_CONFIGS:
        raise ValueError(
            f"Unsupported tiny arch {arch!r}: choose one of {', '.join(SUPPORTED_ARCHS)}."
        )
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as transformers_logging

    config_kwargs: dict[str, Any] = {
        "vocab_size": MODEL_VOCAB_SIZE,
        "pad_token_id": PAD_ID,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        **_ARCH_CONFIGS[arch],
        **overrides,
    }
    if config_kwargs["vocab_size"] < TOKENIZER_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size={config_kwargs['vocab_size']} is below the tiny tokenizer's "
            f"{TOKENIZER_VOCAB_SIZE} tokens: use at least {TOKENIZER_VOCAB_SIZE}."
        )
    config = AutoConfig.for_model(arch, **config_kwargs)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    bars_were_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        with staged_folder(folder) as staging:
            model.save_pretrained(staging)
            build_tiny_tokenizer(add_bos=arch in _ADDS_BOS).save_pretrained(staging)
    finally:
        if bars_were_enabled:
            transformers_logging.enable_progress_bar()
    return Path(folder)
