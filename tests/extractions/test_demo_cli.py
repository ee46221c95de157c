"""``interpstudio demo`` as a real subprocess in an empty data dir (slow: it imports the bundled
SmolLM2-135M GGUF): every step runs, the bundled text is tokenized packed into 256-token windows,
and the store it reports holds every layer's resid_post; run again, it reuses what it made, the
complete extraction of the same request too (``--fresh`` extracts again)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interpstudio.ml import open_activations


@pytest.mark.slow
def test_demo_runs_every_step_on_packed_windows(tmp_path: Path) -> None:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data")}
    env.pop("INTERPSTUDIO_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-m", "interpstudio", "demo", "--max-tokens", "512",
                           "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "complete" and result["counts"]["rows"] == 512
    acts = open_activations(tmp_path / "data" / result["path"] / "store")
    assert sorted(acts) == sorted(f"blocks.{i}.resid_post" for i in range(30))
    tokens = acts.tokens[:]
    # packed: two whole 256-token windows of the play, not 60-odd lines of ~9 tokens
    assert sorted(set(tokens[:, 1].tolist())) == [0, 1]
    assert tokens[:, 2].tolist() == list(range(256)) * 2

    # run again: every step before the extraction reuses what exists, and says which, without
    # a hint at options that only `extract` has (it said "--max-length / --mode pick or make
    # another"; demo has neither)
    again = subprocess.run([sys.executable, "-m", "interpstudio", "demo", "--max-tokens", "256"],
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "using tokenization" in again.stdout and "--max-length" not in again.stdout
    # steps 1 and 2 said nothing at all (found walking the README: "it reuses the model, text
    # and tokenization", step 3 alone said so)
    assert f"using model {result['spec']['model_id']} (imported before)" in again.stdout
    assert "using dataset 1 (imported before)" in again.stdout
    assert "tokenizing" not in again.stdout and "done: 256 rows x 30 hook points" in again.stdout

    # the same request as the first run: its complete extraction is reused, not made again
    # (~143 MB and half a minute each at 4,096 tokens), with the paths and Python lines to open
    # it; found by a tester: every run after a complete one extracted again
    third = subprocess.run([sys.executable, "-m", "interpstudio", "demo", "--max-tokens", "512"],
                           env={**env, "COLUMNS": "200"}, capture_output=True, text=True,
                           timeout=600)
    assert third.returncode == 0, third.stderr
    assert (f"already extracted: extraction {result['id']} (the same model, tokens and hook "
            "points); `interpstudio demo --fresh` extracts again") in third.stdout, third.stdout
    assert "done: 512 rows x 30 hook points" in third.stdout
    store = tmp_path / "data" / result["path"] / "store"
    assert f"open_activations({str(store)!r})" in third.stdout
    assert f"statistics {store / 'stats.json'}" in " ".join(third.stdout.split())
    listed = subprocess.run([sys.executable, "-m", "interpstudio", "extractions", "list",
                             "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(listed.stdout)["total"] == 2  # 512 and 256 tokens, no copy
    fresh = subprocess.run([sys.executable, "-m", "interpstudio", "demo", "--max-tokens", "512",
                            "--fresh", "--json"], env=env, capture_output=True, text=True,
                           timeout=600)
    assert fresh.returncode == 0, fresh.stderr
    made = json.loads(fresh.stdout)
    assert made["status"] == "complete" and made["id"] not in (result["id"], 2)
