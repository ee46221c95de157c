"""``interpstudio models ...`` as a real subprocess against the local hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hub_server import HubServer


def run_cli(tmp_path: Path, hub: HubServer, *args: str,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_HF_ENDPOINT": hub.url,
           "INTERPSTUDIO_IMPORT_ROOTS": json.dumps([str(tmp_path / "imports")]),
           "COLUMNS": "200"}
    env.pop("HF_TOKEN", None)
    result = subprocess.run([sys.executable, "-m", "interpstudio", "models", *args], env=env,
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_pull_list_show_arch_rm(tmp_path: Path, hub: HubServer, tiny_repo: str) -> None:
    preflight = json.loads(run_cli(tmp_path, hub, "preflight", "org/tiny", "--json").stdout)
    assert preflight["commit_sha"] == tiny_repo
    pulled = json.loads(run_cli(tmp_path, hub, "pull", "org/tiny", "--precision", "q8",
                                "--json").stdout)
    assert pulled["status"] == "ready" and pulled["precision_used"] == "q8"
    listing = json.loads(run_cli(tmp_path, hub, "list", "--json").stdout)
    assert listing["total"] == 1
    table = run_cli(tmp_path, hub, "list").stdout
    assert "org/tiny" in table and "exact" in table
    # the probe ran in fp32: the row at q8 names it, with q8's own drift (it read "q8 ... exact")
    assert "fp32 exact" in table and "q8 cos " in table
    shown = run_cli(tmp_path, hub, "show", str(pulled["id"])).stdout
    assert f"org/tiny@{tiny_repo}" in shown.replace("\n", "")
    arch = json.loads(run_cli(tmp_path, hub, "arch", str(pulled["id"]), "--json").stdout)
    assert len(arch["layers"]) == 2
    tree = run_cli(tmp_path, hub, "arch", str(pulled["id"])).stdout
    assert "LlamaForCausalLM" in tree and "resid_post" in tree
    unconfirmed = run_cli(tmp_path, hub, "rm", str(pulled["id"]), check=False)  # no terminal
    assert unconfirmed.returncode == 2 and "pass --yes" in unconfirmed.stderr
    assert json.loads(run_cli(tmp_path, hub, "list", "--json").stdout)["total"] == 1
    run_cli(tmp_path, hub, "rm", str(pulled["id"]), "--yes")
    assert json.loads(run_cli(tmp_path, hub, "list", "--json").stdout)["total"] == 0


def test_import_and_clear_errors(tmp_path: Path, hub: HubServer, tiny_llama_dir: Path) -> None:
    shutil.copytree(tiny_llama_dir, tmp_path / "imports" / "m")
    imported = json.loads(run_cli(tmp_path, hub, "import", str(tmp_path / "imports" / "m"),
                                  "--json").stdout)
    assert imported["status"] == "ready" and imported["source"] == "local"
    outside = run_cli(tmp_path, hub, "import", str(tiny_llama_dir), check=False)
    assert outside.returncode == 2 and "outside the allowed roots" in outside.stderr
    # it says which folders are allowed and how to add one
    assert str(tmp_path / "imports") in outside.stderr
    assert "INTERPSTUDIO_IMPORT_ROOTS" in outside.stderr
    missing = run_cli(tmp_path, hub, "pull", "org/absent", check=False)
    assert missing.returncode == 2 and "was not found" in missing.stderr
    assert "Traceback" not in missing.stderr + outside.stderr


def test_import_names_the_files_a_folder_import_leaves_out(tmp_path: Path, hub: HubServer,
                                                          tiny_llama_dir: Path) -> None:
    """A folder is read from its top level only; the files it leaves out were not mentioned."""
    source = shutil.copytree(tiny_llama_dir, tmp_path / "imports" / "m")
    (source / "original").mkdir()
    (source / "original" / "consolidated.00.pth").write_bytes(b"weights of another format")
    queued = run_cli(tmp_path, hub, "import", str(source), "--enqueue")
    assert ("left out 1 file not at the folder's top level, of other formats or a second copy "
            "of the weights: original/consolidated.00.pth") in queued.stderr


@pytest.mark.slow  # five CLI processes, each importing torch (~1 min on 2 shared cores)
def test_enqueue_pause_then_resume_runs_to_ready(tmp_path: Path, hub: HubServer,
                                                 tiny_repo: str) -> None:
    queued = json.loads(run_cli(tmp_path, hub, "pull", "org/tiny", "--enqueue", "--json").stdout)
    assert queued["status"] == "queued"
    paused = json.loads(run_cli(tmp_path, hub, "cancel", str(queued["id"]), "--pause",
                                "--json").stdout)
    assert paused["status"] == "paused"
    again = run_cli(tmp_path, hub, "pull", "org/tiny", "--json")
    assert json.loads(again.stdout)["id"] == queued["id"]
    assert f"interpstudio models resume {queued['id']}" in again.stderr
    resumed = json.loads(run_cli(tmp_path, hub, "resume", str(queued["id"]), "--json").stdout)
    assert resumed["status"] == "ready"


def test_adding_a_model_again_at_another_precision_says_it_was_not_applied(
        tmp_path: Path, hub: HubServer, tiny_llama_dir: Path) -> None:
    source = shutil.copytree(tiny_llama_dir, tmp_path / "imports" / "m")
    first = json.loads(run_cli(tmp_path, hub, "import", str(source), "--json").stdout)
    assert first["precision_used"] == "fp32"
    again = run_cli(tmp_path, hub, "import", str(source), "--precision", "q8", "--json")
    assert json.loads(again.stdout)["precision_used"] == "fp32"  # unchanged, and it says so
    said = " ".join(again.stderr.split())
    assert f"model {first['id']} already exists (ready)" in said
    assert f"--precision q8 was not applied: model {first['id']} stays at fp32" in said
    assert f"interpstudio extract --model {first['id']} --precision q8" in said
    same = run_cli(tmp_path, hub, "import", str(source))  # the model's own precision: no word
    assert "not applied" not in same.stderr


def test_adding_again_a_model_whose_import_crashed_shows_it_failed(
        tmp_path: Path, hub: HubServer, tiny_llama_dir: Path) -> None:
    """The inspect stage fails with transformers' RuntimeError (MLP width of the config unlike
    the weights'): the row stayed ``importing`` and adding it again said so."""
    source = shutil.copytree(tiny_llama_dir, tmp_path / "imports" / "m")
    config = json.loads((source / "config.json").read_text())
    (source / "config.json").write_text(json.dumps({**config, "intermediate_size": 96}))
    failed = run_cli(tmp_path, hub, "import", str(source), check=False)
    assert failed.returncode == 1
    again = run_cli(tmp_path, hub, "import", str(source), "--json")
    said = " ".join(again.stderr.split())
    assert "already exists (failed); continue it with `interpstudio models resume" in said
    assert json.loads(again.stdout)["status"] == "failed"


