"""The peer baselines of ``benchmarks/extraction.py``, run by each peer's own Python.

    /tmp/bench-nnsight/bin/python benchmarks/extraction_peers.py nnsight MODEL_DIR IDS.npy OUT B

Each baseline reads the same token ids (``(n, T)`` int64 ``.npy``), runs the same batches over
the model at ``MODEL_DIR`` (fp32, CPU unless CUDA is there), captures every layer's resid_post,
attn_out and mlp_out the way a user of that library would, writes each batch to ``OUT`` as fp16
``.npy`` files, and prints one JSON line: ``{"tokens": ..., "seconds": ..., "tokens_per_s": ...}``
(the model load is not timed; one warm-up batch is run first and not counted).

Baselines: ``naive`` (``output_hidden_states=True`` + ``np.save``: resid_post only, which is all
hidden states give), ``nnsight`` (``LanguageModel.trace`` + ``.save()``), ``tlens``
(TransformerLens 4 ``TransformerBridge.run_with_cache`` with a names filter) and ``saelens``
(SAELens' ``CacheActivationsRunner``, which writes its own format: a HF ``datasets`` Arrow folder
per hook, fp16, with the token ids). The runner caches ONE hook per run, so N points cost N runs:
``saelens`` runs it for the mid-layer resid_post, attn_out and mlp_out (each over all the tokens,
batch ``B``, fully offline: the model folder through ``model_class_name="AutoModelForCausalLM"``
i.e. ``HookedProxyLM`` with module-path hook names, the ids as a pre-tokenized ``input_ids``
dataset saved on local disk and passed as ``override_dataset``), after one untimed one-batch
warm-up run; each run loads its own model (untimed) and times ``runner.run()``. Its JSON adds
``measured_points``, ``seconds_per_point`` (their mean), ``point_seconds`` and
``projected_points`` (3 x n_layers); ``seconds`` and ``tokens_per_s`` are PROJECTED for all
points: tokens / (seconds_per_point x projected_points). The runner stops the forward after the
hooked module, so a mid-layer point costs about the mean over all layers. It does not fsync.

Peer venvs (torch pinned to the local CPU wheel)::

    python3.11 -m venv /tmp/bench-nnsight && /tmp/bench-nnsight/bin/pip install \
        "torch==2.13.0+cpu" nnsight==0.8.1 transformers==5.23.0
    python3.11 -m venv /tmp/bench-tl && /tmp/bench-tl/bin/pip install \
        "torch==2.13.0+cpu" transformer-lens==4.3.0
    python3.11 -m venv /tmp/bench-sae && /tmp/bench-sae/bin/pip install \
        "torch==2.13.0+cpu" sae-lens==6.54.12   # pulls transformer-lens 3.9.0, transformers
                                                 # 5.24.0, datasets 5.2.0

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


def saelens(model_dir: str, batches: list[torch.Tensor], out: Path) -> dict[str, Any]:
    """SAELens' ``CacheActivationsRunner``: one hook per run, so a few points are measured and
    the rate for all ``3 x n_layers`` points is projected from their mean seconds per point."""
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub / datasets are imported
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    import gc
    import warnings

    from sae_lens import CacheActivationsRunner, CacheActivationsRunnerConfig
    from transformers import AutoConfig

    import datasets  # its own block: ruff takes it for first-party (tests/datasets)

    warnings.filterwarnings("ignore")  # "fewer samples than tokens": it counts rows vs tokens
    datasets.disable_progress_bars()
    config = AutoConfig.from_pretrained(model_dir)
    n_layers, d_model = config.num_hidden_layers, config.hidden_size
    ids = torch.cat(batches)
    n_seq, context = ids.shape
    batch = len(batches[0])
    if any(len(b) != batch for b in batches):
        raise SystemExit("saelens: the sequences must fill whole batches")
    # the same token ids as the other peers, as a pre-tokenized dataset on local disk
    tokens_dir = out / "tokens"
    datasets.Dataset.from_dict({"input_ids": ids.tolist()}).save_to_disk(str(tokens_dir))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    mid = n_layers // 2
    # HookedProxyLM (model_class_name="AutoModelForCausalLM") names hooks by module path; a
    # tuple output (self_attn) is hooked on its first element, the attention output
    points = {"resid_post": f"model.layers.{mid}", "attn_out": f"model.layers.{mid}.self_attn",
              "mlp_out": f"model.layers.{mid}.mlp"}

    def runner(hook: str, n_tokens: int, target: Path) -> Any:
        cfg = CacheActivationsRunnerConfig(
            dataset_path=str(tokens_dir), model_name=model_dir,
            model_class_name="AutoModelForCausalLM", hook_name=hook, d_in=d_model,
            context_size=context, model_batch_size=batch, training_tokens=n_tokens,
            new_cached_activations_path=str(target), dtype="float16", device=device,
            shuffle=False, model_from_pretrained_kwargs={"dtype": torch.float32},
            # one shard holding exactly n_tokens: a bigger buffer would wrap around the data
            buffer_size_gb=(n_tokens + 0.5) * d_model * 2 / 1e9)
        # override_dataset: a str dataset_path goes through load_dataset and a Hub lookup
        return CacheActivationsRunner(cfg, override_dataset=datasets.load_from_disk(
            str(tokens_dir)))

    # warm-up: one untimed run of one batch (each timed run loads its own model, untimed)
    runner(points["resid_post"], batch * context, out / "warm-up").run()
    seconds: dict[str, float] = {}
    for kind, hook in points.items():
        run = runner(hook, n_seq * context, out / kind)
        started = time.perf_counter()
        run.run()
        seconds[kind] = time.perf_counter() - started
        written = datasets.load_from_disk(str(out / kind))
        if written.num_rows != n_seq or written.features[hook].shape != (context, d_model):
            raise SystemExit(f"saelens: {kind} wrote {written.num_rows} rows, "
                             f"{written.features[hook].shape}")
        del run, written
        gc.collect()
    per_point = sum(seconds.values()) / len(seconds)
    projected = 3 * n_layers
    tokens = int(ids.numel())
    return {"tokens": tokens, "seconds": per_point * projected,
            "tokens_per_s": tokens / (per_point * projected), "projected": True,
            "measured_points": len(seconds), "projected_points": projected,
            "seconds_per_point": per_point,
            "point_seconds": {points[k]: round(v, 4) for k, v in seconds.items()}}


BASELINES = {"naive": naive, "nnsight": nnsight, "tlens": tlens, "saelens": saelens}


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
