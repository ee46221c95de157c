"""The resumable downloader against the real local hub: verification, resume after a dropped
connection and after a stop, retries, corruption, gating, disk full, exact progress."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import small_filesystem
from hub_server import HubServer
from interpstudio.core.errors import JobCancelled
from interpstudio.ml.hub_download import (
    FileProgress,
    RetryPolicy,
    download_files,
    partial_files,
)
from interpstudio.ml.hub_errors import CorruptDownload, DiskFull, GatedRepo, HubUnavailable
from interpstudio.ml.hub_preflight import run_preflight

WEIGHTS = "model.safetensors"
NO_WAIT = RetryPolicy(base_delay_s=0.0, max_delay_s=0.0, attempts=3)


def _plan(hub: HubServer, repo: str, dest: Path, token: str | None = None):  # type: ignore[no-untyped-def]
    return run_preflight(repo_id=repo, revision="main", endpoint=hub.url, dest=dest, token=token)


def _download(hub: HubServer, plan, dest: Path, **kwargs):  # type: ignore[no-untyped-def]
    kwargs.setdefault("retry", NO_WAIT)
    return download_files(plan.files, endpoint=hub.url, repo_id=plan.repo_id,
                          commit=plan.commit_sha, dest=dest, **kwargs)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_writes_every_file_verified(hub: HubServer, tiny_repo: str,
                                             tiny_llama_dir: Path, tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    result = _download(hub, plan, tmp_path / "dest")
    for remote in plan.files:
        assert _sha256(tmp_path / "dest" / remote.path) == _sha256(tiny_llama_dir / remote.path)
    verified = {f.path: f.verified_with for f in result.files}
    assert verified[WEIGHTS] == "sha256" and verified["config.json"] == "git-sha1"
    assert partial_files(tmp_path / "dest") == []


def test_progress_counts_exact_bytes_and_only_grows(hub: HubServer, tiny_repo: str,
                                                   tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    seen: list[FileProgress] = []
    _download(hub, plan, tmp_path / "dest", progress=seen.append)
    done = [p.done for p in seen]
    assert done == sorted(done) and done[-1] == plan.total_bytes
    assert {p.total for p in seen} == {plan.total_bytes}
    weights = [p for p in seen if p.path == WEIGHTS]
    assert weights[-1].file_done == weights[-1].file_total == plan.files[2].size


def test_dropped_connection_resumes_from_the_bytes_on_disk(hub: HubServer, tiny_repo: str,
                                                           tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    size = next(f.size for f in plan.files if f.path == WEIGHTS)
    hub.faults.drop_connection(WEIGHTS, after_bytes=400_000)
    result = _download(hub, plan, tmp_path / "dest")
    ranges = [r.range for r in hub.requests if r.filename == WEIGHTS and r.method == "GET"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    refetched = hub.bytes_served(WEIGHTS) - size
    assert refetched < 0.1 * size, refetched
    assert result.retries == 1


def test_transient_503_is_retried_with_backoff(hub: HubServer, tiny_repo: str,
                                               tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    hub.faults.fail_requests(status=503, times=2, filename=WEIGHTS)
    waits: list[float] = []
    result = _download(hub, plan, tmp_path / "dest", sleep=waits.append,
                       retry=RetryPolicy(base_delay_s=0.01, attempts=4))
    assert result.retries == 2 and waits == [0.01, 0.02]
    assert (tmp_path / "dest" / WEIGHTS).is_file()


def test_persistent_5xx_fails_as_hub_unavailable(hub: HubServer, tiny_repo: str,
                                                 tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    hub.faults.fail_requests(status=502, times=100, filename=WEIGHTS)
    with pytest.raises(HubUnavailable) as info:
        _download(hub, plan, tmp_path / "dest")
    assert WEIGHTS in info.value.message and info.value.code == "hub_unavailable"


def test_corrupt_file_fails_naming_the_file_and_leaves_no_partial(
        hub: HubServer, tiny_repo: str, tmp_path: Path) -> None:
    plan = _plan(hub, "org/tiny", tmp_path)
    hub.faults.corrupt(WEIGHTS)
    with pytest.raises(CorruptDownload) as info:
        _download(hub, plan, tmp_path / "dest")
    assert info.value.details["file"] == WEIGHTS and info.value.details["algorithm"] == "sha256"
    assert WEIGHTS in info.value.message
    assert not (tmp_path / "dest" / WEIGHTS).exists() and partial_files(tmp_path / "dest") == []


def test_stop_keeps_the_partial_file_and_the_next_call_continues(
        hub: HubServer, big_repo: str, tmp_path: Path) -> None:
    plan = _plan(hub, "org/big", tmp_path)
    size = next(f.size for f in plan.files if f.path == WEIGHTS)
    hub.faults.set_throttle(4_000_000)
    seen: list[int] = []

    def stop() -> bool:
        return bool(seen) and seen[-1] > size // 2

    with pytest.raises(JobCancelled):
        _download(hub, plan, tmp_path / "dest", should_stop=stop,
                  progress=lambda p: seen.append(p.file_done) if p.path == WEIGHTS else None)
    [partial] = partial_files(tmp_path / "dest")
    kept = partial.stat().st_size
    assert size // 2 < kept < size
    hub.faults.set_throttle(None)
    result = _download(hub, plan, tmp_path / "dest")
    weights = next(f for f in result.files if f.path == WEIGHTS)
    assert weights.resumed_from == kept and weights.fetched == size - kept
    assert hub.bytes_served(WEIGHTS) - size < 0.1 * size
    assert _sha256(tmp_path / "dest" / WEIGHTS) == weights.sha256


def test_gated_repo_needs_an_approved_token(hub: HubServer, tiny_llama_dir: Path,
                                            tmp_path: Path) -> None:
    hub.add_model("org/locked", tiny_llama_dir, gated=True, token="hf_right")
    with pytest.raises(GatedRepo) as anonymous:
        _plan(hub, "org/locked", tmp_path)
    assert anonymous.value.status == 401
    assert anonymous.value.details["access_url"] == f"{hub.url}/org/locked"
    with pytest.raises(GatedRepo) as wrong:
        _plan(hub, "org/locked", tmp_path, token="hf_wrong")
    assert wrong.value.status == 403 and "hf_wrong" not in wrong.value.message
    plan = _plan(hub, "org/locked", tmp_path, token="hf_right")
    assert plan.gated
    _download(hub, plan, tmp_path / "dest", token="hf_right")
    assert (tmp_path / "dest" / WEIGHTS).is_file()
    with pytest.raises(GatedRepo):  # the weights themselves are refused without the token
        _download(hub, plan, tmp_path / "other")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2MiB tmpfs to fill up."""
    with small_filesystem(tmp_path / "tiny_disk", "2M") as mount_point:
        yield mount_point