def test_a_followed_pull_paused_from_another_command_says_paused(
        tmp_path: Path, hub: HubServer, big_repo: str) -> None:
    """It printed "job N cancelled: cancelled by user" although the model was paused and its
    partial files kept (findings F12)."""
    import time

    hub.faults.set_throttle(1_000_000)
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_HF_ENDPOINT": hub.url, "COLUMNS": "200"}
    env.pop("HF_TOKEN", None)
    pull = subprocess.Popen([sys.executable, "-m", "interpstudio", "models", "pull", "org/big"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        partial = tmp_path / "data" / "models" / "1" / "checkpoint" / \
            "model.safetensors.incomplete"
        deadline = time.monotonic() + 120
        while not (partial.exists() and partial.stat().st_size > 1_000_000):
            assert pull.poll() is None and time.monotonic() < deadline, pull.communicate()
            time.sleep(0.1)
        run_cli(tmp_path, hub, "cancel", "1", "--pause")
        _, stderr = pull.communicate(timeout=120)
    finally:
        if pull.poll() is None:
            pull.kill()
    said = " ".join(stderr.split())
    assert pull.returncode == 1
    assert "model 1 paused (job 1); its partial files are kept" in said
    assert "interpstudio models resume 1" in said and "cancelled by user" not in said
    assert partial.exists()
