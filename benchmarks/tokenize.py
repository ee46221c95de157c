"""Benchmark of dataset import + tokenization: throughput against a bare tokenizer loop, and peak
memory at 1x and 10x the data, in one run.

    .venv/bin/python benchmarks/tokenize.py                  # 8 MB and 80 MB of generated text
    .venv/bin/python benchmarks/tokenize.py --mb 2           # quicker
    .venv/bin/python benchmarks/tokenize.py --model-dir DIR  # a real model's tokenizer

Throughput: the same rows (``--mb`` of generated English-like text, one document per line) are
tokenized, alternately for ``--rounds`` rounds, (a) by a bare loop ``tokenizer(batch)`` over
in-memory batches of 1024 rows, and (b) by our ``tokenize_dataset`` reading ``text.parquet`` and
writing the token store (commits, fsync, resume journal included). It prints tokens/s of each
(median) and the ratio (goal >= 0.8).

Memory: two fresh subprocesses run the whole pipeline (read the .txt, write ``text.parquet`` with
statistics, tokenize, finish the store, token statistics) on 1x and 10x the data and report their
peak RSS; the ratio 10x / 1x has the goal < 1.1. The tokenizer is the tests' tiny llama
(byte-level BPE, 512 tokens) unless ``--model-dir`` names a folder with tokenizer files.
Exits 1 when a goal is missed. This script is NOT a test (no asserts on time).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the stdlib's `tokenize`: drop its folder from the path first, or
# `import tokenize` anywhere (linecache, inspect) would import this script instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent / "tests"))

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

SPEED_GOAL = 0.8
MEMORY_GOAL = 1.1
BATCH_ROWS = 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=8.0, help="size of the 1x text, MB")
    parser.add_argument("--scale", type=int, default=10, help="the large run is this many x")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--child", nargs=3, metavar=("TEXT", "MODEL", "WORK"),
                        help=argparse.SUPPRESS)
    return parser.parse_args()


def write_text(path: Path, megabytes: float) -> int:
    """Generated documents, one per line, until the file holds ``megabytes``; return rows."""
    from hub_server.tiny_corpus import generate_texts

    target, rows, seed = int(megabytes * 1_000_000), 0, 0
    with path.open("w", encoding="utf-8") as out:
        while out.tell() < target:
            for text in generate_texts(2000, seed=seed):
                out.write(text.replace("\n", " ") + "\n")
                rows += 1
            seed += 1
    return rows


def run_pipeline(text: Path, model_dir: Path, work: Path) -> dict[str, float]:
    """Import + tokenize ``text`` the way the jobs do; return counts and seconds."""
    from interpstudio.ml.text_sources import ReadOptions, iter_texts
    from interpstudio.ml.text_store import iter_text_batches, write_text_parquet
    from interpstudio.ml.token_store import TokenStoreWriter, open_tokenized
    from interpstudio.ml.tokenize import (
        TokenizationPolicy,
        load_tokenizer,
        resolve_policy,
        summarize_tokens,
        tokenize_dataset,
    )

    started = time.perf_counter()
    parquet = work / "text.parquet"
    stats = write_text_parquet(iter_texts([text], ReadOptions()), parquet)
    imported = time.perf_counter()
    tokenizer = load_tokenizer(model_dir)
    resolved = resolve_policy(TokenizationPolicy(max_length=1_000_000), tokenizer)
    writer = TokenStoreWriter(work / "tokens", meta={"policy": resolved})
    tokenize_dataset(lambda start: iter_text_batches(parquet, start_row=start), tokenizer,
                     resolved, writer, batch_rows=BATCH_ROWS)
    writer.finish(counts={})
    store = open_tokenized(work / "tokens")
    summarize_tokens(store, vocab_size=len(tokenizer))
    return {"rows": stats.rows, "tokens": store.n_tokens, "import_s": imported - started,
            "total_s": time.perf_counter() - started}


def child_main(text: str, model: str, work: str) -> None:
    result = run_pipeline(Path(text), Path(model), Path(work))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({**result, "peak_rss_bytes": peak_kib * 1024}))


def measure_speed(text: Path, model_dir: Path, work: Path, rounds: int) -> tuple[float, float]:
    from interpstudio.ml.text_sources import ReadOptions, iter_texts
    from interpstudio.ml.text_store import iter_text_batches, write_text_parquet
    from interpstudio.ml.token_store import TokenStoreWriter
    from interpstudio.ml.tokenize import (
        TokenizationPolicy,
        load_tokenizer,
        resolve_policy,
        tokenize_dataset,
    )

    texts = list(iter_texts([text], ReadOptions()))
    parquet = work / "speed.parquet"
    write_text_parquet(iter(texts), parquet)
    tokenizer = load_tokenizer(model_dir)
    resolved = resolve_policy(TokenizationPolicy(max_length=1_000_000), tokenizer)
    bare_rates, our_rates = [], []
    for index in range(rounds):
        started = time.perf_counter()
        tokens = 0
        for start in range(0, len(texts), BATCH_ROWS):
            tokens += sum(map(len, tokenizer(texts[start:start + BATCH_ROWS])["input_ids"]))
        bare_rates.append(tokens / (time.perf_counter() - started))

        writer = TokenStoreWriter(work / f"speed-{index}", meta={"policy": resolved})
        started = time.perf_counter()
        tokenize_dataset(lambda s: iter_text_batches(parquet, start_row=s), tokenizer, resolved,
                         writer, batch_rows=BATCH_ROWS)
        our_rates.append(writer.committed_tokens / (time.perf_counter() - started))
        if writer.committed_tokens != tokens:
            raise SystemExit(f"token counts differ: ours {writer.committed_tokens}, bare {tokens}")
    return statistics.median(bare_rates), statistics.median(our_rates)


def measure_memory(text: Path, model_dir: Path, work: Path) -> dict[str, float]:
    work.mkdir(parents=True, exist_ok=True)
    output = subprocess.run([sys.executable, __file__, "--child", str(text), str(model_dir),
                             str(work)], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    args = parse_args()
    if args.child:
        child_main(*args.child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-tokenize-") as temp:
        work = Path(temp)
        model_dir = args.model_dir
        if model_dir is None:
            from hub_server.tiny_models import build_tiny_model

            model_dir = build_tiny_model(work / "tiny-llama", "llama")
        small, large = work / "small.txt", work / "large.txt"
        rows = write_text(small, args.mb)
        write_text(large, args.mb * args.scale)
        print(f"text: {small.stat().st_size / 1e6:.1f} MB ({rows:,} rows) and "
              f"{large.stat().st_size / 1e6:.1f} MB; tokenizer: {model_dir}")

        bare, ours = measure_speed(small, model_dir, work, args.rounds)
        speed_ratio = ours / bare
        print(f"bare tokenizer(batch) loop: {bare:,.0f} tokens/s")
        print(f"our tokenization job loop:  {ours:,.0f} tokens/s")
        print(f"ratio ours / bare: {speed_ratio:.3f} (goal >= {SPEED_GOAL})")

        one = measure_memory(small, model_dir, work / "mem-1x")
        ten = measure_memory(large, model_dir, work / f"mem-{args.scale}x")
        memory_ratio = ten["peak_rss_bytes"] / one["peak_rss_bytes"]
        for label, run in (("1x", one), (f"{args.scale}x", ten)):
            print(f"{label:>4}: {run['rows']:>10,.0f} rows {run['tokens']:>13,.0f} tokens  "
                  f"peak RSS {run['peak_rss_bytes'] / 2**20:8.1f} MiB  "
                  f"import {run['import_s']:.1f} s, total {run['total_s']:.1f} s")
        print(f"peak RSS {args.scale}x / 1x: {memory_ratio:.3f} (goal < {MEMORY_GOAL})")
    ok = speed_ratio >= SPEED_GOAL and memory_ratio < MEMORY_GOAL
    print("goals met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
