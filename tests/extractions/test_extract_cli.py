"""``interpstudio extract`` as a real subprocess on the test world's database and data dir:
dry run (preflight only), a full run with JSON output, ``--dataset`` picking the tokenization made
with the model's tokenizer, and a refusal with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ExtractionWorld
from interpstudio.ml import open_activations


def run_cli(world: ExtractionWorld, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(world.settings.data_dir),
           "INTERPSTUDIO_DATABASE_URL": world.settings.resolved_database_url}
    return subprocess.run([sys.executable, "-m", "interpstudio", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_extract_cli_dry_run_then_full_run(world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization(repeat=4)
    common = ["extract", "--model", str(world.model_id), "--hooks", "blocks.*.resid_post",
              "--hooks", "blocks.{0,1}.mlp_out", "--batch-size", "4", "--device", "cpu"]
    dry = run_cli(world, *common, "--tokenization", str(tokenization_id), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["hook_points"] == ["blocks.0.mlp_out", "blocks.0.resid_post",
                                     "blocks.1.mlp_out", "blocks.1.resid_post"]

    done = run_cli(world, *common, "--dataset", str(world.dataset_id), "--json")
    assert done.returncode == 0, done.stderr
    extraction = json.loads(done.stdout)
    assert extraction["status"] == "complete" and extraction["tokenization_id"] == tokenization_id
    assert extraction["counts"]["bytes"] == report["bytes"]["shard_files"]
    store = world.settings.data_dir / extraction["path"] / "store"
    assert open_activations(store).rows == report["plan"]["rows"]

    human = run_cli(world, *common, "--tokenization", str(tokenization_id))
    assert human.returncode == 0, human.stderr
    assert "open_activations(" in human.stdout and "bound" in human.stderr


def test_extract_cli_refuses_an_unknown_hook_kind_with_exit_2(world: ExtractionWorld) -> None:
    tokenization_id = world.tokenization()
    result = run_cli(world, "extract", "--model", str(world.model_id), "--tokenization",
                     str(tokenization_id), "--hooks", "blocks.0.residual")
    assert result.returncode == 2
    assert "resid_post" in result.stderr and "Traceback" not in result.stderr
