"""A real CPU out-of-memory during extraction: the batch is halved, recorded, and the store is the
same as a batch-of-one run.

``test_extract.py`` covers the halving with a simulated ``torch.OutOfMemoryError`` (a CUDA
fault a CPU machine cannot cause). This one causes a real one, safely: a subprocess caps its own
address space (``RLIMIT_AS``) at what it already maps plus 512 MiB, so an eager-attention batch
of 4 x 2,500 tokens (400 MB per score matrix, and its softmax as much again) fails in torch's
CPU allocator ("can't allocate memory", a ``RuntimeError``) without the machine ever being
short of memory.

NOT covered here: CUDA (``test_cuda.py``), the writer running out of memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import json, re, resource, sys
    from pathlib import Path
    import numpy as np, torch
    sys.path.insert(0, {tests!r})
    from extract_helpers import random_sequences, write_tokenization
    from tiny_models import tiny_causal_lm
    from interpstudio.ml import extract, open_activations

    torch.set_num_threads(2)
    tmp = Path({tmp!r})
    length = 2500
    tokens = write_tokenization(tmp / "tok", random_sequences(4, low=length, high=length + 1))
    model = tiny_causal_lm("llama", max_position_embeddings=length + 8)
    point = "blocks.0.resid_post"
    options = dict(dtype="float32", durable=False)
    one = extract(model, tokens, point, out_dir=tmp / "one", batch_size=1, **options)
    mapped = int(re.search(r"VmSize:\\s+(\\d+)", Path("/proc/self/status").read_text())[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (1 << 29), resource.RLIM_INFINITY))
    four = extract(model, tokens, point, out_dir=tmp / "four", batch_size=4, **options)
    resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    same = np.array_equal(open_activations(one.path)[point][:],
                          open_activations(four.path)[point][:])
    print(json.dumps({{"events": four.oom_events, "final": four.batch_size_final,
                      "rows": four.rows, "same": bool(same), "status": four.status}}))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux's")
def test_a_real_cpu_out_of_memory_halves_the_batch_and_stores_the_same(tmp_path: Path) -> None:
    script = SCRIPT.format(tests=str(Path(__file__).parent), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "complete" and outcome["rows"] == 4 * 2500
    assert outcome["same"]
    events = outcome["events"]
    assert events and events[0]["sequences"] == 4 and events[0]["retry_with"] == 2
    assert all("can't allocate memory" in event["error"] for event in events)
    assert 1 <= outcome["final"] < 4
    assert [e["retry_with"] for e in events] == [4 >> k for k in range(1, len(events) + 1)]
