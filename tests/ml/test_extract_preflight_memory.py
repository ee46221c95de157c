"""The preflight's RAM figure against the peak RSS a real CPU extraction reaches.

A subprocess of its own (the test runner's memory is not the run's) builds a random llama whose
rows are wide and cheap (width 2048, 4 layers, 12 points: 48 kB a row, a 100 MB staging for a
batch of 16 x 128 tokens; a forward of next to no compute), preflights and runs an extraction,
then does both again in the same process: the second run finds the first one's shard sets and
staging in ``buffer_cache``. Each run's peak is the process's ``VmHWM``, reset before the second
run (``/proc/self/clear_refs``). A tester found the figure ~1.6x the peak: it counted 2 queued
stagings + 2 that the CPU's ``inline`` writer never has (one staging is ever in use), and
counted the staging and the heap the calibration had left, and a previous run's cached buffers,
both in "runtime" (the process's RSS after calibration) and again as the run's own.

Then which batches a CPU run casts into a staging (only those the writer cannot lend shard rows
for: more rows than the rest of the shard being filled and the next one), against a real run;
and that a calibration whose run lends every batch leaves no staging held in ``buffer_cache``
(measured as RSS: a tester found ~100 MB held beside the run for a minute, and counted).

NOT covered here: CUDA (``test_cuda.py`` checks the VRAM figure there), the preflight's bytes and
time (``test_extract.py``).
"""

from __future__ import annotations

import json
import mmap
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from extract_helpers import random_sequences, write_tokenization
from tiny_models import tiny_causal_lm

from interpstudio.ml import extract, preflight
from interpstudio.ml.extract_engine import ExtractionSession
from interpstudio.ml.store_writer import ActivationBatch

