"""Use cases on model records: get, list, rename, delete, cancel / pause / resume / retry their
job, read their architecture and the positions they take.

A model's ``status`` is written by its job as it moves (``queued -> downloading | importing ->
inspecting -> ready``); ``effective_status`` corrects it from the job row when the job ended in a
way the task could not record (a killed worker: ``interrupted``). Cancel removes partial files;
pause (``keep_partial=True``) keeps them for a resume. The most positions a model takes
(``model_positions``) are recorded on its row by its import and read from its files for a row
imported before they were (``services/model_backfill.py`` writes them on such rows once per
start). Every function takes keyword-only arguments and a session it does not
commit. This module is NOT responsible for adding models
(``model_sources.py``) or for running jobs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.errors import InvalidInput, JobNotFound
from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.db.models import ACTIVE_STATES, Job, Model
from interpstudio.db.repositories import models as repo
from interpstudio.db.repositories.shown_status import list_by_shown_status
from interpstudio.services import jobs as job_service
from interpstudio.services.model_errors import (
    ModelBusy,
    ModelDependentsRunning,
    ModelHasNoJob,
    ModelInUse,
    ModelNotFound,
    ModelNotReady,
)
from interpstudio.services.model_files import (
    architecture_file,
    discard_token,
    hand_token_to_job,
    model_dir,
)

ACTIVE_MODEL_STATUSES = ("queued", "downloading", "importing", "inspecting")
MODEL_STATUSES = (*ACTIVE_MODEL_STATUSES, "ready", "failed", "cancelled", "paused", "interrupted")


def get_model(*, session: Session, model_id: int) -> Model:
    model = repo.get(session, model_id)
    if model is None:
        raise ModelNotFound(model_id)
    return model


def model_job(*, session: Session, model: Model) -> Job | None:
    if model.job_id is None:
        return None
    try:
        return job_service.get_job(session=session, job_id=model.job_id)
    except JobNotFound:
        return None


# a model stored with one of these statuses is shown with it, whatever its job says
SETTLED_MODEL_STATUSES = ("ready", "failed", "cancelled", "paused")


def effective_status(model: Model, job: Job | None) -> str:
    """The model's status, corrected by its job's final state when the task could not write it."""
    if job is None or model.status in SETTLED_MODEL_STATUSES:
        return model.status
    if job.state == "cancelled" and (model.info or {}).get("pause_requested"):
        return "paused"  # a pause ends its job as cancelled; the files stay for a resume
    if job.state in ("failed", "interrupted", "cancelled"):
        return job.state
    if job.state == "queued":
        return "queued"
    return model.status


def list_models(*, session: Session, statuses: list[str] | None, search: str | None, limit: int,
                offset: int) -> tuple[list[Model], int]:
    """Newest first. ``statuses`` filters on the status a model is shown with
    (``effective_status``), not the stored one, which a killed worker or a pause landing before
    its task wrote the row leaves behind (``importing`` shown ``interrupted``). Candidates are
    read with their jobs and judged by that rule (``db/repositories/shown_status.py``, shared
    with the extractions list)."""
    return list_by_shown_status(session, repo.list_query(search=search), Model,
                                statuses=statuses or (), settled=SETTLED_MODEL_STATUSES,
                                shown=effective_status, limit=limit, offset=offset)


def rename_model(*, session: Session, model_id: int, name: str) -> Model:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("a model name cannot be empty; give at least one visible character",
                           details={"name": name})
    return repo.update(session, get_model(session=session, model_id=model_id), name=cleaned)


def check_deletable(*, session: Session, model: Model, force: bool = False
                    ) -> tuple[Job | None, dict[str, list[dict[str, Any]]]]:
    """The rule ``delete_model`` keeps, for a client to ask before it asks its user (``models
    rm`` deleted without a question; asking first, then refusing, wastes the answer): refused
    while the model's job is queued or running (``ModelBusy``), while something uses it unless
    ``force`` (``ModelInUse``), and, with ``force``, while a job of what uses it runs
    (``ModelDependentsRunning``). Returns the model's job (finished), if any, and what
    ``force`` deletes with it (``repo.dependents``)."""
    job = model_job(session=session, model=model)
    if job is not None and job.state in ACTIVE_STATES:
        raise ModelBusy(model.id, job.id, job.state, "delete")
    found = repo.dependents(session, model.id)
    if (found["extractions"] or found["tokenizations"]) and not force:
        raise ModelInUse(model.id, found)
    running = _running_dependents(session, found)
    if running:
        raise ModelDependentsRunning(model.id, running)
    return job, found


def delete_model(*, session: Session, model_id: int, paths: DataPaths, force: bool = False
                 ) -> dict[str, Any]:
    """Delete the model, its files and its finished job; with ``force`` also what uses it;
    unless ``check_deletable`` refuses."""
    model = get_model(session=session, model_id=model_id)
    job, found = check_deletable(session=session, model=model, force=force)
    folders = [model_dir(paths, model_id)]
    for item in (*found["extractions"], *found["tokenizations"]):
        if item["path"]:
            folders.append(ensure_within(paths.root / item["path"], [paths.root]))
    repo.delete_with_dependents(session, model, found)
    job_service.delete_jobs_of_removed(session=session, paths=paths, job_ids=[
        item["job_id"] for item in (*found["extractions"], *found["tokenizations"])])
    if job is not None:
        job_service.delete_job(session=session, job_id=job.id, paths=paths)
        discard_token(paths, job.id)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return {"model_id": model_id, "removed": found}


def _running_dependents(session: Session, found: dict[str, list[dict[str, Any]]]
                        ) -> list[dict[str, Any]]:
    """Dependents whose job is still queued or running (never removed under a live job)."""
    running = []
    for kind in ("extractions", "tokenizations"):
        for item in found[kind]:
            job = session.get(Job, item["job_id"]) if item.get("job_id") else None
            if job is not None and job.state in ACTIVE_STATES:
                running.append({"kind": kind[:-1], "id": item["id"], "job_id": job.id})
    return running


def _job_of(session: Session, model: Model, action: str) -> Job:
    job = model_job(session=session, model=model)
    if job is None:
        raise ModelHasNoJob(model.id, action)
    return job


def cancel_model(*, session: Session, model_id: int, paths: DataPaths,
                 keep_partial: bool = False) -> Model:
    """Stop the model's job; ``keep_partial`` pauses (partial files stay for a resume);
    ``paths``: where a queued download's token waits, removed with it (``cancel_job``)."""
    model = get_model(session=session, model_id=model_id)
    job = _job_of(session, model, "cancel")
    repo.merge_info(session, model, pause_requested=keep_partial)
    job = job_service.cancel_job(session=session, job_id=job.id, paths=paths)
    if job.state == "cancelled":  # it was still queued: no task will record the outcome
        repo.update(session, model, status="paused" if keep_partial else "cancelled",
                    error_message=None)  # a pause or a cancel is no error
    return model


