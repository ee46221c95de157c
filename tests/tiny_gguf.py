"""``write_tiny_gguf``: the tiny llama checkpoint written as a GGUF file with the ``gguf``
package (F32, or its 2-D tensors quantized as Q4_1 as llama.cpp stores the bundled SmolLM2), for
the tests of GGUF imports (``tests/models``) and of the stores of models imported from one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
