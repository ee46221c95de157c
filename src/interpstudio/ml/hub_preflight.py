"""Preflight of a hub model: everything worth knowing before a single weight byte moves.

``run_preflight`` asks the hub (through ``huggingface_hub.HfApi`` on the configured endpoint) for
the repo at a revision and returns a ``Preflight``: the resolved commit sha, the files to fetch
with sizes and checksums (LFS sha256 / git blob sha1), gated/private flags and the access-request
link, the ``config.json`` (downloaded alone with ``hf_hub_download``) checked by
``model_support.check_supported``, the TRUE parameter count (the model built from its config on
the meta device; the safetensors headers' count alongside), layers / width / vocab, the memory
estimate of each precision (``memory.estimate_all``) and the free-disk check (refused with
``InsufficientDisk``: needed vs free).

Errors: a malformed repo id, an unknown repo or revision, a gated repo without (or with a wrong)
token, a missing config, an unsupported architecture and a repo without weights each raise their
own ``AppError`` (``hub_errors.py``, ``model_support.py``). The token is used, never kept.

This module is NOT responsible for downloading weights (``hub_download.py``) or for storing the
result. Importing it does not import torch (counting parameters does, on use).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from interpstudio.core.errors import InsufficientDisk
from interpstudio.ml.hub_download import RemoteFile
from interpstudio.ml.hub_errors import InvalidRepoId, NoWeightFiles, translate_hub_error
from interpstudio.ml.memory import QUANTIZED_BITS, check_precision, storage_plan

WEIGHT_SUFFIXES = (".safetensors", ".bin")
# Top-level files a transformers checkpoint needs besides its weights.
SIDE_FILE_SUFFIXES = (".json", ".model", ".txt", ".tiktoken", ".jinja")  # never remote code
SKIPPED_SIDE_FILES = ("README.md", ".gitattributes")
DISK_MARGIN_BYTES = 64 * 1024 * 1024
API_ATTEMPTS = 4  # a transient 5xx / 429 / network error on a metadata call is retried
API_BACKOFF_S = 0.5
T = TypeVar("T")
_LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
_WIDTH_FIELDS = ("hidden_size", "n_embd", "d_model", "dim")


@dataclass
class Preflight:
    repo_id: str
    revision: str
    commit_sha: str
    endpoint: str
    gated: bool
    private: bool
    access_url: str
    files: list[RemoteFile]
    skipped_files: list[str]
    total_bytes: int
    model_type: str
    architectures: list[str]
    n_layers: int | None
    d_model: int | None
    vocab_size: int | None
    parameter_count: int | None  # true count: the model built from its config on the meta device
    safetensors_parameter_count: int | None  # the count the weight files' headers state
    memory_estimates: dict[str, int] = field(default_factory=dict)  # precision -> bytes
    disk_needed_bytes: int = 0  # the files still to download + quantized_cache_bytes
    quantized_cache_bytes: int = 0  # q4 / q2 packed layers the import keeps (an upper bound)
    disk_free_bytes: int = 0
    disk_path: str = ""
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The model's identity: ``repo_id@commit`` (two orgs' ``x`` never collide)."""
        return f"{self.repo_id}@{self.commit_sha}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["files"] = [asdict(f) for f in self.files]
        data["key"] = self.key
        return data


