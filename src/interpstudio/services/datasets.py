"""Dataset use cases: add (local files, bundled text, hub, upload), list, get, rename, preview,
delete.

Adding checks what can be checked before any byte is copied (paths inside the allowed roots,
file types, the first records and the text column, sizes and free disk, hub access), then creates
the dataset row and its ``dataset_import`` job. Functions take keyword-only arguments and a
session they do not commit. This module is NOT responsible for the import itself
(``jobs/tasks/datasets.py``) or for tokenizations (``services/tokenizations.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.errors import InvalidInput, JobNotFound
from interpstudio.core.paths import DataPaths, within_import_roots
from interpstudio.core.settings import Settings
from interpstudio.data import bundled_text_path
from interpstudio.db.models import ACTIVE_STATES, Dataset, Job
from interpstudio.db.repositories import datasets as repo
from interpstudio.db.repositories import jobs as job_repo
from interpstudio.ml.dataset_hub import plan_hub_dataset
from interpstudio.ml.source_inspection import inspect_sources
from interpstudio.ml.text_sources import FORMATS, ReadOptions
from interpstudio.ml.text_store import read_rows, sample_rows
from interpstudio.services import jobs as job_service
from interpstudio.services.dataset_errors import (
    DatasetBusy,
    DatasetInUse,
    DatasetNotFound,
    DatasetNotReady,
)
from interpstudio.services.dataset_files import (
    RAW_DIR,
    check_free_disk,
    dataset_relpath,
    remove_folder,
    resolve,
    text_file,
)
from interpstudio.services.dataset_params import ReadOptionsSpec
from interpstudio.services.model_files import discard_token, hand_token_to_job

DATASET_STATUSES = ("queued", "importing", "ready", "failed", "cancelled", "interrupted")


def read_options(spec: ReadOptionsSpec) -> ReadOptions:
    return ReadOptions(text_column=spec.text_column, txt_mode=spec.txt_mode, decode=spec.decode,
                       max_record_bytes=spec.max_record_bytes)


def get_dataset(*, session: Session, dataset_id: int) -> Dataset:
    dataset = repo.get_dataset(session, dataset_id)
    if dataset is None:
        raise DatasetNotFound(dataset_id)
    return dataset


def dataset_job(*, session: Session, job_id: int | None) -> Job | None:
    if job_id is None:
        return None
    try:
        return job_service.get_job(session=session, job_id=job_id)
    except JobNotFound:
        return None


FINISHED_UNREADY = ("failed", "cancelled", "interrupted")


def effective_status(status: str, job: Job | None) -> str:
    """The row's status, corrected by its job when the task could not write it (killed)."""
    if job is None or status in ("ready", "failed", "cancelled"):
        return status
    if job.state in ("failed", "interrupted", "cancelled"):
        return job.state
    if job.state == "queued":
        return "queued"
    return status


def list_datasets(*, session: Session, limit: int, offset: int) -> tuple[list[Dataset], int]:
    return repo.list_datasets(session, limit=limit, offset=offset)


