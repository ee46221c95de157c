"""``interpstudio demo`` run again after its first or its last step was stopped (slow: it
imports the bundled SmolLM2-135M GGUF), as real subprocesses in an empty data dir. Found by the
CLI end-to-end QA."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def _newest_extract_job(data_dir: Path) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from interpstudio.db.models import Job

    database = data_dir / "interpstudio.db"
    if not database.exists():
        return None
    engine = create_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            return (session.query(Job).filter(Job.kind == "extract").order_by(Job.id.desc())
                    .first())
    except OperationalError:  # the command is still migrating its new database
        return None
    finally:
        engine.dispose()


@pytest.mark.slow
def test_demo_again_resumes_its_extraction_stopped_by_ctrl_c(tmp_path: Path) -> None:
    """After Ctrl-C in step 4 (its extraction cancelled), ``demo`` again started a new
    extraction from nothing beside the stopped one; now it resumes that one and says so. Ctrl-C
    is the SIGINT a terminal sends the command, sent once the extraction job is extracting."""
    data_dir = tmp_path / "data"
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    env.pop("INTERPSTUDIO_DATABASE_URL", None)
    demo = subprocess.Popen([sys.executable, "-m", "interpstudio", "demo", "--max-tokens",
                             "4096"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 600
        while demo.poll() is None and time.monotonic() < deadline:
            job = _newest_extract_job(data_dir)
            if job is not None and job.stage == "extract":
                demo.send_signal(signal.SIGINT)
                break
            time.sleep(0.2)
        said, _ = demo.communicate(timeout=300)
    finally:
        if demo.poll() is None:
            demo.kill()
    stopped = _newest_extract_job(data_dir)
    assert demo.returncode == 1 and stopped is not None, said
    assert stopped.state == "cancelled", said

    again = _cli(env, "demo", "--max-tokens", "4096")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"resuming extraction 1 (job {stopped.id}, cancelled)" in again.stdout, again.stdout
    assert "done: 4,096 rows x 30 hook points" in again.stdout
    listed = json.loads(_cli(env, "extractions", "list", "--json").stdout)
    assert listed["total"] == 1, listed  # the stopped one finished, no copy beside it
    assert listed["items"][0]["status"] == "complete"
    assert listed["items"][0]["job_id"] == stopped.id


@pytest.mark.slow
def test_demo_follows_its_extraction_already_under_way_instead_of_failing(tmp_path: Path) -> None:
    """The web UI's "Run the demo", clicked while this command imported and tokenized, followed
    the same jobs and then raced it to create the same extraction; when the page's create won,
    ``demo`` ended "extraction N with the same configuration is running ...", exit 1 (found by
    a browser walk). Now it follows that run: queued (no worker here), it runs it itself. The
    page's create is stood in for by ``extract --enqueue`` of the demo's request."""
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env.pop("INTERPSTUDIO_DATABASE_URL", None)
    first = _cli(env, "demo", "--max-tokens", "64", "--json")  # the model, text, tokenization
    assert first.returncode == 0, first.stdout + first.stderr
    made = json.loads(first.stdout)
    queued = _cli(env, "extract", "--model", str(made["model_id"]), "--tokenization",
                  str(made["tokenization_id"]), "--hooks", "blocks.*.resid_post",
                  "--batch-size", "8", "--max-tokens", "128", "--dtype", "float16",
                  "--name", "demo: all layers", "--enqueue", "--json")
    assert queued.returncode == 0, queued.stdout + queued.stderr
    underway = json.loads(queued.stdout)

    demo = _cli(env, "demo", "--max-tokens", "128")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (f"extraction {underway['id']} of the same request is under way"
            in demo.stdout), demo.stdout
    assert "done: 128 rows x 30 hook points" in demo.stdout
    listed = json.loads(_cli(env, "extractions", "list", "--json").stdout)
    assert listed["total"] == 2, listed  # the 64-token one and the one followed: no copy
    assert {e["status"] for e in listed["items"]} == {"complete"}
