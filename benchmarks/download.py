"""Benchmark of the model download job against a bare ``hf_hub_download``, in one run.

    .venv/bin/python benchmarks/download.py                 # ~210 MB random llama, 3 rounds
    .venv/bin/python benchmarks/download.py --hidden 512    # smaller, seconds

Serves a random llama checkpoint from the local test hub (``tests/hub_server``, a real HTTP
server on loopback), then, alternating, (a) runs the real ``model_download`` job (our streaming
GET with Range resume, sha256 verification and progress written to the job row on SQLite, via a
``Worker``) and (b) downloads the same files with ``huggingface_hub.hf_hub_download`` (which
also verifies sha256). Both write to the same disk. It prints bytes/s of each (median of rounds;
the job's figure is its download stage, the inspection afterwards is not counted) and the ratio
(goal >= 0.9). Exits 1 when the goal is missed.

This script is NOT a test (no asserts on time).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This folder holds scripts named like stdlib modules (tokenize.py): keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

GOAL = 0.9


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024, help="hidden size of the llama")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def run_job(hub_url: str, work: Path, round_index: int) -> tuple[int, float]:
    """Bytes and seconds of the download stage of one real ``model_download`` job."""
    from helpers import make_settings
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.session import make_engine, make_session_factory
    from interpstudio.jobs.runner import Worker
    from interpstudio.services import jobs as job_service
    from interpstudio.services.model_sources import start_download

    root = work / f"job-{round_index}"
    settings = make_settings(root, hf_endpoint=hub_url)
    upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with factory.begin() as session:
        model, _ = start_download(session=session, settings=settings, repo_id="bench/model")
        job_id = model.job_id
    Worker(settings, session_factory=factory).run_one(job_id)
    with factory() as session:
        job = job_service.get_job(session=session, job_id=job_id)
        if job.state != "succeeded":
            raise SystemExit(f"the download job {job.state}: {job.error_message}")
        download = job.result["download"]
    shutil.rmtree(root)
    return download["fetched_bytes"], download["seconds"]


def run_bare(hub_url: str, work: Path, files: list[str], round_index: int) -> tuple[int, float]:
    from huggingface_hub import hf_hub_download

    target = work / f"bare-{round_index}"
    started = time.perf_counter()
    size = 0
    for name in files:
        path = hf_hub_download("bench/model", name, endpoint=hub_url, local_dir=target)
        size += Path(path).stat().st_size
    seconds = time.perf_counter() - started
    shutil.rmtree(target)
    return size, seconds


def main() -> int:
    args = parse_args()
    from hub_server import HubServer, build_tiny_model

    overrides = {"hidden_size": args.hidden, "intermediate_size": args.hidden * 11 // 4,
                 "num_hidden_layers": args.layers, "num_attention_heads": 8,
                 "num_key_value_heads": 4}
    with tempfile.TemporaryDirectory(prefix="interpstudio-bench-") as tmp, HubServer() as hub:
        work = Path(tmp)
        folder = build_tiny_model(work / "model", "llama", **overrides)
        hub.add_model("bench/model", folder)
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
        total = sum((folder / name).stat().st_size for name in files)
        print(f"serving {len(files)} files, {total / 1e6:,.1f} MB from {hub.url}")
        ours, bare = [], []
        for index in range(args.rounds):
            size, seconds = run_bare(hub.url, work, files, index)
            bare.append(size / seconds)
            size, seconds = run_job(hub.url, work, index)
            ours.append(size / seconds)
            print(f"round {index + 1}: job {ours[-1] / 1e6:,.1f} MB/s, "
                  f"hf_hub_download {bare[-1] / 1e6:,.1f} MB/s")
    job_rate, bare_rate = statistics.median(ours), statistics.median(bare)
    ratio = job_rate / bare_rate
    print(f"download job {job_rate / 1e6:,.1f} MB/s / hf_hub_download {bare_rate / 1e6:,.1f} MB/s"
          f" = {ratio:.2f} (goal >= {GOAL})")
    return 0 if ratio >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