def rename_dataset(*, session: Session, dataset_id: int, name: str) -> Dataset:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("a dataset name cannot be empty; give at least one visible character",
                           details={"name": name})
    return repo.update(session, get_dataset(session=session, dataset_id=dataset_id), name=cleaned)


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for its supported files (sorted, recursively), hidden
    ones (a name starting with '.', or inside such a folder: .git, .ipynb_checkpoints) left out
    as uploads refuse them."""
    if not paths:
        raise InvalidInput("a local dataset needs paths: the files or folders to import",
                           details={"paths": []})
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in FORMATS
                            and not any(part.startswith(".")
                                        for part in p.relative_to(path).parts))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path} does not exist or is not a file; check the path",
                               details={"path": str(path)})
    if not files:
        raise InvalidInput("no supported files found; give .txt, .jsonl, .json, .csv or "
                           ".parquet files", details={"paths": [str(p) for p in paths]})
    return files


def announce_work(session: Session, job_id: int, *, total: int, unit: str) -> None:
    """Give a queued job its known amount of work, so progress reads "0 of N" from the start."""
    job_repo.update_fields(session, job_id, done=0, total=total, unit=unit)


def _create(session: Session, *, name: str, source: str, spec: ReadOptionsSpec,
            params: dict[str, Any], total_bytes: int, **fields: Any) -> Dataset:
    dataset = repo.create_dataset(session, name=name, source=source, status="queued",
                                  text_column=spec.text_column, **fields)
    repo.update(session, dataset, path=dataset_relpath(dataset.id))
    job = job_service.create_job(session=session, kind="dataset_import",
                                 params={"dataset_id": dataset.id, "read": spec.model_dump(),
                                         **params})
    announce_work(session, job.id, total=total_bytes, unit="bytes")
    return repo.update(session, dataset, job_id=job.id)


def _inspected(files: list[Path], spec: ReadOptionsSpec) -> dict[str, Any]:
    info = inspect_sources(files, read_options(spec))
    return {"formats": info.formats, "columns": info.columns,
            "detected_text_column": info.detected_text_column,
            "text_column": info.text_column}


def add_local_dataset(*, session: Session, settings: Settings, files: list[str],
                      name: str | None, spec: ReadOptionsSpec) -> Dataset:
    """Import local files (inside ``import_roots`` or the data dir), named (unless ``name``)
    after the one folder given, else after the first file."""
    given = [within_import_roots(f, settings) for f in files]
    sources = _expand(given)
    for source in sources:  # a folder's files too: a link inside one may point anywhere
        within_import_roots(source, settings)
    if name is None and len(given) == 1 and given[0].is_dir():  # not its first file's stem
        name = given[0].name
    return _add_files(session, settings, sources, name=name, spec=spec, source="local")


def add_bundled_dataset(*, session: Session, settings: Settings, name: str | None,
                        spec: ReadOptionsSpec) -> tuple[Dataset, bool]:
    """The bundled text: the existing import read with the same options (ready or under way),
    else a new one; returns ``(dataset, created)``. A second click or a second ``demo`` does not
    copy and import the same play again."""
    for dataset in repo.list_by_source(session, "bundled"):
        job = dataset_job(session=session, job_id=dataset.job_id)
        if ((dataset.info or {}).get("read") == spec.model_dump()
                and effective_status(dataset.status, job) not in FINISHED_UNREADY):
            return dataset, False
    return _add_files(session, settings, [bundled_text_path()], name=name, spec=spec,
                      source="bundled"), True


def _add_files(session: Session, settings: Settings, sources: list[Path], *, name: str | None,
               spec: ReadOptionsSpec, source: str) -> Dataset:
    paths = DataPaths(settings.data_dir)
    names = [p.name for p in sources]
    if len(set(names)) != len(names):
        raise InvalidInput("two files have the same name; rename one (files are stored by name)",
                           details={"files": names})
    inspected = _inspected(sources, spec)
    total = sum(p.stat().st_size for p in sources)
    free = check_free_disk(paths, 2 * total)  # raw copy + text.parquet (at most its size)
    requested = spec.model_dump()  # as asked: what a second request for the same is matched on
    spec = spec.model_copy(update={"text_column": inspected["text_column"]})
    return _create(
        session, name=name or sources[0].stem, source=source,
        spec=spec, params={"source_paths": [str(p) for p in sources]}, total_bytes=total,
        info={**inspected, "read": requested,
              "preflight": {"bytes": total, "free_bytes": free, "files": names}})


def add_hub_dataset(*, session: Session, settings: Settings, repo_id: str, revision: str,
                    config: str, split: str, name: str | None, spec: ReadOptionsSpec,
                    token: str | None) -> Dataset:
    """Plan the hub files (access checked), check disk, then queue the download + import."""
    paths = DataPaths(settings.data_dir)
    plan = plan_hub_dataset(repo_id, revision=revision, config=config, split=split,
                            endpoint=settings.hf_endpoint, token=token)
    free = check_free_disk(paths, 2 * plan.total_bytes)
    dataset = _create(
        session, name=name or f"{repo_id}:{split}", source="hub", spec=spec, params={},
        total_bytes=plan.total_bytes,
        repo_id=repo_id, revision=revision, commit_sha=plan.commit_sha, config_name=plan.config,
        split=split, info={"hub_plan": plan.to_dict(), "gated": plan.gated,
                           "preflight": {"bytes": plan.total_bytes, "free_bytes": free}})
    if token and dataset.job_id is not None:
        hand_token_to_job(paths, dataset.job_id, token)
    return dataset


def add_uploaded_dataset(*, session: Session, settings: Settings, staging: Path,
                         files: list[str], name: str | None, spec: ReadOptionsSpec) -> Dataset:
    """Adopt files already streamed into ``staging`` (removed on refusal) as a new dataset."""
    paths = DataPaths(settings.data_dir)
    try:
        sources = [staging / f for f in files]
        if not sources:
            raise InvalidInput("the upload holds no files; attach at least one file")
        inspected = _inspected(sources, spec)
        total = sum(p.stat().st_size for p in sources)
        free = check_free_disk(paths, total)
        spec = spec.model_copy(update={"text_column": inspected["text_column"]})
        dataset = _create(session, name=name or sources[0].stem, source="upload", spec=spec,
                          params={}, total_bytes=total, info={**inspected, "file_order": files,
                                           "preflight": {"bytes": total, "free_bytes": free}})
        folder = resolve(paths, dataset_relpath(dataset.id))
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(folder / RAW_DIR))
        return dataset
    finally:
        remove_folder(staging)


def preview_rows(*, session: Session, paths: DataPaths, dataset_id: int, offset: int,
                 limit: int, random: bool, seed: int) -> tuple[list[tuple[int, str]], int]:
    """A page (or a reproducible random sample) of ``(row, text)``, and the row count."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    if dataset.status != "ready" or dataset.path is None:
        raise DatasetNotReady(dataset_id, dataset.status)
    path = text_file(paths, dataset.path)
    rows = (sample_rows(path, limit=limit, seed=seed) if random
            else read_rows(path, offset=offset, limit=limit))
    return rows, int(dataset.rows or 0)