def test_disk_full_mid_download_keeps_the_partial_for_a_resume(
        hub: HubServer, big_repo: str, tmp_path: Path, tiny_disk: Path) -> None:
    plan = _plan(hub, "org/big", tmp_path)  # preflight on the big disk: it would refuse the tiny
    with pytest.raises(DiskFull) as info:
        _download(hub, plan, tiny_disk / "dest")
    assert info.value.code == "disk_full" and info.value.details["file"] == WEIGHTS
    assert "free some space and resume" in info.value.message
    [partial] = partial_files(tiny_disk / "dest")
    assert partial.stat().st_size == info.value.details["written_bytes"] > 0


def test_cdn_redirect_drops_the_token_and_still_resumes(
        hub: HubServer, tiny_llama_dir: Path, tmp_path: Path) -> None:
    hub.add_model("org/locked", tiny_llama_dir, gated=True, token="hf_right")
    hub.lfs_via_cdn_redirect = True
    plan = _plan(hub, "org/locked", tmp_path, token="hf_right")
    hub.faults.drop_connection(WEIGHTS, after_bytes=500_000)
    _download(hub, plan, tmp_path / "dest", token="hf_right")
    cdn = [r for r in hub.requests if r.path.startswith("/cdn-lfs/")]
    assert cdn and not any(r.authorized for r in cdn)  # the token never left for the CDN
    assert [r.range for r in cdn][-1] == "bytes=500000-"
    size = next(f.size for f in plan.files if f.path == WEIGHTS)
    assert _sha256(tmp_path / "dest" / WEIGHTS) == next(
        f.sha256 for f in plan.files if f.path == WEIGHTS)
    assert sum(r.body_bytes for r in cdn) - size < 0.1 * size
