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

NOT covered here: CUDA (``test_cuda.py`` checks the VRAM figure there), the preflight's bytes and
time (``test_extract.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
