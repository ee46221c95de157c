"""Preflight against the real local hub: the facts it reports, and a clear error for every bad
input of issue 3 item 12 that exists before a weight byte moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from safetensors.torch import load_file

from helpers import small_filesystem
from hub_server import HubServer
from interpstudio.core.errors import InsufficientDisk
from interpstudio.ml.hub_errors import (
    GatedRepo,
    InvalidRepoId,
    MissingConfig,
    NoWeightFiles,
    RepoNotFound,
    RevisionNotFound,
)
from interpstudio.ml.hub_preflight import DISK_MARGIN_BYTES, run_preflight
from interpstudio.ml.memory import PRECISIONS
from interpstudio.ml.model_support import UnsupportedArchitecture


def _preflight(hub: HubServer, repo: str, tmp_path: Path, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("revision", "main")
    kwargs.setdefault("dest", tmp_path / "models")
    return run_preflight(repo_id=repo, endpoint=hub.url, **kwargs)


def test_preflight_reports_files_commit_params_and_memory(
        hub: HubServer, tiny_repo: str, tiny_llama_dir: Path, tmp_path: Path) -> None:
    result = _preflight(hub, "org/tiny", tmp_path)
    assert result.commit_sha == tiny_repo and result.key == f"org/tiny@{tiny_repo}"
    local = {p.name: p.stat().st_size for p in tiny_llama_dir.iterdir() if p.is_file()}
    assert {f.path: f.size for f in result.files} == local
    assert result.total_bytes == sum(local.values())
    weights = next(f for f in result.files if f.path == "model.safetensors")
    assert weights.sha256 and len(weights.sha256) == 64
    tensors = load_file(tiny_llama_dir / "model.safetensors")
    assert result.parameter_count == sum(t.numel() for t in tensors.values())
    assert result.safetensors_parameter_count == result.parameter_count
    assert (result.model_type, result.n_layers, result.d_model, result.vocab_size) == (
        "llama", 2, 64, 1000)
    assert list(result.memory_estimates) == list(PRECISIONS)
    estimates = result.memory_estimates
    assert estimates["fp32"] > estimates["bf16"] > estimates["q8"] > estimates["q4"] > estimates[
        "q2"]
    assert not result.gated and result.disk_free_bytes > result.disk_needed_bytes
    assert result.config["model_type"] == "llama"
    assert hub.bytes_served("model.safetensors") == 0  # not one weight byte moved


def test_revision_resolves_to_its_commit_and_two_orgs_never_collide(
        hub: HubServer, tiny_llama_dir: Path, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    first = hub.add_model("alice/model", tiny_llama_dir)
    second = hub.add_model("bob/model", tiny_gpt2_dir)
    v2 = hub.add_model("alice/model", tiny_gpt2_dir, revision="v2")
    keys = {_preflight(hub, "alice/model", tmp_path).key,
            _preflight(hub, "bob/model", tmp_path).key,
            _preflight(hub, "alice/model", tmp_path, revision="v2").key}
    assert keys == {f"alice/model@{first}", f"bob/model@{second}", f"alice/model@{v2}"}
    assert _preflight(hub, "alice/model", tmp_path, revision=first[:10]).commit_sha == first


@pytest.mark.parametrize("repo_id", ["no-slash", "a/b/c", "bad name/x", "org/--x--", ""])
def test_malformed_repo_id_is_refused(hub: HubServer, tmp_path: Path, repo_id: str) -> None:
    with pytest.raises(InvalidRepoId) as info:
        _preflight(hub, repo_id, tmp_path)
    assert info.value.status == 422 and "org/name" in info.value.message
    assert hub.requests == []


def test_unknown_repo_and_revision_are_not_found(hub: HubServer, tiny_repo: str,
                                                 tmp_path: Path) -> None:
    with pytest.raises(RepoNotFound) as repo:
        _preflight(hub, "org/nope", tmp_path)
    assert repo.value.status == 404 and "give an access token" in repo.value.message
    with pytest.raises(RevisionNotFound) as revision:
        _preflight(hub, "org/tiny", tmp_path, revision="no-such-branch")
    assert revision.value.status == 404 and "no-such-branch" in revision.value.message


def test_private_repo_without_token_looks_missing_and_works_with_it(
        hub: HubServer, tiny_llama_dir: Path, tmp_path: Path) -> None:
    hub.add_model("org/secret", tiny_llama_dir, private=True, token="hf_secret")
    with pytest.raises(RepoNotFound):
        _preflight(hub, "org/secret", tmp_path)
    assert _preflight(hub, "org/secret", tmp_path, token="hf_secret").private


def test_gated_repo_asks_for_a_token_with_the_access_link(
        hub: HubServer, tiny_llama_dir: Path, tmp_path: Path) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token="hf_ok")
    with pytest.raises(GatedRepo) as info:
        _preflight(hub, "org/gated", tmp_path)
    assert info.value.details == {"repo_id": "org/gated", "access_url": f"{hub.url}/org/gated",
                                  "token_given": False, "docs": info.value.details["docs"]}
    with pytest.raises(GatedRepo) as wrong:
        _preflight(hub, "org/gated", tmp_path, token="hf_bad")
    assert wrong.value.status == 403 and "hf_bad" not in json.dumps(wrong.value.to_dict())
    assert _preflight(hub, "org/gated", tmp_path, token="hf_ok").gated


def test_missing_config_is_refused(hub: HubServer, tiny_llama_dir: Path, tmp_path: Path) -> None:
    hub.add_model("org/noconfig", {"model.safetensors": tiny_llama_dir / "model.safetensors"})
    with pytest.raises(MissingConfig) as info:
        _preflight(hub, "org/noconfig", tmp_path)
    assert info.value.status == 422 and "config.json" in info.value.message


def test_encoder_only_model_is_refused_naming_supported_families(
        hub: HubServer, tiny_llama_dir: Path, tmp_path: Path) -> None:
    bert = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
            "vocab_size": 1000}
    hub.add_model("org/bert", {"config.json": json.dumps(bert),
                               "model.safetensors": tiny_llama_dir / "model.safetensors"})
    with pytest.raises(UnsupportedArchitecture) as info:
        _preflight(hub, "org/bert", tmp_path)
    assert "'bert' is not supported" in info.value.message and "llama" in info.value.message
    assert hub.bytes_served("model.safetensors") == 0


def test_repo_without_weights_is_refused(hub: HubServer, tiny_llama_dir: Path,
                                         tmp_path: Path) -> None:
    hub.add_model("org/empty", {"config.json": (tiny_llama_dir / "config.json").read_bytes()})
    with pytest.raises(NoWeightFiles):
        _preflight(hub, "org/empty", tmp_path)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1MiB tmpfs to fill up."""
    with small_filesystem(tmp_path / "tiny_disk", "1M") as mount_point:
        yield mount_point


