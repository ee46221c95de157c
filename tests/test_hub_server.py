"""huggingface_hub 2.4.0 against the local test hub, through `endpoint=` / HF_ENDPOINT only.

Proves the protocol subset in tests/hub_server is what the real client expects (metadata, tree,
downloads, revisions, ranges, typed errors, gated/private access) and that its faults (drop,
throttle, transient 5xx, corruption) are real. Also checks the tiny model and dataset builders.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import (
    HfApi,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from hub_server import (
    JSONL_FILE,
    PARQUET_FILE,
    SUPPORTED_ARCHS,
    HubServer,
    build_tiny_model,
    tiny_dataset_rows,
)
from hub_server.fixtures import *  # noqa: F403
from hub_server.repo_store import git_blob_sha1

REPO = "org/tiny-llama"
TOKEN = "hf_test_secret_token_value"
WEIGHTS = "model.safetensors"


@pytest.fixture
def model_hub(hub: HubServer, tiny_llama_dir: Path) -> HubServer:
    hub.add_model(REPO, tiny_llama_dir)
    return hub


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- metadata -------------------------------------------------------------------------------


def test_model_info_reports_sha_siblings_sizes_and_lfs(
    model_hub: HubServer, tiny_llama_dir: Path
) -> None:
    info = HfApi(endpoint=model_hub.url).model_info(REPO, files_metadata=True)
    weights = (tiny_llama_dir / WEIGHTS).read_bytes()
    siblings = {s.rfilename: s for s in info.siblings or []}
    assert info.id == REPO and info.sha == model_hub.commit_sha(REPO)
    assert set(siblings) == {p.name for p in tiny_llama_dir.iterdir()}
    assert siblings[WEIGHTS].size == len(weights)
    assert siblings[WEIGHTS].lfs is not None and siblings[WEIGHTS].lfs.sha256 == _sha256(weights)
    config = (tiny_llama_dir / "config.json").read_bytes()
    assert siblings["config.json"].lfs is None
    assert siblings["config.json"].blob_id == git_blob_sha1(config)
    assert info.gated is False and info.private is False
    assert info.config == {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
    assert info.safetensors is not None and info.safetensors.total > 100_000
    assert info.used_storage == sum(p.stat().st_size for p in tiny_llama_dir.iterdir())
    only = HfApi(endpoint=model_hub.url).model_info(REPO, expand=["sha", "gated"])
    assert (only.sha, only.gated, only.siblings) == (info.sha, False, None)


def test_list_repo_tree_lists_nested_files_folders_and_pages(hub: HubServer) -> None:
    files = {"a.txt": b"a", "sub/b.bin": b"b" * 10, "sub/deep/c.json": b"{}"}
    hub.add_model("org/nested", files)
    hub.tree_page_size = 2  # forces the Link-header pagination
    api = HfApi(endpoint=hub.url)
    entries = list(api.list_repo_tree("org/nested", recursive=True))
    assert {e.path for e in entries if isinstance(e, RepoFile)} == set(files)
    assert {e.path for e in entries if isinstance(e, RepoFolder)} == {"sub", "sub/deep"}
    top = [e.path for e in api.list_repo_tree("org/nested")]
    assert sorted(top) == ["a.txt", "sub"]
    sub = {e.path: e for e in api.list_repo_tree("org/nested", path_in_repo="sub")}
    assert set(sub) == {"sub/b.bin", "sub/deep"}
    lfs = sub["sub/b.bin"].lfs  # type: ignore[union-attr]
    assert lfs is not None and lfs.sha256 == _sha256(b"b" * 10) and lfs.size == 10
    paths = api.get_paths_info("org/nested", ["a.txt", "sub", "missing"])
    assert [type(p).__name__ for p in paths] == ["RepoFile", "RepoFolder"]


def test_get_hf_file_metadata_gives_commit_etag_and_size(
    model_hub: HubServer, tiny_llama_dir: Path
) -> None:
    weights = (tiny_llama_dir / WEIGHTS).read_bytes()
    meta = get_hf_file_metadata(hf_hub_url(REPO, WEIGHTS, endpoint=model_hub.url))
    assert meta.commit_hash == model_hub.commit_sha(REPO)
    assert meta.etag == _sha256(weights) and meta.size == len(weights)
    config = (tiny_llama_dir / "config.json").read_bytes()
    small = get_hf_file_metadata(hf_hub_url(REPO, "config.json", endpoint=model_hub.url))
    assert small.etag == git_blob_sha1(config) and small.size == len(config)


# -- downloads ------------------------------------------------------------------------------


def test_hf_hub_download_returns_the_source_bytes(
    model_hub: HubServer, tiny_llama_dir: Path, hf_cache_dir: Path
) -> None:
    path = hf_hub_download(REPO, WEIGHTS, endpoint=model_hub.url, cache_dir=hf_cache_dir)
    assert Path(path).read_bytes() == (tiny_llama_dir / WEIGHTS).read_bytes()
    assert model_hub.bytes_served(WEIGHTS) == (tiny_llama_dir / WEIGHTS).stat().st_size


def test_snapshot_download_gives_a_loadable_model(model_hub: HubServer, hf_cache_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = snapshot_download(REPO, endpoint=model_hub.url, cache_dir=hf_cache_dir)
    assert Path(folder).name == model_hub.commit_sha(REPO)
    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("The model predicts the next token.", return_tensors="pt").input_ids
    assert ids[0, 0].item() == tokenizer.bos_token_id  # llama-style tokenizer adds BOS
    with torch.no_grad():
        logits = model(ids).logits  # (1, T, vocab)
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)


def test_revision_resolves_by_branch_and_by_sha(hub: HubServer, hf_cache_dir: Path) -> None:
    main_sha = hub.add_model("org/revs", {"config.json": b'{"v": 1}'})
    v2_sha = hub.add_model("org/revs", {"config.json": b'{"v": 2}'}, revision="v2")
    assert main_sha != v2_sha and len(v2_sha) == 40

    def fetch(revision: str) -> bytes:
        path = hf_hub_download(
            "org/revs", "config.json", revision=revision, endpoint=hub.url, cache_dir=hf_cache_dir
        )
        return Path(path).read_bytes()

    assert fetch("main") == b'{"v": 1}' and fetch("v2") == b'{"v": 2}'
    assert fetch(v2_sha) == b'{"v": 2}' and fetch(main_sha) == b'{"v": 1}'
    api = HfApi(endpoint=hub.url)
    assert api.model_info("org/revs", revision=v2_sha[:10]).sha == v2_sha
    assert {b.name for b in api.list_repo_refs("org/revs").branches} == {"main", "v2"}


def test_range_request_returns_the_tail_with_206(
    model_hub: HubServer, tiny_llama_dir: Path
) -> None:
    weights = (tiny_llama_dir / WEIGHTS).read_bytes()
    url, size = model_hub.file_url(REPO, WEIGHTS), len(weights)
    with httpx2.Client() as client:
        tail = client.get(url, headers={"Range": "bytes=1000-"})
        middle = client.get(url, headers={"Range": "bytes=10-19"})
        suffix = client.get(url, headers={"Range": "bytes=-5"})
        beyond = client.get(url, headers={"Range": f"bytes={size}-"})
    assert tail.status_code == 206 and tail.content == weights[1000:]
    assert tail.headers["Content-Range"] == f"bytes 1000-{size - 1}/{size}"
    assert middle.content == weights[10:20] and suffix.content == weights[-5:]
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"


def test_dataset_repo_downloads_parquet_and_jsonl(
    hub: HubServer, tiny_dataset_dir: Path, hf_cache_dir: Path
) -> None:
    import pyarrow.parquet as pq

    sha = hub.add_dataset("org/tiny-text", tiny_dataset_dir)
    api = HfApi(endpoint=hub.url)
    info = api.dataset_info("org/tiny-text", files_metadata=True)
    assert info.sha == sha and {s.rfilename for s in info.siblings or []} == {
        PARQUET_FILE,
        JSONL_FILE,
    }
    kwargs = {"repo_type": "dataset", "endpoint": hub.url, "cache_dir": hf_cache_dir}
    parquet = pq.read_table(hf_hub_download("org/tiny-text", PARQUET_FILE, **kwargs))
    lines = Path(hf_hub_download("org/tiny-text", JSONL_FILE, **kwargs)).read_text("utf-8")
    rows = tiny_dataset_rows()
    assert parquet.to_pylist() == rows == [json.loads(line) for line in lines.splitlines()]
    assert len({len(str(r["text"])) for r in rows}) > 50  # varied lengths
    with pytest.raises(RepositoryNotFoundError):  # a dataset is not a model
        api.model_info("org/tiny-text")


# -- typed errors ---------------------------------------------------------------------------


def test_absent_file_raises_entry_not_found(model_hub: HubServer, hf_cache_dir: Path) -> None:
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(REPO, "nope.bin", endpoint=model_hub.url, cache_dir=hf_cache_dir)


def test_unknown_repo_raises_repository_not_found(hub: HubServer, hf_cache_dir: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub.url).model_info("org/missing")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/missing", "config.json", endpoint=hub.url, cache_dir=hf_cache_dir)


def test_unknown_revision_raises_revision_not_found(
    model_hub: HubServer, hf_cache_dir: Path
) -> None:
    with pytest.raises(RevisionNotFoundError):
        HfApi(endpoint=model_hub.url).model_info(REPO, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            REPO, "config.json", revision="f" * 40, endpoint=model_hub.url, cache_dir=hf_cache_dir
        )


def test_gated_repo_needs_the_approved_token(
    hub: HubServer, tiny_llama_dir: Path, hf_cache_dir: Path
) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated=True, token=TOKEN)
    api = HfApi(endpoint=hub.url)
    assert api.model_info("org/gated").gated == "auto"  # listed without a token, like the Hub
    kwargs = {"endpoint": hub.url, "cache_dir": hf_cache_dir}
    with pytest.raises(GatedRepoError) as anonymous:
        hf_hub_download("org/gated", "config.json", **kwargs)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(GatedRepoError) as wrong:
        hf_hub_download("org/gated", "config.json", token="hf_wrong", **kwargs)
    assert wrong.value.response.status_code == 403
    path = hf_hub_download("org/gated", "config.json", token=TOKEN, **kwargs)
    assert Path(path).read_bytes() == (tiny_llama_dir / "config.json").read_bytes()
    api.auth_check("org/gated", token=TOKEN)
    assert api.whoami(token=TOKEN)["name"] == "hub-test-user"
    with pytest.raises(GatedRepoError):
        api.auth_check("org/gated", token=False)


def test_private_repo_is_not_found_without_its_token(hub: HubServer, hf_cache_dir: Path) -> None:
    hub.add_model("org/private", {"config.json": b"{}"}, private=True, token=TOKEN)
    api = HfApi(endpoint=hub.url)
    for token, status in ((False, 401), ("hf_wrong", 404)):
        with pytest.raises(RepositoryNotFoundError) as error:
            api.model_info("org/private", token=token)
        assert not isinstance(error.value, GatedRepoError)
        assert error.value.response.status_code == status
    assert api.model_info("org/private", token=TOKEN).private is True
    path = hf_hub_download(
        "org/private", "config.json", token=TOKEN, endpoint=hub.url, cache_dir=hf_cache_dir
    )
    assert Path(path).read_bytes() == b"{}"


def test_strict_tokens_rejects_unknown_tokens_like_the_hub(hub: HubServer) -> None:
    hub.add_model("org/public", {"config.json": b"{}"})
    hub.strict_tokens = True
    api = HfApi(endpoint=hub.url)
    with pytest.raises(HfHubHTTPError) as error:
        api.model_info("org/public", token="hf_unknown")
    assert error.value.response.status_code == 401
    assert not isinstance(error.value, RepositoryNotFoundError)
    hub.add_user("hf_known")
    assert api.model_info("org/public", token="hf_known").id == "org/public"


def test_request_log_records_auth_presence_but_never_the_token(
    hub: HubServer, hf_cache_dir: Path
) -> None:
    hub.add_model("org/private", {"config.json": b"{}"}, private=True, token=TOKEN)
    hf_hub_download(
        "org/private", "config.json", token=TOKEN, endpoint=hub.url, cache_dir=hf_cache_dir
    )
    assert hub.requests and all(r.authorized for r in hub.requests)
    assert TOKEN not in repr(hub.requests)


# -- faults ---------------------------------------------------------------------------------

BLOB = bytes(range(256)) * 4096  # 1 MiB, every byte value present
BLOB_REPO = "org/blob"


@pytest.fixture
def blob_hub(hub: HubServer) -> HubServer:
    hub.add_model(BLOB_REPO, {WEIGHTS: BLOB, "config.json": b"{}"})
    return hub


def test_dropped_connection_is_retried_by_huggingface_hub(
    blob_hub: HubServer, hf_cache_dir: Path
) -> None:
    blob_hub.faults.drop_connection(WEIGHTS, after_bytes=300_000)
    path = hf_hub_download(BLOB_REPO, WEIGHTS, endpoint=blob_hub.url, cache_dir=hf_cache_dir)
    assert Path(path).read_bytes() == BLOB
    gets = [r for r in blob_hub.requests if r.method == "GET" and r.filename == WEIGHTS]
    assert [r.dropped for r in gets] == [True, False]
    assert gets[0].body_bytes == 300_000
    # huggingface_hub 2.4.0 buffers up to 10 MB before writing, so it restarts small files
    # from zero: a downloader that must re-fetch < 10% has to write bytes as they arrive.
    assert blob_hub.bytes_served(WEIGHTS) == 300_000 + len(BLOB)


def test_resume_with_range_after_a_drop_refetches_only_the_rest(blob_hub: HubServer) -> None:
    blob_hub.faults.drop_connection(WEIGHTS, after_bytes=600_000, times=None)  # every time
    url = blob_hub.file_url(BLOB_REPO, WEIGHTS)
    received = bytearray()
    with httpx2.Client() as client:
        with pytest.raises(httpx2.RemoteProtocolError), client.stream("GET", url) as response:
            for chunk in response.iter_raw():
                received += chunk
        blob_hub.faults.clear()
        rest = client.get(url, headers={"Range": f"bytes={len(received)}-"})
    assert len(received) == 600_000 and rest.status_code == 206
    assert bytes(received) + rest.content == BLOB
    assert blob_hub.bytes_served(WEIGHTS) - len(BLOB) < 0.1 * len(BLOB)


def test_transient_503_then_success(blob_hub: HubServer, hf_cache_dir: Path) -> None:
    blob_hub.faults.fail_requests(status=503, times=2, filename="config.json")
    path = hf_hub_download(BLOB_REPO, "config.json", endpoint=blob_hub.url, cache_dir=hf_cache_dir)
    assert Path(path).read_bytes() == b"{}"
    statuses = [r.status for r in blob_hub.requests if r.filename == "config.json"]
    assert statuses[:3] == [503, 503, 200]
    blob_hub.faults.fail_requests(status=500, times=1, filename=WEIGHTS, methods=["GET"])
    with pytest.raises(HfHubHTTPError) as error:  # huggingface_hub does not retry a 5xx GET
        hf_hub_download(BLOB_REPO, WEIGHTS, endpoint=blob_hub.url, cache_dir=hf_cache_dir)
    assert error.value.response.status_code == 500


def test_throttle_limits_the_transfer_rate(blob_hub: HubServer) -> None:
    blob_hub.faults.set_throttle(1_000_000)  # 1 MB/s, per response
    started = time.monotonic()
    with httpx2.Client() as client:
        response = client.get(
            blob_hub.file_url(BLOB_REPO, WEIGHTS), headers={"Range": "bytes=0-299999"}
        )
    elapsed = time.monotonic() - started
    assert response.content == BLOB[:300_000]
    assert elapsed >= 0.25  # a lower bound the throttle guarantees (300 KB at 1 MB/s = 0.3 s)


def test_corrupted_file_fails_its_sha256(blob_hub: HubServer, hf_cache_dir: Path) -> None:
    blob_hub.faults.corrupt(WEIGHTS)
    path = hf_hub_download(BLOB_REPO, WEIGHTS, endpoint=blob_hub.url, cache_dir=hf_cache_dir)
    served = Path(path).read_bytes()
    expected_sha = get_hf_file_metadata(hf_hub_url(BLOB_REPO, WEIGHTS, endpoint=blob_hub.url)).etag
    assert len(served) == len(BLOB) and _sha256(served) != expected_sha == _sha256(BLOB)


def test_lfs_redirect_to_cdn_drops_the_token(
    hub: HubServer, tiny_llama_dir: Path, hf_cache_dir: Path
) -> None:
    hub.add_model("org/gated", tiny_llama_dir, gated="manual", token=TOKEN)
    hub.lfs_via_cdn_redirect = True
    path = hf_hub_download(
        "org/gated", WEIGHTS, token=TOKEN, endpoint=hub.url, cache_dir=hf_cache_dir
    )
    assert Path(path).read_bytes() == (tiny_llama_dir / WEIGHTS).read_bytes()
    head, get = [r for r in hub.requests if r.filename == WEIGHTS]
    assert (head.status, head.authorized) == (302, True)
    assert (get.path.startswith("/cdn-lfs/"), get.status, get.authorized) == (True, 200, False)


def test_stop_and_start_keep_port_and_repos(blob_hub: HubServer) -> None:
    url = blob_hub.url
    blob_hub.stop()
    with pytest.raises(httpx2.ConnectError), httpx2.Client() as client:
        client.get(f"{url}/api/models/{BLOB_REPO}")
    blob_hub.start()
    assert blob_hub.url == url
    assert HfApi(endpoint=url).model_info(BLOB_REPO).sha == blob_hub.commit_sha(BLOB_REPO)


def test_hf_endpoint_env_var_reaches_the_hub_in_a_fresh_process(
    model_hub: HubServer, hub_env: dict[str, str], tiny_llama_dir: Path
) -> None:
    code = (
        "from huggingface_hub import hf_hub_download; "
        f"print(hf_hub_download({REPO!r}, 'config.json'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **hub_env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path.is_relative_to(hub_env["HF_HUB_CACHE"])
    assert path.read_bytes() == (tiny_llama_dir / "config.json").read_bytes()
    assert model_hub.server_errors == []


# -- tiny builders --------------------------------------------------------------------------


@pytest.mark.parametrize("arch", SUPPORTED_ARCHS)
def test_tiny_model_builds_loads_and_is_deterministic(arch: str, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first = build_tiny_model(tmp_path / "a", arch)
    second = build_tiny_model(tmp_path / "b", arch)
    weights = (first / WEIGHTS).read_bytes()
    assert 200_000 < len(weights) < 2_000_000
    assert weights == (second / WEIGHTS).read_bytes()
    model = AutoModelForCausalLM.from_pretrained(first)
    tokenizer = AutoTokenizer.from_pretrained(first)
    assert model.config.model_type == arch and len(tokenizer) <= model.config.vocab_size
    batch = tokenizer(["short", "a somewhat longer text"], padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch, output_hidden_states=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
