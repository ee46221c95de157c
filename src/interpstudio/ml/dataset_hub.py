"""Hugging Face Hub datasets: find the files of one config + split, check access, download them.

``plan_hub_dataset`` resolves ``repo_id`` @ ``revision`` to a commit, lists the repo's data files
with their sizes, keeps those of the requested config (the README's ``configs`` metadata decides
when there is one, else a folder named after it; ``default`` is the repo's default config, and a
repo with several configs and none the default is refused: ``hub_dataset_configs.py``) and split
(its ``data_files``, else a path part or file-name prefix named after it), prefers one format
(parquet, then jsonl, json, csv, txt) and checks with a metadata request that the files can be
read (gated repo without token -> ``HubTokenRequired``). ``download_hub_files`` fetches the
planned files at the resolved commit into a folder with ``hub_download.download_files``, the
models' downloader: a file cut off (a dropped connection, a killed worker) continues from the
bytes on disk, and each file is checked against the hub's size and sha256 / git blob id. (Not
``hf_hub_download``: since huggingface_hub 2.4 it writes to a temp file unique to the process
and deletes it on failure, so a killed import started again from zero; it fetches README.md
only.)

The token is only passed through; nothing here stores it. This module is NOT responsible for
reading the files' rows (``text_sources.py``) or for free-disk checks (the caller's preflight).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interpstudio.core.errors import AppError, InvalidInput, NotFound
from interpstudio.ml.hub_dataset_configs import (
    ALL_FOLDERS,
    DEFAULT_CONFIG,
    CardConfig,
    HubCardInvalid,
    HubConfigRequired,
    card_configs,
    choose_card_config,
    config_folders,
    match_data_files,
)
from interpstudio.ml.hub_errors import HubUnavailable, InvalidRepoId

README = "README.md"
HUB_FORMATS = (".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".txt")
KNOWN_SPLITS = ("train", "validation", "valid", "dev", "test", "eval")


class HubDatasetNotFound(NotFound):
    code = "hub_dataset_not_found"

    def __init__(self, repo_id: str, revision: str, what: str = "dataset") -> None:
        super().__init__(
            "hub dataset", f"{repo_id}@{revision}",
            f"no {what} {repo_id!r} (revision {revision!r}) on the hub; check the id and "
            "revision (a private dataset also needs a token)")
        self.details.update({"repo_id": repo_id, "revision": revision})


class HubTokenRequired(AppError, PermissionError):
    """The dataset is gated (or the token has no access): a Hugging Face token is needed."""

    code = "hub_token_required"
    status = 403

    def __init__(self, repo_id: str, *, had_token: bool) -> None:
        super().__init__(
            f"{repo_id} is gated: " + (
                "this token has no access; accept the dataset's conditions on the hub with the "
                "token's account" if had_token else
                "give a Hugging Face access token (it is used for this import only, never "
                "stored)"),
            details={"repo_id": repo_id, "had_token": had_token})


class HubSplitNotFound(InvalidInput):
    code = "hub_split_not_found"

    def __init__(self, repo_id: str, config: str, split: str, available: list[str],
                 files: list[str]) -> None:
        super().__init__(
            f"{repo_id}: no data files for config {config!r} split {split!r}; splits seen: "
            f"{', '.join(available) or 'none'}", details={
                "repo_id": repo_id, "config": config, "split": split,
                "available_splits": available, "data_files": files[:50]})


@dataclass
class HubDatasetPlan:
    repo_id: str
    revision: str
    commit_sha: str
    config: str
    split: str
    gated: bool
    # {path, bytes, sha256 (LFS files), git_sha1 (others)}; plans made before checksums were
    # recorded have neither, and their files are checked by size
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(int(f["bytes"]) for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


def _split_of(path: str, split: str) -> bool:
    return re.search(rf"(?:^|[/_.-]){re.escape(split)}(?:[/_.-]|$)", path) is not None


def _in_folder(path: str, folder: str) -> bool:
    return folder in path.split("/")[:-1] or path.startswith(folder.rstrip("/") + "/")


def _split_files(data: dict[str, int], paths: dict[str, int], repo_id: str, config: str,
                 split: str) -> dict[str, int]:
    """The files of ``split``: a path part or file-name prefix named after it; files named
    after no split count as ``train``."""
    chosen = {p: s for p, s in data.items() if _split_of(p, split)}
    if not chosen and split == "train":
        chosen = {p: s for p, s in data.items()
                  if not any(_split_of(p, other) for other in KNOWN_SPLITS)}
    if not chosen:
        seen = sorted({s for s in KNOWN_SPLITS for p in data if _split_of(p, s)})
        raise HubSplitNotFound(repo_id, config, split, seen, sorted(paths))
    return chosen


def _one_format(chosen: dict[str, int]) -> list[dict[str, Any]]:
    for extension in HUB_FORMATS:
        same = sorted(p for p in chosen if p.lower().endswith(extension))
        if same:
            return [{"path": p, "bytes": int(chosen[p])} for p in same]
    return []  # unreachable: every chosen path has one of HUB_FORMATS


def _pick_files(paths: dict[str, int], repo_id: str, config: str, split: str,
                configs: dict[str, CardConfig] | None = None,
                ) -> tuple[str, list[dict[str, Any]]]:
    """The config's name (``default`` resolved) and the files of its ``split``, in one format.
    ``configs``: those the README declares (their ``data_files`` decide); without them a config
    is a folder, and ``default`` is refused when the split's files sit in several folders."""
    data = {p: s for p, s in paths.items() if p.lower().endswith(HUB_FORMATS)}
    if configs:
        card = choose_card_config(configs, config, repo_id)
        if card.data_files is None:
            under = {p: s for p, s in data.items()
                     if card.data_dir is None or p.startswith(card.data_dir + "/")}
            return card.name, _one_format(_split_files(under, paths, repo_id, card.name, split))
        if split not in card.data_files:
            raise HubSplitNotFound(repo_id, card.name, split, sorted(card.data_files),
                                   sorted(paths))
        matched = match_data_files(data, card.data_files[split], card.data_dir)
        if not matched:
            raise HubSplitNotFound(repo_id, card.name, split, [], sorted(paths))
        return card.name, _one_format({p: data[p] for p in matched})
    if config not in (DEFAULT_CONFIG, ALL_FOLDERS):
        data = {p: s for p, s in data.items() if _in_folder(p, config)}
    chosen = _split_files(data, paths, repo_id, config, split)
    folders = config_folders(chosen, (*KNOWN_SPLITS, split))
    if config == DEFAULT_CONFIG and len(folders) > 1:  # "all" takes them together, as asked
        raise HubConfigRequired(repo_id, folders, declared=False)
    return config, _one_format(chosen)