def _refuse_active(session: Session, what: str, job_id: int | None, action: str) -> None:
    job = dataset_job(session=session, job_id=job_id)
    if job is not None and job.state in ACTIVE_STATES:
        raise DatasetBusy(what, job.id, job.state, action)


def check_deletable(*, session: Session, dataset: Dataset, force: bool = False
                    ) -> dict[str, list[dict[str, Any]]]:
    """The rule ``delete_dataset`` keeps, for a client to ask before it asks its user
    (``datasets rm``): refused while the dataset's job is queued or running, while something
    uses it unless ``force`` (``DatasetInUse``), and, with ``force``, while a job of what uses
    it runs (``DatasetBusy``). Returns what ``force`` deletes with it (``repo.dependents``)."""
    _refuse_active(session, f"dataset {dataset.id}", dataset.job_id, "delete the dataset")
    found = repo.dependents(session, dataset.id)
    if (found["tokenizations"] or found["extractions"]) and not force:
        raise DatasetInUse(dataset.id, found)
    for item in (*found["tokenizations"], *found["extractions"]):
        _refuse_active(session, f"{item['path'] or 'a dependent'}", item["job_id"],
                       "delete the dataset")
    return found


def delete_dataset(*, session: Session, paths: DataPaths, dataset_id: int,
                   force: bool = False) -> dict[str, Any]:
    """Delete the dataset, its files and finished job; with ``force`` also what uses it;
    unless ``check_deletable`` refuses."""
    dataset = get_dataset(session=session, dataset_id=dataset_id)
    found = check_deletable(session=session, dataset=dataset, force=force)
    folders = [resolve(paths, p) for p in (dataset.path, *(
        i["path"] for i in (*found["tokenizations"], *found["extractions"]))) if p]
    repo.delete_rows(session, extraction_ids=[e["id"] for e in found["extractions"]],
                     tokenization_ids=[t["id"] for t in found["tokenizations"]], dataset=dataset)
    if dataset.job_id is not None:
        discard_token(paths, dataset.job_id)
    job_service.delete_jobs_of_removed(session=session, paths=paths, job_ids=[
        dataset.job_id, *(i["job_id"] for i in (*found["tokenizations"], *found["extractions"]))])
    for folder in folders:
        remove_folder(folder)
    return {"dataset_id": dataset_id, "removed": found}
