"""huggingface_hub's own ``HF_ENDPOINT`` reaches the app: a researcher who set it for every tool
(a mirror, a proxy) saw ``models pull`` go to huggingface.co instead, which only
``INTERPSTUDIO_HF_ENDPOINT`` changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub_server import HubServer
from interpstudio.core.settings import SettingsError, get_settings


def test_hf_endpoint_is_read_and_interpstudio_s_own_variable_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERPSTUDIO_HF_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example/")
    assert get_settings().hf_endpoint == "https://hf-mirror.example"
    monkeypatch.setenv("INTERPSTUDIO_HF_ENDPOINT", "http://127.0.0.1:5555")
    assert get_settings().hf_endpoint == "http://127.0.0.1:5555"
    # an explicit value (tests, the app factory) still counts by the field's name
    assert get_settings(hf_endpoint="http://10.0.0.1").hf_endpoint == "http://10.0.0.1"


def test_a_bad_hf_endpoint_is_named_as_the_variable_that_was_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("INTERPSTUDIO_HF_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "hf-mirror.example")
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert info.value.message.startswith("invalid settings: HF_ENDPOINT: ")
    monkeypatch.setenv("INTERPSTUDIO_HF_ENDPOINT", "ftp://x")
    with pytest.raises(SettingsError) as info:
        get_settings()
    assert "INTERPSTUDIO_HF_ENDPOINT: " in info.value.message


def test_the_cli_reaches_the_hub_hf_endpoint_names(tmp_path: Path, hub: HubServer,
                                                   tiny_repo: str) -> None:
    env = {**os.environ, "INTERPSTUDIO_DATA_DIR": str(tmp_path / "data"), "HF_ENDPOINT": hub.url}
    env.pop("INTERPSTUDIO_HF_ENDPOINT", None)
    env.pop("HF_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "interpstudio", "models", "preflight", "org/tiny", "--json"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["commit_sha"] == tiny_repo
