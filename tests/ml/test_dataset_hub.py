"""Choosing a hub dataset's files for a config and split (the layouts hub repos use)."""

from __future__ import annotations

import pytest

from interpstudio.ml.dataset_hub import HubSplitNotFound, _pick_files

LAYOUT = {
    "README.md": 10,
    "data/train-00000-of-00002.parquet": 100,
    "data/train-00001-of-00002.parquet": 100,
    "data/test-00000-of-00001.parquet": 50,
    "data/train.jsonl": 300,
    "wiki/train/part-0.jsonl": 7,
    "wiki/validation.csv": 8,
}


def _paths(config: str, split: str) -> list[str]:
    return [f["path"] for f in _pick_files(LAYOUT, "org/x", config, split)]


def test_default_config_prefers_parquet_shards_of_the_split() -> None:
    assert _paths("default", "train") == ["data/train-00000-of-00002.parquet",
                                          "data/train-00001-of-00002.parquet"]
    assert _paths("default", "test") == ["data/test-00000-of-00001.parquet"]


def test_named_config_is_a_folder_and_split_a_folder_or_file_name() -> None:
    assert _paths("wiki", "train") == ["wiki/train/part-0.jsonl"]
    assert _paths("wiki", "validation") == ["wiki/validation.csv"]


def test_unknown_split_lists_the_splits_seen() -> None:
    with pytest.raises(HubSplitNotFound) as caught:
        _paths("default", "dev")
    assert caught.value.details["available_splits"] == ["test", "train", "validation"]


def test_files_without_split_names_count_as_train() -> None:
    files = _pick_files({"corpus/a.txt": 3, "corpus/b.txt": 4}, "org/x", "default", "train")
    assert [f["path"] for f in files] == ["corpus/a.txt", "corpus/b.txt"]
    assert sum(f["bytes"] for f in files) == 7
