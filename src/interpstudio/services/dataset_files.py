"""Where a dataset's and a tokenization's files live, and the free-disk preflight.

Layout under the data dir: ``datasets/{id}/raw/`` (the source files as imported),
``datasets/{id}/text.parquet`` (every row's text), ``datasets/{id}/tokenizations/{tid}/`` (a
token store, see ``ml/token_store.py``). ``Dataset.path`` and ``Tokenization.path`` hold these
folders relative to the data dir. This module is NOT responsible for writing the files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from interpstudio.core.errors import InsufficientDisk
from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.ml.text_store import TEXT_FILE

DISK_MARGIN_BYTES = 16 * 1024 * 1024
RAW_DIR = "raw"


def dataset_relpath(dataset_id: int) -> str:
    return f"datasets/{int(dataset_id)}"


def tokenization_relpath(dataset_id: int, tokenization_id: int) -> str:
    return f"{dataset_relpath(dataset_id)}/tokenizations/{int(tokenization_id)}"


def resolve(paths: DataPaths, relpath: str) -> Path:
    """A stored relative path as an absolute one, refusing anything outside the data dir."""
    return ensure_within(paths.root / relpath, [paths.root])


def text_file(paths: DataPaths, relpath: str) -> Path:
    return resolve(paths, relpath) / TEXT_FILE


def raw_files(folder: Path) -> list[Path]:
    """The imported source files under ``folder/raw`` (hub metadata folders left out)."""
    raw = folder / RAW_DIR
    if not raw.exists():
        return []
    return sorted(p for p in raw.rglob("*") if p.is_file() and ".cache" not in p.parts
                  and not p.name.endswith(".partial"))


def check_free_disk(paths: DataPaths, needed: int) -> int:
    """Refuse (507) unless ``needed`` bytes plus a margin are free; return the free bytes."""
    paths.root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(paths.root).free
    if needed + DISK_MARGIN_BYTES > free:
        raise InsufficientDisk(needed=needed + DISK_MARGIN_BYTES, free=free,
                               path=str(paths.root))
    return free


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
