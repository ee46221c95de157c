"""``models cancel`` and ``jobs cancel`` of a queued gated download remove its access token, as
the REST cancels do: the CLI's cancels left ``tmp/tokens/job-N.token`` in the data dir, where any
later resume of that download used it, even one given no token (found by the security audit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_server import HubServer

TOKEN = "hf_cli_cancel_0123456789abcdef"


def run_cli(tmp_path: Path, hub: HubServer, group: str, *args: str) -> str:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"),
           "INTERPSTUDIO_HF_ENDPOINT": hub.url}
    env.pop("HF_TOKEN", None)
    done = subprocess.run([sys.executable, "-m", "interpstudio", group, *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("cancel", ["models", "jobs"])
def test_a_cli_cancel_of_a_queued_gated_download_leaves_no_token(
        tmp_path: Path, hub: HubServer, tiny_llama_dir: Path, cancel: str) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token=TOKEN)
    queued = json.loads(run_cli(tmp_path, hub, "models", "pull", "org/gated", "--token", TOKEN,
                                "--enqueue", "--json"))
    tokens = tmp_path / "data" / "tmp" / "tokens"
    assert [p.read_text() for p in tokens.iterdir()] == [TOKEN]  # handed to the queued job
    if cancel == "models":
        run_cli(tmp_path, hub, "models", "cancel", str(queued["id"]))
    else:
        run_cli(tmp_path, hub, "jobs", "cancel", str(queued["job_id"]))
    assert list(tokens.iterdir()) == []
