"""A UTF-8 BOM at the start of a file (Excel, Windows Notepad) is an encoding marker: a local
file, an upload and a hub file each import without it: the first row, the CSV column name, a
JSONL line, the statistics and the stored text never see U+FEFF. Real worker, real local hub."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hub_server import HubServer
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset
from interpstudio.services import datasets as service
from interpstudio.services.dataset_params import ReadOptionsSpec

BOM = b"\xef\xbb\xbf"
CSV = BOM + "text,id\r\nhéllo,1\r\nworld,2\r\n".encode()
JSONL = BOM + '{"text": "héllo"}\n{"text": "world"}\n'.encode()
TXT = BOM + "héllo\r\nworld\r\n".encode()
ROWS = ["héllo", "world"]


def _assert_clean(ready: dict[str, Any], settings: Settings) -> None:
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["rows"] == 2 and ready["stats"]["characters"] == sum(map(len, ROWS))
    assert ready["stats"]["utf8_bytes"] == sum(len(t.encode()) for t in ROWS)
    stored = pq.read_table(settings.data_dir / ready["path"] / "text.parquet")
    assert stored.column("text").to_pylist() == ROWS


def test_local_files_with_a_bom_import_without_it(ds_settings: Settings, import_root: Path,
                                                  call, wait_row, worker_thread) -> None:
    for name, data in (("rows.csv", CSV), ("rows.jsonl", JSONL), ("lines.txt", TXT)):
        (import_root / name).write_bytes(data)
    worker_thread(ds_settings)
    for name in ("rows.csv", "rows.jsonl", "lines.txt"):
        spec = ReadOptionsSpec(text_column=None if name == "lines.txt" else "text")
        created = call(service.add_local_dataset, settings=ds_settings,
                       files=[str(import_root / name)], name=None, spec=spec)
        assert created["text_column"] == (None if name == "lines.txt" else "text")
        _assert_clean(wait_row(Dataset, created["id"], "ready", "failed"), ds_settings)
        page, _total = call(service.preview_rows, paths=DataPaths(ds_settings.data_dir),
                            dataset_id=created["id"], offset=0, limit=1, random=False, seed=0)
        assert page[0][1] == "héllo"


def test_uploaded_file_with_a_bom_imports_without_it(ds_settings: Settings, call, wait_row,
                                                     worker_thread) -> None:
    staging = DataPaths(ds_settings.data_dir).tmp / "upload-bom"
    staging.mkdir(parents=True)
    (staging / "rows.csv").write_bytes(CSV)
    created = call(service.add_uploaded_dataset, settings=ds_settings, staging=staging,
                   files=["rows.csv"], name=None, spec=ReadOptionsSpec())
    assert created["text_column"] == "text"
    worker_thread(ds_settings)
    _assert_clean(wait_row(Dataset, created["id"], "ready", "failed"), ds_settings)


def test_hub_file_with_a_bom_imports_without_it(ds_settings: Settings, hub: HubServer,
                                                call: Callable[..., Any], wait_row,
                                                worker_thread) -> None:
    hub.add_dataset("org/bom-ds", {"data/train.jsonl": JSONL})
    created = call(service.add_hub_dataset, settings=ds_settings, repo_id="org/bom-ds",
                   revision="main", config="default", split="train", name=None,
                   spec=ReadOptionsSpec(text_column="text"), token=None)
    worker_thread(ds_settings)
    _assert_clean(wait_row(Dataset, created["id"], "ready", "failed"), ds_settings)
