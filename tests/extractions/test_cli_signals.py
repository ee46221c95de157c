"""Signals to a CLI that follows its extraction. SIGTERM (``timeout``, ``kill``, a batch
scheduler's time limit) stops the job as Ctrl-C does: cancelled, a valid partial store, the resume
hint; Python's default SIGTERM killed the process at once: the job stayed "running" until a sweep
marked it "interrupted: worker process died". After a kill -9 (no statistics, no top tokens yet),
``extractions show`` printed their paths all the same and a Python line that fails."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from test_cli_first_minutes import cli_env, newest_extract_job

from extraction_world import ExtractionWorld
from interpstudio.db.models import Extraction
from interpstudio.ml import open_activations


def extract_until_shards_are_written(world: ExtractionWorld, sig: int,
                                     shard_rows: int = 32) -> tuple[int, str]:
    """``interpstudio extract`` (no terminal) sent ``sig`` once it has extracted 64 tokens (whole
    shards of ``shard_rows``); returns its exit code and stderr."""
    tokenization_id = world.tokenization(repeat=300)  # 1,500 sequences: seconds at batch 1
    cli = subprocess.Popen(
        [sys.executable, "-m", "interpstudio", "extract", "--model", str(world.model_id),
         "--tokenization", str(tokenization_id), "--hooks", "blocks.*.resid_post",
         "--batch-size", "1", "--shard-rows", str(shard_rows), "--device", "cpu"],
        env=cli_env(world), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and cli.poll() is None:
            job = newest_extract_job(world)
            if job is not None and job.stage == "extract" and (job.done or 0) >= 64:
                break
            time.sleep(0.1)
        assert cli.poll() is None, cli.communicate()
        cli.send_signal(sig)
        _, err = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    return cli.returncode, err


def test_sigterm_cancels_the_followed_extraction_and_keeps_a_valid_partial_store(
    world: ExtractionWorld,
) -> None:
    code, err = extract_until_shards_are_written(world, signal.SIGTERM)
    assert code == 1, err[-2000:]
    job = newest_extract_job(world)
    assert job is not None and job.state == "cancelled", err[-2000:]
    assert f"`interpstudio jobs resume {job.id}` continues it" in err
    with world.factory() as session:
        extraction = session.query(Extraction).filter(Extraction.job_id == job.id).one()
        store = world.settings.data_dir / extraction.path / "store"
    kept = open_activations(store)
    assert kept.rows % 32 == 0 and kept.rows < job.total
    kept.verify()


def test_show_of_a_killed_run_names_no_statistics_it_does_not_have(world: ExtractionWorld) -> None:
    code, _ = extract_until_shards_are_written(world, signal.SIGKILL)
    assert code == -signal.SIGKILL
    job = newest_extract_job(world)
    assert job is not None
    with world.factory() as session:
        extraction = session.query(Extraction).filter(Extraction.job_id == job.id).one()
        extraction_id, store = extraction.id, world.settings.data_dir / extraction.path / "store"
    assert not (store / "stats.json").exists()
    shown = subprocess.run([sys.executable, "-m", "interpstudio", "extractions", "show",
                            str(extraction_id)], env=cli_env(world, COLUMNS="200"),
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    hint = f"(none yet: written when the run finishes; `interpstudio jobs resume {job.id}` " \
           "continues it)"
    assert f"statistics {hint}" in shown.stdout and f"top tokens {hint}" in shown.stdout
    assert "stats.json" not in shown.stdout and "acts.stats" not in shown.stdout
    python = shown.stdout[shown.stdout.index("from interpstudio.ml import"):]
    pasted = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True,
                            timeout=120)
    assert pasted.returncode == 0, pasted.stderr  # every printed line runs on this store


def test_show_of_a_run_stopped_before_its_first_shard_says_nothing_is_stored(
    world: ExtractionWorld,
) -> None:
    """It printed the statistics of 0 rows and the lines to open them, as if there were data."""
    code, err = extract_until_shards_are_written(world, signal.SIGTERM, shard_rows=1_000_000)
    assert code == 1, err[-2000:]
    job = newest_extract_job(world)
    assert job is not None and job.state == "cancelled"
    with world.factory() as session:
        extraction_id = session.query(Extraction).filter(Extraction.job_id == job.id).one().id
    shown = subprocess.run([sys.executable, "-m", "interpstudio", "extractions", "show",
                            str(extraction_id)], env=cli_env(world, COLUMNS="200"),
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert ("nothing stored yet: the run stopped before its first whole shard; "
            f"`interpstudio jobs resume {job.id}` starts it again") in shown.stdout
    assert "stats.json" not in shown.stdout and "open_activations" not in shown.stdout
