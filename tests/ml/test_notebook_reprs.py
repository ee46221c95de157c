"""What a notebook shows for the library's objects: one line that says what it is. The
dataclass reprs of ``LoadedModel`` and ``TokenizedDataset`` printed the whole module tree, the
tokenizer's vocabulary table, memory-mapped arrays and the manifest (hundreds of lines)."""

from __future__ import annotations

from pathlib import Path

from interpstudio.ml import tokenize_texts
from interpstudio.ml.loading import load_model


def test_a_loaded_model_and_its_tokenization_show_one_line_each(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    loaded = load_model(tiny_llama_dir, precision="q8", device="cpu")
    shown = repr(loaded)
    assert "\n" not in shown and len(shown) < 300
    assert shown.startswith("LoadedModel(LlamaForCausalLM, ")
    assert f"{loaded.parameter_count:,} parameters" in shown and "q8 on cpu" in shown
    tokenized = tokenize_texts(["The cat sat on the mat.", "A dog."], loaded, tmp_path / "tok",
                               max_length=128)
    shown = repr(tokenized)
    assert "\n" not in shown and len(shown) < 300
    assert shown == (f"TokenizedDataset({str(tmp_path / 'tok')!r}, 2 sequences, "
                     f"{tokenized.n_tokens:,} tokens, truncate to 128 tokens, tokenizer "
                     f"{tokenized.tokenizer_key!r})")


def test_a_precision_that_fell_back_says_what_was_asked_and_why(tiny_llama_dir: Path) -> None:
    """A memory budget under fp32's size: the loader falls back to bf16, for real."""
    fp32 = load_model(tiny_llama_dir, precision="fp32", device="cpu")
    loaded = load_model(tiny_llama_dir, precision="fp32", device="cpu",
                        memory_budget_bytes=fp32.estimated_bytes - 1)
    assert loaded.precision_used == "bf16"
    assert f"bf16 (fp32 requested: {loaded.fallback_reason}) on cpu" in repr(loaded)
