"""Dataset import through the services and a real worker: local files of each format, the
bundled text, the test hub (plain, gated, unknown), bad input that fails cleanly without touching
other datasets, roots, free disk, delete rules."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_helpers import add_bundled
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub_server import HubServer
from hub_server.tiny_datasets import tiny_dataset_rows
from interpstudio.core.errors import InsufficientDisk, PathOutsideRoot
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.models import Dataset, Job
from interpstudio.ml.dataset_hub import HubDatasetNotFound, HubSplitNotFound, HubTokenRequired
from interpstudio.ml.hub_dataset_configs import HubConfigNotFound, HubConfigRequired
from interpstudio.ml.text_sources import MissingTextColumn
from interpstudio.services import datasets as service
from interpstudio.services.dataset_errors import DatasetInUse
from interpstudio.services.dataset_params import ReadOptionsSpec, TokenizationPolicySpec
from interpstudio.services.tokenizations import create_tokenization

ROWS = [r["text"] for r in tiny_dataset_rows()]


def _add_local(call: Callable[..., Any], settings: Settings, files: list[Path],
               **spec: Any) -> dict[str, Any]:
    return call(service.add_local_dataset, settings=settings, files=[str(f) for f in files],
                name=None, spec=ReadOptionsSpec(**spec))


def test_local_import_of_each_format_is_ready_with_stats_and_sha256(
    ds_settings: Settings, import_root: Path, tiny_dataset_dir: Path, call, wait_row,
    worker_thread,
) -> None:
    import shutil

    parquet = shutil.copy(tiny_dataset_dir / "data/train-00000-of-00001.parquet", import_root)
    jsonl = shutil.copy(tiny_dataset_dir / "data/train.jsonl", import_root)
    (import_root / "rows.csv").write_text("id,text\n" + "".join(
        f'{i},"{t.replace(chr(34), chr(34) * 2)}"\n' for i, t in enumerate(ROWS)))
    (import_root / "rows.json").write_text(json.dumps([{"text": t} for t in ROWS]))
    (import_root / "lines.txt").write_text("alpha\n\nbeta gamma\n")
    worker_thread(ds_settings)
    for source, rows in ((parquet, ROWS), (jsonl, ROWS), (import_root / "rows.csv", ROWS),
                         (import_root / "rows.json", ROWS),
                         (import_root / "lines.txt", ["alpha", "", "beta gamma"])):
        created = _add_local(call, ds_settings, [Path(source)])
        ready = wait_row(Dataset, created["id"], "ready", "failed")
        assert ready["status"] == "ready", ready["error_message"]
        assert ready["rows"] == len(rows) and ready["stats"]["rows"] == len(rows)
        assert ready["stats"]["characters"] == sum(map(len, rows))
        assert ready["stats"]["empty_rows"] == sum(1 for t in rows if not t.strip())
        assert len(ready["files"][0]["sha256"]) == 64
        assert ready["files"][0]["bytes"] == Path(source).stat().st_size
        page, total = call(service.preview_rows, paths=DataPaths(ds_settings.data_dir),
                           dataset_id=created["id"], offset=1, limit=2, random=False, seed=0)
        assert total == len(rows) and [t for _i, t in page] == rows[1:3]


def test_several_files_and_whole_file_txt_mode(ds_settings: Settings, import_root: Path, call,
                                               wait_row, worker_thread) -> None:
    (import_root / "a.txt").write_text("one\ntwo\n")
    (import_root / "b.txt").write_text("three\n")
    worker_thread(ds_settings)
    lines = _add_local(call, ds_settings, [import_root / "a.txt", import_root / "b.txt"])
    whole = _add_local(call, ds_settings, [import_root], txt_mode="file")
    assert wait_row(Dataset, lines["id"], "ready")["rows"] == 3
    ready = wait_row(Dataset, whole["id"], "ready")
    assert ready["rows"] == 2 and [f["name"] for f in ready["files"]] == ["a.txt", "b.txt"]


def test_import_progress_ends_at_the_rows_read_not_the_estimate(
    ds_settings: Settings, import_root: Path, call, wait_row, wait_job, worker_thread,
) -> None:
    (import_root / "one-line.json").write_text(json.dumps([{"text": t} for t in "abc"]))
    (import_root / "blank-end.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n\n\n')
    worker_thread(ds_settings)
    for name in ("one-line.json", "blank-end.jsonl"):  # estimates: 1 row (newlines), 4 rows
        created = _add_local(call, ds_settings, [import_root / name])
        ready = wait_row(Dataset, created["id"], "ready", "failed")
        job = wait_job(created["job_id"], "succeeded")
        assert job.done == job.total == ready["rows"], (name, job.done, job.total)


def test_bundled_text_imports(ds_settings: Settings, call, wait_row, worker_thread) -> None:
    created = call(add_bundled, settings=ds_settings, name="macbeth")
    worker_thread(ds_settings)
    ready = wait_row(Dataset, created["id"], "ready", "failed")
    assert ready["source"] == "bundled" and ready["rows"] > 3000


def test_hub_import_by_id_revision_split(ds_settings: Settings, hub: HubServer,
                                         tiny_dataset_dir: Path, call, wait_row,
                                         worker_thread) -> None:
    sha = hub.add_dataset("org/tiny-ds", tiny_dataset_dir)
    created = call(service.add_hub_dataset, settings=ds_settings, repo_id="org/tiny-ds",
                   revision="main", config="default", split="train", name=None,
                   spec=ReadOptionsSpec(), token=None)
    assert created["commit_sha"] == sha and created["info"]["preflight"]["bytes"] > 0
    worker_thread(ds_settings)
    ready = wait_row(Dataset, created["id"], "ready", "failed")
    assert ready["status"] == "ready", ready["error_message"]
    assert ready["rows"] == len(ROWS) and ready["text_column"] == "text"
    assert [f["name"] for f in ready["files"]] == ["data/train-00000-of-00001.parquet"]
    assert not (ds_settings.data_dir / ready["path"] / "raw/.cache").exists()


def test_hub_unknown_dataset_and_split_are_clear_errors(ds_settings: Settings, hub: HubServer,
                                                        tiny_dataset_dir: Path, call) -> None:
    hub.add_dataset("org/tiny-ds", tiny_dataset_dir)
    kwargs = {"settings": ds_settings, "revision": "main", "config": "default", "name": None,
              "spec": ReadOptionsSpec(), "token": None}
    with pytest.raises(HubDatasetNotFound, match="org/nope"):
        call(service.add_hub_dataset, repo_id="org/nope", split="train", **kwargs)
    with pytest.raises(HubSplitNotFound) as caught:
        call(service.add_hub_dataset, repo_id="org/tiny-ds", split="test", **kwargs)
    assert caught.value.details["available_splits"] == ["train"]


def _multi_config_hub(hub: HubServer, folder: Path) -> None:
    """org/multi (README configs en, fr; no default), org/multi-fr (fr marked default) and
    org/folders (one folder per config, no README), each with en/ and fr/ train files."""
    folder.mkdir()
    files: dict[str, bytes | Path] = {}
    for config, texts in (("en", ["english one", "english two"]),
                          ("fr", ["français un", "français deux"])):
        pq.write_table(pa.table({"text": texts}), folder / f"{config}.parquet")
        files[f"{config}/train.parquet"] = folder / f"{config}.parquet"
    card = ("---\nconfigs:\n- config_name: en\n  data_files: en/train.parquet\n"
            "- config_name: fr\n{}  data_files:\n  - split: train\n    path: fr/*.parquet\n---\n")
    hub.add_dataset("org/multi", {**files, "README.md": card.format("").encode()})
    marked = card.format("  default: true\n").encode()
    hub.add_dataset("org/multi-fr", {**files, "README.md": marked})
    hub.add_dataset("org/folders", files)


def test_hub_dataset_of_several_configs_without_a_default_is_refused_before_downloading(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, call, factory,
) -> None:
    _multi_config_hub(hub, tmp_path / "multi")
    kwargs = {"settings": ds_settings, "revision": "main", "split": "train", "name": None,
              "spec": ReadOptionsSpec(), "token": None}
    for repo_id, declared in (("org/multi", True), ("org/folders", False)):
        with pytest.raises(HubConfigRequired) as caught:
            call(service.add_hub_dataset, repo_id=repo_id, config="default", **kwargs)
        assert caught.value.details == {"repo_id": repo_id, "configs": ["en", "fr"],
                                        "declared": declared}
        assert "en, fr" in caught.value.message and "--config" in caught.value.message
        # undeclared folders may also be taken together (found by a reviewer: a corpus split
        # into data/2019, data/2020 could not be imported whole any more)
        assert ("--config all" in caught.value.message) is not declared
    with pytest.raises(HubConfigNotFound, match="en, fr"):
        call(service.add_hub_dataset, repo_id="org/multi", config="de", **kwargs)
    assert hub.bytes_served("en/train.parquet") == hub.bytes_served("fr/train.parquet") == 0
    with factory() as session:
        assert session.scalars(select(Dataset)).all() == []


def test_hub_dataset_config_chosen_or_marked_default_imports_that_config_only(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, call, wait_row, worker_thread,
) -> None:
    _multi_config_hub(hub, tmp_path / "multi")
    kwargs = {"settings": ds_settings, "revision": "main", "split": "train", "name": None,
              "spec": ReadOptionsSpec(), "token": None}
    chosen = call(service.add_hub_dataset, repo_id="org/multi", config="en", **kwargs)
    marked = call(service.add_hub_dataset, repo_id="org/multi-fr", config="default", **kwargs)
    folder = call(service.add_hub_dataset, repo_id="org/folders", config="fr", **kwargs)
    together = call(service.add_hub_dataset, repo_id="org/folders", config="all", **kwargs)
    worker_thread(ds_settings)
    whole = wait_row(Dataset, together["id"], "ready", "failed")
    assert whole["status"] == "ready", whole["error_message"]
    assert whole["rows"] == 4 and whole["config_name"] == "all"
    for created, config, texts in ((chosen, "en", ["english one", "english two"]),
                                   (marked, "fr", ["français un", "français deux"]),
                                   (folder, "fr", ["français un", "français deux"])):
        ready = wait_row(Dataset, created["id"], "ready", "failed")
        assert ready["status"] == "ready", ready["error_message"]
        assert ready["config_name"] == config and ready["rows"] == 2
        assert [f["name"] for f in ready["files"]] == [f"{config}/train.parquet"]
        page, _total = call(service.preview_rows, paths=DataPaths(ds_settings.data_dir),
                            dataset_id=created["id"], offset=0, limit=5, random=False, seed=0)
        assert [t for _i, t in page] == texts


def test_hub_gated_needs_token_which_is_never_stored(ds_settings: Settings, hub: HubServer,
                                                     tiny_dataset_dir: Path, call, wait_row,
                                                     factory, worker_thread) -> None:
    hub.add_dataset("org/locked", tiny_dataset_dir, gated=True, token="hf_secret_token_1")
    kwargs = {"settings": ds_settings, "repo_id": "org/locked", "revision": "main",
              "config": "default", "split": "train", "name": None, "spec": ReadOptionsSpec()}
    with pytest.raises(HubTokenRequired) as caught:
        call(service.add_hub_dataset, token=None, **kwargs)
    assert caught.value.status == 403 and "token" in caught.value.message
    with pytest.raises(HubTokenRequired, match="no access"):
        call(service.add_hub_dataset, token="hf_wrong", **kwargs)
    created = call(service.add_hub_dataset, token="hf_secret_token_1", **kwargs)
    worker_thread(ds_settings)
    assert wait_row(Dataset, created["id"], "ready", "failed")["status"] == "ready"
    with factory() as session:
        job = session.get(Job, created["job_id"])
        assert "hf_secret" not in json.dumps(job.params) + json.dumps(job.result)
    assert not list(ds_settings.data_dir.rglob("*.token"))


def test_bad_file_fails_cleanly_and_other_datasets_stay(ds_settings: Settings, import_root: Path,
                                                        call, wait_row, worker_thread) -> None:
    (import_root / "good.txt").write_text("fine\n")
    (import_root / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    worker_thread(ds_settings)
    good = _add_local(call, ds_settings, [import_root / "good.txt"])
    assert wait_row(Dataset, good["id"], "ready")["rows"] == 1
    bad = _add_local(call, ds_settings, [import_root / "latin1.txt"])
    failed = wait_row(Dataset, bad["id"], "failed")
    assert "latin1.txt" in failed["error_message"] and "line 2" in failed["error_message"]
    assert not (ds_settings.data_dir / failed["path"]).exists()
    replaced = _add_local(call, ds_settings, [import_root / "latin1.txt"], decode="replace")
    ready = wait_row(Dataset, replaced["id"], "ready")
    assert ready["stats"]["decode"]["invalid_bytes"] == 1
    assert (ds_settings.data_dir / good["path"] / "text.parquet").exists()


def test_missing_column_and_outside_roots_refused_before_any_copy(
    ds_settings: Settings, import_root: Path, tmp_path: Path, call,
) -> None:
    (import_root / "a.csv").write_text("id,body\n1,hi\n")
    with pytest.raises(MissingTextColumn):
        _add_local(call, ds_settings, [import_root / "a.csv"], text_column="text")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x\n")
    with pytest.raises(PathOutsideRoot):
        _add_local(call, ds_settings, [outside])
    with pytest.raises(PathOutsideRoot):
        _add_local(call, ds_settings, [import_root / ".." / "elsewhere.txt"])


@contextlib.contextmanager
def refused_for_disk(tmp_path: Path, **overrides: Any) -> Iterator[tuple[Settings, Session,
                                                                        pytest.ExceptionInfo]]:
    """Settings whose data dir is a real 4 MB filesystem, a session on a migrated database, and
    the ``InsufficientDisk`` the body must raise."""
    from helpers import make_settings, small_filesystem
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.session import make_engine, make_session_factory

    with small_filesystem(tmp_path / "small", "4M") as small:
        settings = make_settings(tmp_path, data_dir=small / "data", **overrides)
        upgrade(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            with make_session_factory(engine).begin() as session, \
                    pytest.raises(InsufficientDisk) as caught:
                yield settings, session, caught
        finally:
            engine.dispose()
        assert caught.value.status == 507
        assert not any((small / "data").rglob("*.parquet")) and not any(
            (small / "data").rglob("*.txt"))


def test_insufficient_disk_is_refused_before_copying(tmp_path: Path) -> None:
    roots = tmp_path / "imports"
    roots.mkdir()
    (roots / "big.txt").write_text("word " * 1_000_000)
    with refused_for_disk(tmp_path, import_roots=[roots]) as (settings, session, caught):
        service.add_local_dataset(session=session, settings=settings,
                                  files=[str(roots / "big.txt")], name=None,
                                  spec=ReadOptionsSpec())
    assert caught.value.details["needed_bytes"] > 4_000_000


def test_hub_dataset_larger_than_the_free_disk_is_refused_before_downloading(
    tmp_path: Path, hub: HubServer
) -> None:
    """Pitfall 27 for datasets: no free-disk check before a large pull. ~25 MB of parquet on a
    4 MB filesystem is refused (507, with the bytes needed) before any file is downloaded."""
    from dataset_helpers import write_incompressible_dataset

    hub.add_dataset("org/big-ds", write_incompressible_dataset(tmp_path / "big-ds"))
    with refused_for_disk(tmp_path, hf_endpoint=hub.url) as (settings, session, caught):
        service.add_hub_dataset(session=session, settings=settings, repo_id="org/big-ds",
                                revision="main", config="default", split="train",
                                name=None, spec=ReadOptionsSpec(), token=None)
    assert caught.value.details["needed_bytes"] > 25_000_000


def test_delete_refuses_while_tokenized_unless_forced(ds_settings: Settings, import_root: Path,
                                                      llama_model_id: int, call, wait_row,
                                                      wait_job, worker_thread) -> None:
    (import_root / "a.txt").write_text("hello world\nsecond line\n")
    worker_thread(ds_settings)
    created = _add_local(call, ds_settings, [import_root / "a.txt"])
    wait_row(Dataset, created["id"], "ready")
    paths = DataPaths(ds_settings.data_dir)
    tokenization = call(create_tokenization, paths=paths, dataset_id=created["id"],
                        model_id=llama_model_id, policy=TokenizationPolicySpec())
    from interpstudio.db.models import Tokenization

    wait_row(Tokenization, tokenization["id"], "ready", "failed")
    wait_job(tokenization["job_id"], "succeeded")
    with pytest.raises(DatasetInUse) as caught:
        call(service.delete_dataset, paths=paths, dataset_id=created["id"])
    assert caught.value.details["tokenizations"][0]["id"] == tokenization["id"]
    from interpstudio.db.models import Extraction, Job

    def add_finished_extraction(session: Any) -> int:
        job = Job(kind="extract", params={}, state="cancelled")
        session.add(job)
        session.flush()
        session.add(Extraction(name="acts", model_id=llama_model_id, spec={}, info={},
                               tokenization_id=tokenization["id"], config_hash="c",
                               path="extractions/9", job_id=job.id))
        return job.id

    extraction_job = call(add_finished_extraction)
    removed = call(service.delete_dataset, paths=paths, dataset_id=created["id"], force=True)
    assert removed["removed"]["tokenizations"][0]["id"] == tokenization["id"]
    assert call(lambda session: session.get(Job, extraction_job) is None)  # was left listed
    assert not (ds_settings.data_dir / created["path"]).exists()


def test_disk_filling_up_mid_import_fails_cleanly(tmp_path: Path, hub: HubServer,
                                                  worker_thread) -> None:
    """Preflight passes, then another process fills the disk; the copy hits ENOSPC."""
    from helpers import make_settings, small_filesystem, wait_for
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.session import make_engine, make_session_factory

    with small_filesystem(tmp_path / "small", "24M") as small:
        roots = tmp_path / "imports"
        roots.mkdir()
        (roots / "words.txt").write_text("some words on a line\n" * 150_000)  # ~3 MB
        settings = make_settings(tmp_path, data_dir=small / "data", import_roots=[roots])
        upgrade(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        factory = make_session_factory(engine)
        with factory.begin() as session:
            dataset = service.add_local_dataset(session=session, settings=settings,
                                                files=[str(roots / "words.txt")], name=None,
                                                spec=ReadOptionsSpec())
            dataset_id, folder = dataset.id, settings.data_dir / str(dataset.path)
        filler = small / "filler.bin"
        with filler.open("wb") as out:  # leave about 1 MB free
            out.write(b"\0" * (int(subprocess.check_output(
                ["df", "--output=avail", "-B1", str(small)]).split()[-1]) - 1_000_000))
        worker_thread(settings)

        def settled() -> Dataset | None:
            with factory() as session:
                row = session.get(Dataset, dataset_id)
                return row if row is not None and row.status in ("failed", "ready") else None

        failed = wait_for(settled, timeout=60)

        def failed_job() -> Job | None:  # the row is marked a moment before the job
            with factory() as session:
                job = session.get(Job, failed.job_id)
                return job if job.state == "failed" else None

        job = wait_for(failed_job, timeout=30)
        assert job.error_code == "disk_full", job.error_message
        assert failed.status == "failed" and "filled up" in failed.error_message
        assert not folder.exists()
        engine.dispose()


def test_hub_download_progress_counts_bytes_as_they_arrive(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, factory, wait_row, worker_thread,
) -> None:
    from dataset_helpers import write_incompressible_dataset

    folder = write_incompressible_dataset(tmp_path / "big-ds") / "data"
    hub.add_dataset("org/big-ds", folder.parent)
    hub.faults.set_throttle(10_000_000)
    created = call_add_hub(factory, ds_settings, "org/big-ds")
    worker_thread(ds_settings)
    seen: list[float] = []

    def record() -> bool:
        with factory() as session:
            job = session.get(Job, created)
            if job.stage == "download" and job.done and (not seen or job.done != seen[-1]):
                seen.append(job.done)
            return job.state in ("succeeded", "failed")

    from helpers import wait_for

    wait_for(record, timeout=60, interval=0.02)
    with factory() as session:
        job = session.get(Job, created)
        assert job.state == "succeeded", job.error_message
        dataset = session.scalars(select(Dataset).where(Dataset.job_id == created)).one()
    assert len(seen) >= 3 and seen == sorted(seen), seen
    assert seen[-1] <= dataset.bytes and dataset.rows == 8500


def test_hub_download_resumes_after_a_dropped_connection(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, factory, wait_job, worker_thread,
) -> None:
    """Pitfall 27 for datasets: a download that restarts from zero after a network drop. The
    server closes the connection 15 MB into the ~25 MB file; the next request asks for the rest
    (a Range from where the bytes on disk end): every byte arrives once, since the downloader
    writes what it receives at once (huggingface_hub's own buffered 10 MB and lost the rest)."""
    from dataset_helpers import write_incompressible_dataset

    hub.add_dataset("org/big-ds", write_incompressible_dataset(tmp_path / "big-ds"))
    name = "data/train-00000-of-00001.parquet"
    hub.faults.drop_connection(name, after_bytes=15_000_000)
    job_id = call_add_hub(factory, ds_settings, "org/big-ds")
    worker_thread(ds_settings)
    job = wait_job(job_id, "succeeded", "failed", timeout=120)
    assert job.state == "succeeded", job.error_message
    size = (tmp_path / "big-ds" / name).stat().st_size
    ranges = [r.range for r in hub.requests if r.filename == name and r.method == "GET"]
    assert len(ranges) == 2 and ranges[0] is None and ranges[1] == "bytes=15000000-"
    assert hub.bytes_served(name) == size


def test_hub_download_that_arrives_corrupted_fails_naming_the_file(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, factory, wait_job, worker_thread,
) -> None:
    """The plan records the hub's sha256 of each data file: bytes changed on the way fail the
    import with the file named, and nothing of it is kept."""
    from dataset_helpers import write_incompressible_dataset

    hub.add_dataset("org/big-ds", write_incompressible_dataset(tmp_path / "big-ds"))
    hub.faults.corrupt("data/train-00000-of-00001.parquet")
    job_id = call_add_hub(factory, ds_settings, "org/big-ds")
    worker_thread(ds_settings)
    job = wait_job(job_id, "succeeded", "failed", timeout=120)
    assert job.state == "failed"
    assert "sha256" in job.error_message and "train-00000-of-00001.parquet" in job.error_message
    with factory() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.job_id == job_id)).one()
        assert dataset.status == "failed"
        assert not (ds_settings.data_dir / dataset.path).exists()