SCRIPT = textwrap.dedent("""
    import json, shutil, sys
    from pathlib import Path
    import torch
    sys.path.insert(0, {tests!r})
    from extract_helpers import random_sequences, write_tokenization
    from tiny_models import tiny_causal_lm
    from interpstudio.ml import extract, preflight

    def peak():
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) * 1024

    torch.set_num_threads(2)
    tmp = Path({tmp!r})
    tokens = write_tokenization(tmp / "tok", random_sequences(32, low=128, high=129))
    model = tiny_causal_lm("llama", hidden_size=2048, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    points = "blocks.*.{{attn_out,mlp_out,resid_post}}"
    options = dict(batch_size=16, dtype="float16", shard_bytes=32 << 20)
    runs = []
    for run in range(2):
        if run:  # the peak from here on: the second run's
            Path("/proc/self/clear_refs").write_text("5")
        report = preflight(model, tokens, points, out_dir=tmp / "s", measure_disk=False,
                           **options)
        shutil.rmtree(tmp / "s", ignore_errors=True)
        extract(model, tokens, points, out_dir=tmp / "s", **options)
        runs.append({{"memory": report.memory, "peak": peak()}})
    print(json.dumps(runs))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM and clear_refs are Linux's")
def test_preflight_ram_is_near_the_runs_peak_rss_in_a_fresh_and_a_reused_process(
    tmp_path: Path,
) -> None:
    script = SCRIPT.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    for run in runs:
        memory, peak = run["memory"], run["peak"]
        ratio = memory["ram_needed"] / peak
        # measured 1.15 for both runs (the old figure: 1.47 and 1.54); a little high is meant
        # (the figure refuses or warns), never far below
        assert 0.9 <= ratio <= 1.25, (ratio, peak, memory)


@pytest.mark.parametrize(("shard_rows", "expected"), [
    (19, []),  # 20-row batches: at most a shard + 1 row, always lent
    (12, [1, 4]),  # lent up to the end of the next shard: fills 0, 8, 4, 0, 8 before each batch
    (9, [0, 1, 2, 3, 4]),  # more rows than two shards hold
])
def test_a_staging_is_counted_only_where_the_cpu_run_casts_a_batch_into_one(
    tmp_path: Path, allocated: list[int], monkeypatch: pytest.MonkeyPatch, shard_rows: int,
    expected: list[int],
) -> None:
    """The preflight counted one staging for every CPU run (~106 MB at 90 points x 1,024 rows of
    SmolLM2 in fp16) though the run casts its rows into the shard rows the writer lends; it now
    counts one exactly where a planned batch cannot be lent, and the real run agrees batch by
    batch (an observer around ``capture_rows``: which batches got no loan) and in the memory it
    maps (one staging of that many bytes, or none)."""
    tokens = write_tokenization(tmp_path / "tok", random_sequences(10, low=10, high=11))
    model = tiny_causal_lm("llama")
    options: dict[str, object] = {"batch_size": 2, "dtype": "float16", "shard_rows": shard_rows}
    report = preflight(model, tokens, "blocks.*.resid_post", out_dir=tmp_path / "s",
                       calibrate=False, measure_disk=False, **options)  # type: ignore[arg-type]
    assert report.plan["rows"] == 100 and report.plan["batches"] == 5  # 20 rows a batch
    memory = report.memory
    staging = 20 * sum(report.widths.values()) * 2  # the largest batch's rows, fp16
    assert memory["staging_batches"] == len(expected)
    assert memory["stagings"] == (staging if expected else 0)
    assert bool(report.notes) == bool(expected)  # the breakdown says why a staging is counted
    if expected:
        assert f"{len(expected)} of 5 batches" in report.notes[0]

    staged: list[int] = []
    capture = ExtractionSession.capture_rows

    def observed(self: ExtractionSession, batch, skip_before, **kw):  # type: ignore[no-untyped-def]
        rows: ActivationBatch | None = capture(self, batch, skip_before, **kw)
        if rows is not None and rows.loan is None:
            staged.append(batch.index)
        return rows

    monkeypatch.setattr(ExtractionSession, "capture_rows", observed)
    allocated.clear()
    extract(model, tokens, "blocks.*.resid_post", out_dir=tmp_path / "s", durable=False,
            **options)  # type: ignore[arg-type]
    assert staged == expected
    shard_sets = allocated[:2]
    assert sorted(allocated[2:]) == ([max(mmap.PAGESIZE, staging)] if expected else [])
    assert len(shard_sets) == 2


RSS_SCRIPT = textwrap.dedent("""
    import json, shutil, sys
    from pathlib import Path
    import psutil, torch
    sys.path.insert(0, {tests!r})
    from extract_helpers import random_sequences, write_tokenization
    from tiny_models import tiny_causal_lm
    from interpstudio.ml import extract, preflight
    from interpstudio.ml.buffer_cache import buffer_cache

    def rss():
        return psutil.Process().memory_info().rss

    def peak():
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) * 1024

    torch.set_num_threads(2)
    tmp = Path({tmp!r})
    small = write_tokenization(tmp / "small", random_sequences(4, low=8, high=9))
    tokens = write_tokenization(tmp / "tok", random_sequences(32, low=128, high=129))
    model = tiny_causal_lm("llama", hidden_size=2048, intermediate_size=64, num_hidden_layers=4,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    points = "blocks.*.{{attn_out,mlp_out,resid_post}}"
    # warm-up: compiled statistics, torch's kernels; its small staging is let go
    preflight(model, small, points, out_dir=tmp / "s", measure_disk=False, batch_size=2)
    buffer_cache.clear()
    before = rss()
    report = preflight(model, tokens, points, out_dir=tmp / "s", measure_disk=False,
                       batch_size=16)
    after = rss()
    cached = buffer_cache.cached_bytes
    buffer_cache.clear()  # what the preflight left in the cache: RSS it gives back now
    released = after - rss()
    Path("/proc/self/clear_refs").write_text("5")  # the peak from here on: the run's
    shutil.rmtree(tmp / "s", ignore_errors=True)
    extract(model, tokens, points, out_dir=tmp / "s", batch_size=16)
    print(json.dumps({{"memory": report.memory, "shard_rows": report.shard_rows,
                      "cached": cached, "released": released, "growth": after - before,
                      "peak": peak()}}))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="VmHWM and clear_refs are Linux's")
def test_a_calibration_whose_run_lends_every_batch_leaves_no_staging_held(tmp_path: Path) -> None:
    """Default 256 MB shards of 48 kB rows (5,461 rows) and 2,048-row batches: every batch is
    lent. The calibration's staging (96 MB) was left in ``buffer_cache`` for a run that never
    takes it: held beside the run until the cache's idle limit. Now it is let go: nothing of it
    stays resident after the preflight, and the RAM figure without it is still not below the
    run's peak."""
    script = RSS_SCRIPT.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    staging = 2048 * 12 * 2048 * 2
    assert out["shard_rows"] > 2048
    assert out["cached"] == 0
    # RSS the cache gave back when cleared: the old code's 96 MB staging; now nothing (the
    # preflight's own growth, 120-200 MB, is mostly the heap the forward leaves, which the run
    # reuses: too noisy to bound by the staging)
    assert out["released"] < staging // 10, out
    assert out["memory"]["stagings"] == 0
    ratio = out["memory"]["ram_needed"] / out["peak"]
    assert 0.9 <= ratio <= 1.25, (ratio, out)  # measured 1.12
