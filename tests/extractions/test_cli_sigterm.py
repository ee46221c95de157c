"""SIGTERM to a CLI that follows its extraction (``timeout``, ``kill``, a batch scheduler's time
limit) stops the job as Ctrl-C does: cancelled, a valid partial store, the resume hint. Python's
default SIGTERM killed the process at once: the job stayed "running" until a sweep marked it
"interrupted: worker process died"."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from test_cli_first_minutes import cli_env, newest_extract_job

from extraction_world import ExtractionWorld
from interpstudio.db.models import Extraction
from interpstudio.ml import open_activations


def test_sigterm_cancels_the_followed_extraction_and_keeps_a_valid_partial_store(
    world: ExtractionWorld,
) -> None:
    tokenization_id = world.tokenization(repeat=300)  # 1,500 sequences: seconds at batch 1
    cli = subprocess.Popen(
        [sys.executable, "-m", "interpstudio", "extract", "--model", str(world.model_id),
         "--tokenization", str(tokenization_id), "--hooks", "blocks.*.resid_post",
         "--batch-size", "1", "--shard-rows", "32", "--device", "cpu"],
        env=cli_env(world), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and cli.poll() is None:
            job = newest_extract_job(world)
            if job is not None and job.stage == "extract" and (job.done or 0) >= 64:
                break
            time.sleep(0.1)
        assert cli.poll() is None, cli.communicate()
        cli.send_signal(signal.SIGTERM)
        _, err = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 1, err[-2000:]
    job = newest_extract_job(world)
    assert job is not None and job.state == "cancelled", err[-2000:]
    assert f"`interpstudio jobs resume {job.id}` continues it" in err
    with world.factory() as session:
        extraction = session.query(Extraction).filter(Extraction.job_id == job.id).one()
        store = world.settings.data_dir / extraction.path / "store"
    kept = open_activations(store)
    assert kept.rows % 32 == 0 and kept.rows < job.total
    kept.verify()