def test_hub_download_survives_kill_9_of_the_worker_and_resumes_from_disk(
    ds_settings: Settings, hub: HubServer, tmp_path: Path, factory, wait_job,
) -> None:
    """Pitfall 27 for datasets, the process killed: a real worker is SIGKILLed mid-download; a
    new worker marks the job interrupted, and resume asks only for the bytes after those on
    disk (huggingface_hub's ``.incomplete`` file in the dataset's folder)."""
    import signal

    from dataset_helpers import write_incompressible_dataset

    from helpers import start_worker_process, wait_for
    from interpstudio.services import jobs as job_service

    hub.add_dataset("org/big-ds", write_incompressible_dataset(tmp_path / "big-ds"))
    name = "data/train-00000-of-00001.parquet"
    hub.faults.set_throttle(2_000_000)
    job_id = call_add_hub(factory, ds_settings, "org/big-ds")
    log = tmp_path / "worker.log"

    def on_disk() -> int:
        sizes = [p.stat().st_size for p in ds_settings.data_dir.rglob("*.incomplete")]
        return max(sizes, default=0)

    first = start_worker_process(ds_settings, log)
    try:
        wait_for(lambda: on_disk() >= 10 << 20, timeout=90)  # one 10 MB chunk written
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    kept = on_disk()
    hub.faults.set_throttle(None)
    second = start_worker_process(ds_settings, log)
    try:
        interrupted = wait_job(job_id, "interrupted", timeout=30)
        assert "died" in (interrupted.error_message or ""), interrupted.error_message
        with factory.begin() as session:
            job_service.resume_job(session=session, job_id=job_id)
        job = wait_job(job_id, "succeeded", "failed", timeout=120)
    finally:
        second.terminate()
        second.wait(15)
    assert job.state == "succeeded", job.error_message + log.read_text()[-2000:]
    size = (tmp_path / "big-ds" / name).stat().st_size
    ranges = [r.range for r in hub.requests if r.filename == name and r.method == "GET"]
    assert ranges[0] is None and ranges[-1] == f"bytes={kept}-", ranges
    assert hub.bytes_served(name) - size < 0.1 * size + kept  # the killed request's bytes only
    with factory() as session:
        dataset = session.scalars(select(Dataset).where(Dataset.job_id == job_id)).one()
        assert dataset.status == "ready" and dataset.rows == 8500


def call_add_hub(factory, settings: Settings, repo_id: str) -> int:  # type: ignore[no-untyped-def]
    with factory.begin() as session:
        dataset = service.add_hub_dataset(session=session, settings=settings, repo_id=repo_id,
                                          revision="main", config="default", split="train",
                                          name=None, spec=ReadOptionsSpec(), token=None)
        return int(dataset.job_id)
