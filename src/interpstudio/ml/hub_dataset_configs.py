"""A hub dataset's configs, read the way ``datasets.load_dataset`` reads them.

A dataset repo may hold several corpora ("configs"): declared in its README.md front matter
(``configs:``, each with ``config_name``, ``data_files`` (a pattern, a list of them, or a list of
``{split, path}``; fsspec globs, relative to ``data_dir`` if given) and ``default: true``), or only
laid out as one folder per config (``en/train.parquet``, ``fr/train.parquet``, as in the hub's
parquet conversion). With no config asked for, the default one is used: the only one, the one
marked ``default: true`` or the one named ``default`` (``MetadataConfigs.get_default_config_name``
in ``datasets``); otherwise the import is refused, listing the configs, before any download:
several corpora are never concatenated silently. Folders that are not declared configs may be
taken together when asked (``ALL_FOLDERS``: ``--config all``).

This module is NOT responsible for listing or downloading the repo's files (``dataset_hub.py``);
it parses metadata and matches paths, and imports only the standard library and core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from interpstudio.core.errors import InvalidInput

DEFAULT_CONFIG = "default"  # what "no config given" is called in the API, the CLI and the rows
ALL_FOLDERS = "all"  # a repo without declared configs: every folder's files as one dataset
DEFAULT_SPLIT = "train"  # a config whose data_files name no split holds only "train"


class HubConfigRequired(InvalidInput):
    """The repo has several configs and none is the default: one must be chosen."""

    code = "hub_config_required"

    def __init__(self, repo_id: str, configs: list[str], *, declared: bool) -> None:
        where = "its README declares" if declared else "its data files sit in the folders"
        shown = [c or "(top level)" for c in configs]
        together = ("" if declared else f", or --config {ALL_FOLDERS} to import every folder's "
                    "files as one dataset")
        super().__init__(
            f"{repo_id} holds several configs and none is the default ({where}: "
            f"{', '.join(shown)}); choose one with --config NAME (API: the \"config\" field)"
            f"{together}",
            details={"repo_id": repo_id, "configs": [c for c in configs if c],
                     "declared": declared})


class HubConfigNotFound(InvalidInput):
    code = "hub_config_not_found"

    def __init__(self, repo_id: str, config: str, configs: list[str]) -> None:
        super().__init__(
            f"{repo_id} has no config {config!r}; its configs: {', '.join(configs)}; choose one "
            "of them with --config NAME (API: the \"config\" field)",
            details={"repo_id": repo_id, "config": config, "configs": configs})


class HubCardInvalid(InvalidInput):
    code = "hub_card_invalid"

    def __init__(self, repo_id: str, reason: str) -> None:
        super().__init__(
            f"{repo_id}: the README.md `configs` metadata is invalid ({reason}); pick a revision "
            "whose dataset card is valid, or ask the dataset's authors to fix it",
            details={"repo_id": repo_id, "reason": reason})


@dataclass(frozen=True)
class CardConfig:
    """One entry of the README ``configs:`` list."""

    name: str
    data_files: dict[str, list[str]] | None  # split -> patterns; None: every file of data_dir
    data_dir: str | None
    default: bool


def card_configs(metadata: dict[str, Any] | None, repo_id: str) -> dict[str, CardConfig]:
    """The configs a README front matter declares (empty when it declares none)."""
    entries = (metadata or {}).get("configs")
    if not entries:
        return {}
    if not isinstance(entries, list):
        raise HubCardInvalid(repo_id, "`configs` is not a list")
    configs: dict[str, CardConfig] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("config_name"), str):
            raise HubCardInvalid(repo_id, f"a config without a `config_name`: {entry!r}")
        data_dir = entry.get("data_dir")
        configs[entry["config_name"]] = CardConfig(
            name=entry["config_name"], data_files=_split_patterns(entry.get("data_files"), repo_id),
            data_dir=str(data_dir).strip("/") if data_dir else None,
            default=bool(entry.get("default")))
    return configs


def _split_patterns(data_files: Any, repo_id: str) -> dict[str, list[str]] | None:
    """``data_files`` as {split: [patterns]} (``datasets.data_files.sanitize_patterns``)."""
    if data_files is None:
        return None
    if isinstance(data_files, str):
        return {DEFAULT_SPLIT: [data_files]}
    if isinstance(data_files, dict):
        return {str(k): [str(p) for p in (v if isinstance(v, list) else [v])]
                for k, v in data_files.items()}
    if isinstance(data_files, list) and all(isinstance(p, str) for p in data_files):
        return {DEFAULT_SPLIT: list(data_files)}
    if isinstance(data_files, list) and all(
            isinstance(p, dict) and set(p) == {"split", "path"} for p in data_files):
        return {str(p["split"]): [str(x) for x in (p["path"] if isinstance(p["path"], list)
                                                   else [p["path"]])] for p in data_files}
    raise HubCardInvalid(repo_id, f"`data_files` must be a pattern, a list of patterns or a "
                                  f"list of {{split, path}}, not {data_files!r}")


def choose_card_config(configs: dict[str, CardConfig], config: str, repo_id: str) -> CardConfig:
    """The config asked for; ``default``: the only one, else the one marked ``default: true``
    or named ``default`` (``datasets``' ``get_default_config_name``), else a refusal."""
    if config != DEFAULT_CONFIG:
        if config not in configs:
            raise HubConfigNotFound(repo_id, config, list(configs))
        return configs[config]
    defaults = list(configs) if len(configs) == 1 else [
        c.name for c in configs.values() if c.default or c.name == DEFAULT_CONFIG]
    if len(defaults) > 1:
        raise HubCardInvalid(repo_id, f"several default configs: {', '.join(defaults)}")
    if not defaults:
        raise HubConfigRequired(repo_id, list(configs), declared=True)
    return configs[defaults[0]]


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """An fsspec glob as a regex: ``*`` and ``?`` stay within a folder, ``**`` crosses them."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "__")) for part in path.split("/"))


def match_data_files(paths: Iterable[str], patterns: list[str],
                     data_dir: str | None) -> list[str]:
    """The paths the patterns (relative to ``data_dir``) name; hidden files only if asked for."""
    chosen: set[str] = set()
    for pattern in patterns:
        full = pattern.removeprefix("./").lstrip("/")
        full = f"{data_dir}/{full}" if data_dir else full
        regex = _glob_regex(full)
        chosen.update(p for p in paths if regex.match(p) and (_hidden(full) or not _hidden(p)))
    return sorted(chosen)


def config_folders(paths: Iterable[str], splits: Iterable[str]) -> list[str]:
    """The folders that tell the paths' configs apart (split-named folders left out): one entry
    when the files are one corpus, several when they sit in one folder per config."""
    skip = {s.lower() for s in splits}
    folders = {"/".join(part for part in p.split("/")[:-1] if part.lower() not in skip)
               for p in paths}
    if len(folders) < 2:
        return sorted(folders)
    last = {f.rsplit("/", 1)[-1] for f in folders}
    return sorted(last) if len(last) == len(folders) else sorted(folders)