def _card_metadata(repo_id: str, commit: str, endpoint: str,
                   token: str | None) -> dict[str, Any] | None:
    """The README.md front matter at ``commit`` (README and its metadata are never gated)."""
    import tempfile

    import yaml  # huggingface_hub's dependency, used by its metadata_load
    from huggingface_hub import hf_hub_download
    from huggingface_hub.repocard import metadata_load

    with tempfile.TemporaryDirectory(prefix="interpstudio-card-") as tmp:
        readme = hf_hub_download(repo_id, README, repo_type="dataset", revision=commit,
                                 endpoint=endpoint, token=token or False, local_dir=tmp)
        try:
            return metadata_load(readme)
        except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise HubCardInvalid(repo_id, str(exc).splitlines()[0]) from None


def plan_hub_dataset(repo_id: str, *, revision: str, config: str, split: str, endpoint: str,
                     token: str | None) -> HubDatasetPlan:
    """Resolve, list, choose and access-check a hub dataset's files (no data downloaded)."""
    import httpx2
    from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi(endpoint=endpoint, token=token or False)
    try:
        info = api.dataset_info(repo_id, revision=revision, files_metadata=True)
    except HFValidationError as exc:
        raise InvalidRepoId(repo_id, str(exc).splitlines()[0]) from None
    except RevisionNotFoundError:
        raise HubDatasetNotFound(repo_id, revision, "revision of") from None
    except RepositoryNotFoundError:
        raise HubDatasetNotFound(repo_id, revision) from None
    except (HfHubHTTPError, OSError, httpx2.TransportError) as exc:  # no network
        raise _unreachable_or_missing(exc, repo_id, revision, endpoint) from None
    siblings = {s.rfilename: s for s in info.siblings or []}
    sizes = {name: int(s.size or 0) for name, s in siblings.items()}
    configs: dict[str, CardConfig] = {}
    if README in siblings:
        try:
            metadata = _card_metadata(repo_id, str(info.sha), endpoint, token)
        except (HfHubHTTPError, OSError, httpx2.TransportError) as exc:  # no network
            raise _unreachable_or_missing(exc, repo_id, revision, endpoint) from None
        configs = card_configs(metadata, repo_id)
    config, files = _pick_files(sizes, repo_id, config, split, configs)
    for item in files:
        sibling = siblings[item["path"]]
        lfs = getattr(sibling, "lfs", None)
        item["sha256"] = getattr(lfs, "sha256", None)
        item["git_sha1"] = None if lfs is not None else getattr(sibling, "blob_id", None)
    plan = HubDatasetPlan(repo_id=repo_id, revision=revision, commit_sha=str(info.sha),
                          config=config, split=split, gated=bool(info.gated), files=files)
    if plan.gated and not token:
        raise HubTokenRequired(repo_id, had_token=False)
    url = hf_hub_url(repo_id, plan.files[0]["path"], repo_type="dataset",
                     revision=plan.commit_sha, endpoint=endpoint)
    try:
        get_hf_file_metadata(url, token=token or False)
    except GatedRepoError:
        raise HubTokenRequired(repo_id, had_token=bool(token)) from None
    except RepositoryNotFoundError:
        raise HubDatasetNotFound(repo_id, revision) from None
    except (HfHubHTTPError, OSError, httpx2.TransportError) as exc:  # no network
        raise _unreachable_or_missing(exc, repo_id, revision, endpoint) from None
    return plan


