"""The peer baselines of ``benchmarks/extraction.py``, run by each peer's own Python.

    /tmp/bench-nnsight/bin/python benchmarks/extraction_peers.py nnsight MODEL_DIR IDS.npy OUT B

Each baseline reads the same token ids (``(n, T)`` int64 ``.npy``), runs the same batches over
the model at ``MODEL_DIR`` (fp32, CPU unless CUDA is there), captures every layer's resid_post,
attn_out and mlp_out the way a user of that library would, writes each batch to ``OUT`` as fp16
``.npy`` files, and prints one JSON line: ``{"tokens": ..., "seconds": ..., "tokens_per_s": ...}``
(the model load is not timed; one warm-up batch is run first and not counted).

Baselines: ``naive`` (``output_hidden_states=True`` + ``np.save``: resid_post only, which is all
hidden states give), ``nnsight`` (``LanguageModel.trace`` + ``.save()``), ``tlens``
(TransformerLens 4 ``TransformerBridge.run_with_cache`` with a names filter). SAELens'
``CacheActivationsRunner`` is not run (one hook per run over a HF dataset; see the benchmark).

Peer venvs (torch pinned to the local CPU wheel)::

    python3.11 -m venv /tmp/bench-nnsight && /tmp/bench-nnsight/bin/pip install \
        "torch==2.13.0+cpu" nnsight==0.8.1 transformers==5.23.0
    python3.11 -m venv /tmp/bench-tl && /tmp/bench-tl/bin/pip install \
        "torch==2.13.0+cpu" transformer-lens==4.3.0

This file imports nothing from interpstudio: it runs in the peers' virtual environments.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/tokenize.py would shadow the standard library's tokenize for this script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _batches(ids: np.ndarray, batch: int) -> list[torch.Tensor]:
    return [torch.from_numpy(ids[i : i + batch]) for i in range(0, len(ids), batch)]


def _save(out: Path, index: int, tensors: list[torch.Tensor]) -> None:
    for j, tensor in enumerate(tensors):
        np.save(out / f"b{index:05d}_{j:03d}.npy", tensor.detach().to(torch.float16).cpu().numpy())


def _timed(run_batch: Any, batches: list[torch.Tensor], out: Path) -> dict[str, float]:
    run_batch(batches[0], None)  # warm-up, not stored
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        run_batch(batch, index)
    seconds = time.perf_counter() - started
    tokens = sum(b.numel() for b in batches)
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def naive(model_dir: str, batches: list[torch.Tensor], out: Path) -> dict[str, float]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    def run(batch: torch.Tensor, index: int | None) -> None:
        with torch.no_grad():
            hidden = model(input_ids=batch, output_hidden_states=True).hidden_states
        if index is not None:
            _save(out, index, list(hidden[1:]))

    return _timed(run, batches, out)


def nnsight(model_dir: str, batches: list[torch.Tensor], out: Path) -> dict[str, float]:
    from nnsight import LanguageModel

    lm = LanguageModel(model_dir, dispatch=True, dtype=torch.float32)
    layers = lm.model.layers

    def run(batch: torch.Tensor, index: int | None) -> None:
        saved = []
        with torch.no_grad(), lm.trace({"input_ids": batch,
                                        "attention_mask": torch.ones_like(batch)}):
            for layer in layers:
                saved.append(layer.self_attn.output[0].save())
                saved.append(layer.mlp.output.save())
                saved.append(layer.output.save())
        if index is not None:
            _save(out, index, [getattr(s, "value", s) for s in saved])

    return _timed(run, batches, out)


def tlens(model_dir: str, batches: list[torch.Tensor], out: Path) -> dict[str, float]:
    from transformer_lens.model_bridge import TransformerBridge
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    bridge = TransformerBridge.boot_transformers(model_dir, hf_model=hf_model,
                                                 tokenizer=tokenizer)
    n = hf_model.config.num_hidden_layers
    names = {f"blocks.{i}.{h}" for i in range(n)
             for h in ("hook_attn_out", "hook_mlp_out", "hook_resid_post")}

    def run(batch: torch.Tensor, index: int | None) -> None:
        with torch.no_grad():
            _, cache = bridge.run_with_cache(batch, names_filter=lambda name: name in names)
        if index is not None:
            _save(out, index, [cache[name] for name in sorted(names)])

    return _timed(run, batches, out)


BASELINES = {"naive": naive, "nnsight": nnsight, "tlens": tlens}


def main() -> None:
    name, model_dir, ids_path, out, batch = sys.argv[1:6]
    ids = np.load(ids_path)
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    result = BASELINES[name](model_dir, _batches(ids, int(batch)), target)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
