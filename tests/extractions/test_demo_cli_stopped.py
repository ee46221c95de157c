"""``interpstudio demo`` run again after its first step was stopped (slow: it imports the bundled
SmolLM2-135M GGUF), as real subprocesses in an empty data dir. Found by the CLI end-to-end QA."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "interpstudio", *args], env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_again_resumes_a_stopped_bundled_model_import(tmp_path: Path) -> None:
    """After Ctrl-C in step 1 (the bundled model's import cancelled), every later ``demo``
    followed that cancelled job and ended "job 1 cancelled: cancelled by user", exit 1: the
    model row of that file stays, so no new import was ever queued. Now ``demo`` resumes it.
    The import is stopped as a queued job cancelled (``--enqueue`` then ``jobs cancel``): the
    same cancelled job and model row as Ctrl-C leaves, without racing the import."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("INTERPSTUDIO_DATABASE_URL", None)
    queued = _cli(env, "models", "import-bundled", "--enqueue", "--json")
    assert queued.returncode == 0, queued.stderr
    model = json.loads(queued.stdout)
    cancelled = _cli(env, "jobs", "cancel", str(model["job_id"]))
    assert cancelled.returncode == 0, cancelled.stderr

    again = _cli(env, "demo", "--max-tokens", "64")
    assert again.returncode == 0, again.stdout + again.stderr
    assert (f"resuming its import (model {model['id']}, job {model['job_id']}, cancelled)"
            in again.stdout)
    assert "done: 64 rows x 30 hook points" in again.stdout
    shown = json.loads(_cli(env, "models", "show", str(model["id"]), "--json").stdout)
    assert shown["status"] == "ready"