def test_not_enough_free_disk_is_refused_before_downloading(
        hub: HubServer, big_repo: str, tmp_path: Path, tiny_disk: Path) -> None:
    with pytest.raises(InsufficientDisk) as info:
        _preflight(hub, "org/big", tmp_path, dest=tiny_disk / "models")
    assert info.value.status == 507
    assert info.value.details["needed_bytes"] > info.value.details["free_bytes"]
    assert hub.bytes_served("model.safetensors") == 0


def test_transient_5xx_on_metadata_is_retried(hub: HubServer, tiny_repo: str,
                                              tmp_path: Path) -> None:
    hub.faults.fail_requests(status=503, times=2)  # any request, the API calls included
    assert _preflight(hub, "org/tiny", tmp_path).commit_sha == tiny_repo
    assert [r.status for r in hub.requests][:2] == [503, 503]


def test_the_disk_check_counts_the_quantized_layers_the_import_keeps(
        hub: HubServer, tiny_repo: str, tmp_path: Path) -> None:
    """A q4 / q2 import keeps its packed layers on disk (the quantized cache): they count in
    the disk needed, each at the model's estimate at that precision; q8 and floats keep none."""
    plain = _preflight(hub, "org/tiny", tmp_path)
    assert plain.quantized_cache_bytes == 0
    kept = _preflight(hub, "org/tiny", tmp_path, precisions=["q4", "q8", "q2", "q4", "bf16"])
    estimates = kept.memory_estimates
    assert kept.quantized_cache_bytes == estimates["q4"] + estimates["q2"]
    assert kept.disk_needed_bytes == plain.disk_needed_bytes + kept.quantized_cache_bytes

    # a disk that holds the download (and the margin) but not the packed layers is refused
    size = DISK_MARGIN_BYTES + plain.disk_needed_bytes + kept.quantized_cache_bytes // 2
    with small_filesystem(tmp_path / "disk", f"{size // 4096 * 4096}") as disk:
        assert _preflight(hub, "org/tiny", tmp_path, dest=disk / "models").disk_free_bytes
        with pytest.raises(InsufficientDisk) as info:
            _preflight(hub, "org/tiny", tmp_path, dest=disk / "models", precisions=["q4", "q2"])
    assert info.value.details["needed_bytes"] == DISK_MARGIN_BYTES + kept.disk_needed_bytes


def test_an_unknown_precision_is_refused_before_any_request(hub: HubServer, tiny_repo: str,
                                                            tmp_path: Path) -> None:
    from interpstudio.ml.memory import UnsupportedPrecision

    with pytest.raises(UnsupportedPrecision) as info:
        _preflight(hub, "org/tiny", tmp_path, precisions=["q4", "q3"])
    assert info.value.status == 422 and "q3" in info.value.message
    assert "fp32" in info.value.message  # it lists the ones to choose from
    assert hub.requests == []