def resume_model(*, session: Session, model_id: int, paths: DataPaths,
                 token: str | None = None) -> Model:
    """Re-queue the model's job from where it stopped (partial files kept)."""
    return _requeue(session, model_id, paths, token, job_service.resume_job, "resume")


def retry_model(*, session: Session, model_id: int, paths: DataPaths,
                token: str | None = None) -> Model:
    """Re-queue the model's job from scratch (partial files dropped; whole verified files kept)."""
    return _requeue(session, model_id, paths, token, job_service.retry_job, "retry")


def _requeue(session: Session, model_id: int, paths: DataPaths, token: str | None,
             action: Any, name: str) -> Model:
    model = get_model(session=session, model_id=model_id)
    job = _job_of(session, model, name)
    action(session=session, job_id=job.id)  # a ready model's succeeded job: refused there
    if token:
        hand_token_to_job(paths, job.id, token)
    return repo.update(session, model, status="queued", error_message=None)


def read_architecture(*, session: Session, model_id: int, paths: DataPaths) -> dict[str, Any]:
    model = get_model(session=session, model_id=model_id)
    path = architecture_file(paths, model_id)
    if model.status != "ready" or not path.is_file():
        raise ModelNotReady(model_id, model.status, "architecture")
    return json.loads(path.read_text())