def _unreachable_or_missing(exc: Exception, repo_id: str, revision: str,
                            endpoint: str) -> AppError:
    """A hub answer of 404 means the thing is not there; anything else: the hub is the problem."""
    response = getattr(exc, "response", None)
    if getattr(response, "status_code", None) == 404:
        return HubDatasetNotFound(repo_id, revision)
    return HubUnavailable(endpoint, str(exc))


def download_hub_files(plan: HubDatasetPlan, destination: Path, *, endpoint: str,
                       token: str | None, on_done: Callable[[int], None] | None = None,
                       should_stop: Callable[[], bool] = lambda: False,
                       ) -> list[tuple[Path, str | None]]:
    """Download the planned files at the resolved commit into ``destination`` (paths kept),
    continuing any ``.incomplete`` file an earlier attempt left there; ``on_done`` hears the
    bytes on disk so far, over all files. Returns each file's path and sha256 (None only for a
    file already complete before this call whose plan recorded no sha256)."""
    from interpstudio.ml.hub_download import RemoteFile, download_files
    from interpstudio.ml.hub_errors import GatedRepo

    remote = [RemoteFile(item["path"], int(item["bytes"]), item.get("sha256"),
                         item.get("git_sha1")) for item in plan.files]
    try:
        result = download_files(
            remote, endpoint=endpoint, repo_id=plan.repo_id, repo_type="dataset",
            commit=plan.commit_sha, dest=destination, token=token, should_stop=should_stop,
            progress=None if on_done is None else lambda update: on_done(update.done))
    except GatedRepo:
        raise HubTokenRequired(plan.repo_id, had_token=bool(token)) from None
    return [(destination / done.path, done.sha256) for done in result.files]
