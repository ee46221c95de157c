"""Choosing a hub dataset's files for a config and split (the layouts hub repos use), the README
``configs`` metadata as ``datasets.load_dataset`` reads it, and the refusal to merge configs."""

from __future__ import annotations

import pytest

from interpstudio.ml.dataset_hub import HubSplitNotFound, _pick_files
from interpstudio.ml.hub_dataset_configs import (
    HubCardInvalid,
    HubConfigNotFound,
    HubConfigRequired,
    card_configs,
    match_data_files,
)

LAYOUT = {
    "README.md": 10,
    "data/train-00000-of-00002.parquet": 100,
    "data/train-00001-of-00002.parquet": 100,
    "data/test-00000-of-00001.parquet": 50,
    "data/train.jsonl": 300,
    "wiki/train/part-0.jsonl": 7,
    "wiki/validation.csv": 8,
}


ONE_CONFIG = {p: s for p, s in LAYOUT.items() if not p.startswith("wiki/")}


def _paths(config: str, split: str, layout: dict[str, int] = LAYOUT) -> list[str]:
    return [f["path"] for f in _pick_files(layout, "org/x", config, split)[1]]


def test_default_config_prefers_parquet_shards_of_the_split() -> None:
    assert _paths("default", "train", ONE_CONFIG) == ["data/train-00000-of-00002.parquet",
                                          "data/train-00001-of-00002.parquet"]
    assert _paths("default", "test", ONE_CONFIG) == ["data/test-00000-of-00001.parquet"]


def test_named_config_is_a_folder_and_split_a_folder_or_file_name() -> None:
    assert _paths("wiki", "train") == ["wiki/train/part-0.jsonl"]
    assert _paths("wiki", "validation") == ["wiki/validation.csv"]


def test_unknown_split_lists_the_splits_seen() -> None:
    with pytest.raises(HubSplitNotFound) as caught:
        _paths("default", "dev")
    assert caught.value.details["available_splits"] == ["test", "train", "validation"]


def test_files_without_split_names_count_as_train() -> None:
    _config, files = _pick_files({"corpus/a.txt": 3, "corpus/b.txt": 4}, "org/x", "default",
                                 "train")
    assert [f["path"] for f in files] == ["corpus/a.txt", "corpus/b.txt"]
    assert sum(f["bytes"] for f in files) == 7


def test_default_with_one_folder_per_config_is_refused_listing_them() -> None:
    with pytest.raises(HubConfigRequired) as caught:
        _paths("default", "train")  # data/ and wiki/ both hold train files
    assert caught.value.details["configs"] == ["data", "wiki"]
    assert "--config" in caught.value.message
    converted = {"en/train/0000.parquet": 5, "fr/train/0000.parquet": 5, "fr/test/0.parquet": 1}
    with pytest.raises(HubConfigRequired) as caught:
        _paths("default", "train", converted)
    assert caught.value.details["configs"] == ["en", "fr"]
    assert _paths("en", "train", converted) == ["en/train/0000.parquet"]
    assert _paths("default", "test", converted) == ["fr/test/0.parquet"]  # one folder: no doubt


WIKITEXT = {  # Salesforce/wikitext's layout and card
    "README.md": 9, "wikitext-2-raw-v1/train-00000-of-00001.parquet": 6,
    "wikitext-2-raw-v1/test-00000-of-00001.parquet": 1,
    "wikitext-103-raw-v1/train-00000-of-00002.parquet": 150,
    "wikitext-103-raw-v1/train-00001-of-00002.parquet": 150,
}  # fmt: skip


def _card(*entries: dict) -> dict:
    return card_configs({"configs": list(entries)}, "org/x")


def _wikitext_card(**marks: bool) -> dict:
    return _card(*({"config_name": name, **({"default": True} if marks.get(key) else {}),
                    "data_files": [{"split": "train", "path": f"{name}/train-*"},
                                   {"split": "test", "path": f"{name}/test-*"}]}
                   for key, name in (("small", "wikitext-2-raw-v1"),
                                     ("large", "wikitext-103-raw-v1"))))


def test_card_configs_without_a_default_are_refused_listing_them() -> None:
    with pytest.raises(HubConfigRequired) as caught:
        _pick_files(WIKITEXT, "org/x", "default", "train", _wikitext_card())
    assert caught.value.details["configs"] == ["wikitext-2-raw-v1", "wikitext-103-raw-v1"]
    assert caught.value.details["declared"] is True
    with pytest.raises(HubConfigNotFound) as missing:
        _pick_files(WIKITEXT, "org/x", "wikitext-2", "train", _wikitext_card())
    assert missing.value.details["configs"] == ["wikitext-2-raw-v1", "wikitext-103-raw-v1"]


def test_card_config_data_files_choose_files_per_split() -> None:
    config, files = _pick_files(WIKITEXT, "org/x", "wikitext-103-raw-v1", "train",
                                _wikitext_card())
    assert config == "wikitext-103-raw-v1" and [f["path"] for f in files] == [
        "wikitext-103-raw-v1/train-00000-of-00002.parquet",
        "wikitext-103-raw-v1/train-00001-of-00002.parquet"]
    with pytest.raises(HubSplitNotFound) as caught:
        _pick_files(WIKITEXT, "org/x", "wikitext-2-raw-v1", "validation", _wikitext_card())
    assert caught.value.details["available_splits"] == ["test", "train"]


def test_default_is_the_config_marked_default_or_named_default() -> None:
    config, files = _pick_files(WIKITEXT, "org/x", "default", "test", _wikitext_card(small=True))
    assert config == "wikitext-2-raw-v1"
    assert [f["path"] for f in files] == ["wikitext-2-raw-v1/test-00000-of-00001.parquet"]
    named = _card({"config_name": "default", "data_files": "wikitext-2-raw-v1/train-*"},
                  {"config_name": "big", "data_dir": "wikitext-103-raw-v1"})
    assert _pick_files(WIKITEXT, "org/x", "default", "train", named)[0] == "default"
    config, files = _pick_files(WIKITEXT, "org/x", "big", "train", named)  # data_dir: inferred
    assert config == "big" and len(files) == 2
    with pytest.raises(HubCardInvalid):
        _pick_files(WIKITEXT, "org/x", "default", "train", _wikitext_card(small=True, large=True))
    only = _card({"config_name": "main", "data_files": {"train": "wikitext-2-raw-v1/*.parquet"}})
    assert _pick_files(WIKITEXT, "org/x", "default", "train", only)[0] == "main"


def test_data_files_globs_follow_fsspec() -> None:
    paths = ["a/x.csv", "a/b/y.csv", "z.csv", "a/.hidden/w.csv", "a/__pycache__/v.csv"]
    assert match_data_files(paths, ["a/*.csv"], None) == ["a/x.csv"]
    assert match_data_files(paths, ["a/**/*.csv"], None) == ["a/b/y.csv", "a/x.csv"]
    assert match_data_files(paths, ["**.csv"], None) == ["a/b/y.csv", "a/x.csv", "z.csv"]
    assert match_data_files(paths, ["*.csv"], "a") == ["a/x.csv"]
    assert match_data_files(paths, ["a/.hidden/*"], None) == ["a/.hidden/w.csv"]
    assert match_data_files(paths, ["?.csv", "a/[xy].csv"], None) == ["a/x.csv", "z.csv"]
