"""pytest fixtures for the local test hub, tiny models and the tiny dataset.

What it is: a pytest plugin. Register it once in tests/conftest.py with
`pytest_plugins = ["hub_server.fixtures"]`. Provides:

- `tiny_model_factory` (session): `factory(arch="llama") -> Path`, each arch built once per run;
- `tiny_llama_dir`, `tiny_gpt2_dir`, `tiny_gpt_neox_dir`, `tiny_qwen2_dir` (session);
- `tiny_dataset_dir` (session): parquet + jsonl of the tiny dataset;
- `hub` (function): a started `HubServer`, stopped after the test, with huggingface_hub's token
  lookup pointed away from any real login (no ambient HF_TOKEN or token file leaks in);
- `hf_cache_dir` (function): an empty folder to pass as `cache_dir=`;
- `hub_env` (function): env vars (HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, ...) for subprocesses,
  also applied to this process's os.environ.

What it is NOT: it does not change huggingface_hub's import-time constants: in-process code must
pass `endpoint=hub.url` (HF_ENDPOINT is read once, when huggingface_hub is imported).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub_server.server import HubServer
from hub_server.tiny_datasets import build_tiny_dataset
from hub_server.tiny_models import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Build each tiny arch (default settings, seed 0) at most once per test session."""
    built: dict[str, Path] = {}

    def factory(arch: str = "llama") -> Path:
        if arch not in built:
            built[arch] = build_tiny_model(tmp_path_factory.mktemp(f"tiny-{arch}"), arch)
        return built[arch]

    return factory


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_model_factory: Callable[[str], Path]) -> Path:
    return tiny_model_factory("llama")


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tiny_model_factory: Callable[[str], Path]) -> Path:
    return tiny_model_factory("gpt2")


@pytest.fixture(scope="session")
def tiny_gpt_neox_dir(tiny_model_factory: Callable[[str], Path]) -> Path:
    return tiny_model_factory("gpt_neox")


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tiny_model_factory: Callable[[str], Path]) -> Path:
    return tiny_model_factory("qwen2")


@pytest.fixture(scope="session")
def tiny_dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_dataset(tmp_path_factory.mktemp("tiny-dataset"))


@pytest.fixture
def hub(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubServer]:
    """A running local hub; requests made by huggingface_hub carry no token unless given one."""
    from huggingface_hub import constants

    no_login = tmp_path_factory.mktemp("no-hf-login")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(no_login / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(no_login / "stored_tokens"))
    with HubServer() as server:
        yield server
    assert not server.server_errors, f"the test hub itself failed: {server.server_errors!r}"


@pytest.fixture
def hf_cache_dir(tmp_path: Path) -> Path:
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    return cache


@pytest.fixture
def hub_env(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a process that should talk only to `hub` and cache under tmp_path."""
    env = {
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_CACHE": str(tmp_path / "hf-home" / "hub"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return env