def validate_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` stripped if it is ``org/name`` in the Hub's grammar."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    cleaned = repo_id.strip()
    if cleaned.count("/") != 1:
        raise InvalidRepoId(repo_id, "it must have exactly one '/' between owner and name")
    try:
        hf_validate(cleaned)
    except HFValidationError as exc:
        raise InvalidRepoId(repo_id, str(exc).splitlines()[0]) from None
    return cleaned


def weight_suffix(top_level_names: Iterable[str]) -> str:
    """The one weight format a checkpoint is taken in: ``.safetensors`` when its top level holds
    any, else ``.bin``. A repo or folder holding both ships the same weights twice (transformers
    loads the safetensors); the hub download and the local folder import both follow this."""
    return ".safetensors" if any(n.endswith(".safetensors") for n in top_level_names) else ".bin"


def weight_file_endings(suffix: str) -> tuple[str, str]:
    """The names of a weight format's files: its shards and their index."""
    return suffix, f"{suffix}.index.json"


def select_files(siblings: list[tuple[str, int, str | None, str | None]]
                 ) -> tuple[list[RemoteFile], list[str]]:
    """Choose what to download from ``(path, size, lfs_sha256, git_sha1)`` rows.

    Weights: every ``*.safetensors`` (or, when there is none, every ``*.bin``) at the top level;
    plus top-level config / tokenizer / template files. Sub-folders (onnx/, original/, ...) and
    other formats are skipped and listed.
    """
    suffix = weight_suffix(s[0] for s in siblings if "/" not in s[0])
    chosen, skipped = [], []
    for path, size, sha256, git_sha1 in siblings:
        is_weight = "/" not in path and path.endswith(weight_file_endings(suffix))
        is_side = ("/" not in path and path.endswith(SIDE_FILE_SUFFIXES)
                   and not path.endswith(tuple(f"{s}.index.json" for s in WEIGHT_SUFFIXES)))
        if (is_weight or is_side) and path not in SKIPPED_SIDE_FILES:
            chosen.append(RemoteFile(path, size, sha256, None if sha256 else git_sha1))
        else:
            skipped.append(path)
    if not any(f.path.endswith(WEIGHT_SUFFIXES) for f in chosen):
        raise NoWeightFiles("the repo", [s[0] for s in siblings])
    return chosen, skipped


def check_free_disk(needed: int, dest: Path) -> int:
    """Free bytes at ``dest`` (or its nearest existing parent); refuse when ``needed`` > free."""
    probe = dest
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed + DISK_MARGIN_BYTES > free:
        raise InsufficientDisk(needed=needed + DISK_MARGIN_BYTES, free=free, path=str(probe))
    return free


def quantized_cache_bytes(estimates: dict[str, int], precisions: Iterable[str]) -> int:
    """Disk the packed q4 / q2 layers of ``precisions`` will take (each at the model's memory
    estimate at that precision; 0 for precisions not kept or not estimated)."""
    kept = {p for p in precisions if p in QUANTIZED_BITS and storage_plan(p, "cpu").optimize}
    return sum(estimates.get(p, 0) for p in kept)  # quantize() keeps plans it optimises


def bytes_already_present(files: list[RemoteFile], dest: Path) -> int:
    """Bytes of ``files`` already in ``dest`` (whole files, or partial files being resumed)."""
    present = 0
    for remote in files:
        final, partial = dest / remote.path, dest / f"{remote.path}.incomplete"
        if final.is_file() and final.stat().st_size == remote.size:
            present += remote.size
        elif partial.is_file():
            present += min(partial.stat().st_size, remote.size)
    return present


def run_preflight(*, repo_id: str, revision: str | None, endpoint: str, dest: Path,
                  token: str | None = None, precisions: Iterable[str] = ()) -> Preflight:
    """Check ``repo_id`` at ``revision`` on ``endpoint`` and the disk at ``dest``.

    ``precisions``: those the import will load the model at (the requested one and the drift
    ones); q4 / q2 keep their packed layers on disk (``quantized_cache``), and the disk check
    counts them at the model's memory estimate at that precision (an upper bound: the cache
    holds the decoder blocks' linears only)."""
    from huggingface_hub import HfApi, hf_hub_download

    repo_id = validate_repo_id(repo_id)
    precisions = [check_precision(p) for p in precisions]  # before any request: a typo is a 422
    revision = (revision or "main").strip() or "main"
    api = HfApi(endpoint=endpoint, token=token or False)  # never the server's own login

    def translated(exc: Exception, filename: str | None = None) -> Exception:
        ours = translate_hub_error(exc, repo_id=repo_id, revision=revision, endpoint=endpoint,
                                   token_given=bool(token), filename=filename)
        return ours or exc

    import httpx2
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError

    hub_failures = (HfHubHTTPError, HFValidationError, EntryNotFoundError, httpx2.TransportError)
    try:
        info = _retrying(lambda: api.model_info(repo_id, revision=revision, files_metadata=True))
    except hub_failures as exc:
        raise translated(exc) from None
    commit = str(info.sha)
    siblings = [(s.rfilename, int(s.size or 0), s.lfs.sha256 if s.lfs else None, s.blob_id)
                for s in (info.siblings or [])]
    with tempfile.TemporaryDirectory(prefix="interpstudio-preflight-") as tmp:
        try:
            config_file = _retrying(lambda: hf_hub_download(
                repo_id, "config.json", revision=commit, endpoint=endpoint, token=token or False,
                local_dir=tmp))
        except hub_failures as exc:
            raise translated(exc, "config.json") from None
        config = json.loads(Path(config_file).read_text())
        model_type = _check_supported(config)
        files, skipped = select_files(siblings)
        parameter_count, estimates = _count_and_estimate(Path(tmp))
    total = sum(f.size for f in files)
    cache = quantized_cache_bytes(estimates, precisions)
    needed = max(total - bytes_already_present(files, dest), 0) + cache
    free = check_free_disk(needed, dest)
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else config
    safetensors = getattr(info, "safetensors", None)
    return Preflight(
        repo_id=repo_id, revision=revision, commit_sha=commit, endpoint=endpoint,
        gated=bool(info.gated), private=bool(info.private), access_url=f"{endpoint}/{repo_id}",
        files=files, skipped_files=skipped, total_bytes=total, model_type=model_type,
        architectures=list(config.get("architectures") or []),
        n_layers=_first_int(text, _LAYER_FIELDS), d_model=_first_int(text, _WIDTH_FIELDS),
        vocab_size=_first_int(text, ("vocab_size",)), parameter_count=parameter_count,
        safetensors_parameter_count=getattr(safetensors, "total", None),
        memory_estimates=estimates, disk_needed_bytes=needed, quantized_cache_bytes=cache,
        disk_free_bytes=free,
        disk_path=str(dest), config=config,
    )


def _retrying(call: Callable[[], T]) -> T:
    """``call()``, again after a short backoff when the hub answered 5xx / 429 or the network
    failed (up to ``API_ATTEMPTS`` tries); any other error is raised at once."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    for attempt in range(1, API_ATTEMPTS + 1):
        try:
            return call()
        except (HfHubHTTPError, httpx2.TransportError, LocalEntryNotFoundError) as exc:
            response = getattr(exc, "response", None)
            status = response.status_code if response is not None else None
            transient = status is None or status >= 500 or status == 429
            if not transient or attempt == API_ATTEMPTS:
                raise
            time.sleep(API_BACKOFF_S * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _check_supported(config: dict[str, Any]) -> str:
    from interpstudio.ml.model_support import check_supported

    return check_supported(config)


def _first_int(config: dict[str, Any], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = config.get(name)
        if isinstance(value, int):
            return value
    return None


def _count_and_estimate(config_dir: Path) -> tuple[int | None, dict[str, int]]:
    """True parameter count and per-precision memory from the config (meta device, no weights).

    A config transformers cannot instantiate leaves both unknown (the safetensors headers' count
    is still reported) instead of failing the preflight.
    """
    from transformers import AutoConfig

    from interpstudio.ml.memory import estimate_all
    from interpstudio.ml.quantize import inventory_from_config

    try:
        config = AutoConfig.from_pretrained(str(config_dir))
        inventory = inventory_from_config(config)
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError):
        return None, {}
    return inventory.parameter_count, estimate_all(inventory)