# where a config names the positions a model was made for (GPT-2's n_positions, most others')
_CONFIG_POSITIONS = ("max_position_embeddings", "n_positions")
LEARNED_TABLE = "its learned position table"
# rope types whose scaling extends the context past the config's positions to a length the type
# defines (``_scaled_context``); every other type keeps the config's positions
_EXTENDING_ROPE = frozenset({"yarn"})
# past what the row's integer column holds a scaled context is no model's (a malformed factor):
# the scaling is not read then
_MOST_POSITIONS = 2**31 - 1


def learned_position_limit(paths: DataPaths, model_id: int) -> int | None:
    """The model's learned position table size as its import recorded it (architecture.json);
    None for rotary / ALiBi models and for models imported before it was recorded."""
    try:
        architecture = json.loads(architecture_file(paths, model_id).read_text())
    except (OSError, ValueError):
        return None
    limit = architecture.get("position_limit") if isinstance(architecture, dict) else None
    return limit if isinstance(limit, int) and limit > 0 else None


def read_positions(paths: DataPaths, model_id: int, checkpoint: Path) -> tuple[int, str] | None:
    """The most positions a model takes, and where that comes from, read from its files: its
    learned position table as the import recorded it (``learned_position_limit``: past it a
    sequence indexes off the table's end), else its checkpoint's ``config.json`` (a rotary
    model's trained context: past it the model runs, on positions it never saw), extended by
    the rope scaling it is built with (``_scaled_context``); None when neither says (a config
    without either name)."""
    learned = learned_position_limit(paths, model_id)
    if learned is not None:
        return learned, LEARNED_TABLE
    try:
        config = json.loads((checkpoint / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    for name in _CONFIG_POSITIONS:
        value = config.get(name)
        if _positive_int(value):
            return _scaled_context(config, name, value) or (value, f"{name} in its config.json")
    return None


def _scaled_context(config: dict[str, Any], name: str, positions: int) -> tuple[int, str] | None:
    """The context a rope-scaled model is made for, past its config's ``positions`` (``name``);
    None where its rope scaling does not extend them. The scaling is transformers' own reading
    of config.json: ``rope_scaling`` (transformers 4) before ``rope_parameters`` (5), its type
    in ``rope_type`` or ``type``, a per-layer-type dict where its keys are the config's
    ``layer_types`` (the least of those layers' contexts: every layer sees every position).

    Per type (transformers' ``modeling_rope_utils``):

    - ``yarn``: interpolates the rotations of ``original_max_position_embeddings`` (the
      config's top-level one first where one scaling serves every layer, as transformers
      does, else the scaling's, else the positions themselves) over ``factor`` times as
      many, so the context is their product (Qwen2.5: 32768 x 4 = 131072; DeepSeek-V3 and
      gpt-oss already state the product as their positions). Without a ``factor``
      transformers takes it as positions / original: no more.
    - ``llama3`` and ``longrope``: the config's positions are already the extended context
      (Llama 3.1: 131072 from 8192 with factor 8, and factor x original would say 65536;
      Phi-3: transformers derives longrope's factor as positions / original): kept.
    - ``linear``, ``dynamic``, ``proportional``, ``default`` and types unknown here: kept, as the
      conservative reading. Linear (and proportional) divide every frequency by ``factor``
      without reading the positions, and checkpoints disagree on whether theirs are before or
      after the scaling (Gemma 3 states 131072 with linear factor 8: a product would claim
      1048576); dynamic NTK rescales for any length it is given and defines no end.

    Never less than ``positions``: None where the scaling would not take more, or would take
    more than an integer column holds (``_MOST_POSITIONS``: a malformed factor)."""
    scaling = config.get("rope_scaling") or config.get("rope_parameters")
    if not isinstance(scaling, dict):
        return None
    layer_types = config.get("layer_types")
    labels = {each for each in layer_types if isinstance(each, str)} if isinstance(
        layer_types, list) else set()
    nested = [key for key in scaling if key in labels]
    per_layer = [scaling[key] for key in nested] if nested else [scaling]
    found = [_one_scaling(config, name, positions, each, top_level_original=not nested)
             for each in per_layer if each is not None]  # None: a layer without rope
    extended = [each for each in found if each is not None]
    if not extended or len(extended) < len(found):  # a layer it does not extend: positions
        return None
    return min(extended, key=lambda each: each[0])


def _one_scaling(config: dict[str, Any], name: str, positions: int, scaling: Any, *,
                 top_level_original: bool) -> tuple[int, str] | None:
    """``_scaled_context`` of one rope scaling dict (one layer type's: transformers reads a
    top-level ``original_max_position_embeddings`` only for a scaling of every layer)."""
    if not isinstance(scaling, dict):
        return None
    kind = scaling.get("rope_type", scaling.get("type"))
    factor = scaling.get("factor")
    if not isinstance(kind, str) or kind not in _EXTENDING_ROPE or not _number(factor) or (
            factor < 1):
        return None
    original, original_name = positions, name
    for where in ((config, scaling) if top_level_original else (scaling,)):
        if _positive_int(where.get("original_max_position_embeddings")):
            original = where["original_max_position_embeddings"]
            original_name = "original_max_position_embeddings"
            break
    context = int(original * factor)
    if context <= positions or context > _MOST_POSITIONS:
        return None
    return context, (f"{original_name} {original} x {kind} factor {factor:g} "
                     "in its config.json")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positions_of(*, model: Model, paths: DataPaths) -> tuple[int, str] | None:
    """``read_positions`` of ``model`` as its import recorded them on the row (a list of 200
    models read two files per model, one of them the whole architecture, on every request);
    read from its files where the row has none (imported before they were recorded, or cleared
    by migration 0008, until ``model_backfill`` writes them on the row), except for a ready row
    whose files this process found to say nothing already (``_NO_POSITIONS``: read once, not
    on every list); None for a model without files."""
    if model.positions is not None:
        return model.positions, model.positions_source or ""
    if not model.path:
        return None
    unsaid = row_as_read(model, paths)
    if unsaid in _NO_POSITIONS:
        return None
    found = read_positions(paths, model.id, ensure_within(paths.root / model.path, [paths.root]))
    if found is None and model.status == "ready":
        remember_row(_NO_POSITIONS, unsaid)
    return found


# ready rows whose files name no positions, as read by this process (``positions_of``), so a list
# reads them once, not on every request; a row is known by its data dir, id, path and updated_at
# (an import or a rename sets updated_at: read again then). Per process, at most this many.
_NO_POSITIONS: set[tuple[Any, ...]] = set()
_MOST_REMEMBERED = 10_000


def row_as_read(model: Model, paths: DataPaths) -> tuple[Any, ...]:
    """The key of ``model``'s row as read, in a set of rows whose files say nothing."""
    return str(paths.root), model.id, model.path, model.updated_at


def remember_row(found: set[tuple[Any, ...]], key: tuple[Any, ...]) -> None:
    """Add ``key`` (``row_as_read``) to ``found``, a per-process set of rows that said nothing."""
    if len(found) >= _MOST_REMEMBERED:  # a bound, never reached by a real data dir
        found.clear()
    found.add(key)


def model_positions(*, session: Session, paths: DataPaths,
                    model_id: int) -> tuple[int, str] | None:
    """``positions_of`` the model ``model_id``; None for one that does not exist."""
    model = session.get(Model, model_id)
    return None if model is None else positions_of(model=model, paths=paths)
