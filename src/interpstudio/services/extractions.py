"""Use cases on extractions: check, preflight, create (+ job), list, get, cancel, resume, retry,
delete, statistics and top-token samples (the SAELens export: ``services/extraction_export.py``).

An extraction row owns the folder ``extractions/<id>/`` under the data dir: ``store/`` (the
activation store), ``samples.json`` (top-norm tokens with their text, written at the end of a run)
and ``saelens/`` (an export). The spec is stored on the row; the ``extract`` job only names the
row. Functions take keyword-only arguments and a session they do not commit.

Torch: list/get/stats/samples never import it. ``preflight_extraction`` and ``create_extraction``
(which runs the preflight) load the model through ``ml.extract_preflight`` lazily, inside the call:
a preflight measures a calibration batch on the real model and device by definition; where that
device is a job worker's (``preflight_runs_on``), ``services/extraction_preflight.py`` sends it
there.

This module is NOT responsible for running extractions (``jobs/tasks/extraction.py``) or for the
engine and store (``ml/``).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.orm import Session

from interpstudio.core.errors import JobNotFound
from interpstudio.core.paths import DataPaths, ensure_within
from interpstudio.core.settings import Settings
from interpstudio.db.models import ACTIVE_STATES, Extraction, Job, Model, Tokenization
from interpstudio.db.repositories import datasets as dataset_repo
from interpstudio.db.repositories import extractions as repo
from interpstudio.db.repositories.shown_status import list_by_shown_status
from interpstudio.ml.extract_plan import EmptyExtraction
from interpstudio.ml.hook_points import expand_hook_points
from interpstudio.ml.store import APP_STORE_DIR, MANIFEST_NAME, HookPointNotStored, config_hash
from interpstudio.ml.store_journal import JOURNAL_NAME, has_committed_line
from interpstudio.services import jobs as job_service
from interpstudio.services.dataset_params import TokenizationPolicySpec
from interpstudio.services.extraction_errors import (
    ExtractionAlreadyUnderway,
    ExtractionBusy,
    ExtractionHasNoJob,
    ExtractionModelNotFound,
    ExtractionNotFound,
    ExtractionResultsNotReady,
    ExtractionTokenizationNotFound,
    ModelNotReady,
    TokenizationNotReady,
    TokenizerMismatch,
)
from interpstudio.services.extraction_params import ExtractionSpec, RowGroup
from interpstudio.services.model_files import quantized_cache_dir
from interpstudio.services.models import model_positions
from interpstudio.services.tokenizations import requested_policy_hash
from interpstudio.services.tokenizer_identity import maker_of, usable_tokenizer_keys

READY_TOKENIZATION = ("ready", "complete", "succeeded")
FINAL_STATUSES = ("complete", "failed", "cancelled", "interrupted", "partial")
# every status an extraction is shown with (a list filter refuses any other)
EXTRACTION_STATUSES = ("queued", "running", *FINAL_STATUSES)
STORE_DIR = APP_STORE_DIR
SAMPLES_FILE = "samples.json"
EXPORT_DIR = "saelens"


# ------------------------------------------------------------------------------------ reading
def get_extraction(*, session: Session, extraction_id: int) -> Extraction:
    row = repo.get(session, extraction_id)
    if row is None:
        raise ExtractionNotFound(extraction_id)
    return row


def extraction_job(*, session: Session, row: Extraction) -> Job | None:
    if row.job_id is None:
        return None
    try:
        return job_service.get_job(session=session, job_id=row.job_id)
    except JobNotFound:
        return None


# an extraction stored with one of these statuses is shown with it, whatever its job says
SETTLED_EXTRACTION_STATUSES = ("complete",)


def effective_status(row: Extraction, job: Job | None) -> str:
    """The row's status, corrected by its job where the task could not write it (queued and
    cancelled before it ran, or a killed worker)."""
    if job is None or row.status in SETTLED_EXTRACTION_STATUSES:
        return row.status
    if job.state == "queued":
        return "queued"
    if job.state in ("interrupted", "cancelled", "failed"):
        return job.state
    return row.status


def list_extractions(
    *, session: Session, statuses: list[str], model_id: int | None, tokenization_id: int | None,
    search: str | None, limit: int, offset: int,
) -> tuple[list[Extraction], int]:
    """Newest first. ``statuses`` filters on the status a row is shown with
    (``effective_status``: a killed worker leaves ``running`` stored, shown ``interrupted``),
    by the rule the models list follows too (``db/repositories/shown_status.py``)."""
    query = repo.list_query(model_id=model_id, tokenization_id=tokenization_id, search=search)
    return list_by_shown_status(session, query, Extraction, statuses=statuses,
                                settled=SETTLED_EXTRACTION_STATUSES, shown=effective_status,
                                limit=limit, offset=offset)


def extraction_dir(paths: DataPaths, row: Extraction) -> Path:
    return ensure_within(paths.root / (row.path or f"extractions/{row.id}"), [paths.root])


def store_state(paths: DataPaths, row: Extraction) -> tuple[Path | None, bool]:
    """The row's activation store folder once it exists (its manifest is written; None before),
    and whether it is empty: there without a whole shard (a run stopped before its first), so
    it has no rows, statistics or samples to read and a resume starts from the beginning."""
    store = extraction_dir(paths, row) / STORE_DIR
    if not (store / MANIFEST_NAME).is_file():
        return None, False
    # a complete run holds rows (a plan of none is refused), so its journal is not opened: a
    # list of many runs reads only the stopped ones'
    return store, row.status != "complete" and has_committed_line(store / JOURNAL_NAME) is False


# ------------------------------------------------------------------------------- validation
def resolve_inputs(*, session: Session, paths: DataPaths, spec: ExtractionSpec
                   ) -> tuple[Model, Tokenization, list[str]]:
    """The model, the tokenization and the expanded hook point names, or a clear refusal."""
    model = session.get(Model, spec.model_id)
    if model is None:
        raise ExtractionModelNotFound(spec.model_id)
    if model.status != "ready" or not model.path:
        raise ModelNotReady(model.id, model.status)
    tokenization = session.get(Tokenization, spec.tokenization_id)
    if tokenization is None:
        raise ExtractionTokenizationNotFound(spec.tokenization_id)
    if tokenization.status not in READY_TOKENIZATION or not tokenization.path:
        raise TokenizationNotReady(tokenization.id, tokenization.status)
    refuse_other_tokenizer(session=session, paths=paths, model=model, tokenization=tokenization)
    counts = tokenization.counts or {}
    if counts.get("tokens") == 0 or counts.get("sequences") == 0:
        raise EmptyExtraction("the tokenization holds no tokens",
                              {"tokenization_id": tokenization.id, "counts": counts})
    points = (expand_hook_points(spec.hook_points, model.n_layers) if model.n_layers
              else list(spec.hook_points))
    return model, tokenization, points


def refuse_other_tokenizer(*, session: Session, paths: DataPaths, model: Model,
                           tokenization: Tokenization) -> None:
    """Refuse a tokenization made with another tokenizer than ``model``'s: one made with it, or
    with a model whose tokenizer files are byte-identical (``tokenizer_identity``), passes."""
    key = tokenization.tokenizer_key
    if key in usable_tokenizer_keys(session=session, paths=paths, model=model, keys=[key]):
        return
    maker = maker_of(session, key)
    raise TokenizerMismatch(tokenization_id=tokenization.id, tokenizer_key=key,
                            model_key=model.key, maker_id=maker.id if maker else None)


def find_tokenization_for(*, session: Session, paths: DataPaths, dataset_id: int, model_id: int,
                          policy: TokenizationPolicySpec | None = None) -> Tokenization | None:
    """The newest ready tokenization of ``dataset_id`` made with the model's tokenizer, or one
    of byte-identical files (``tokenizer_identity``: another model's), within
    the model's positions (``model_positions``: one made past them before such a tokenization
    was refused is passed over, as if it did not exist); with ``policy``, only one made under
    exactly that policy (a caller that asked for 128-token sequences must not be handed a
    1,024-token tokenization)."""
    from sqlalchemy import select

    model = session.get(Model, model_id)
    if model is None:
        raise ExtractionModelNotFound(model_id)
    query = (select(Tokenization)
             .where(Tokenization.dataset_id == dataset_id,
                    Tokenization.status.in_(READY_TOKENIZATION))
             .order_by(Tokenization.id.desc()))
    if policy is not None:
        query = query.where(Tokenization.policy_hash == requested_policy_hash(policy))
    keys = usable_tokenizer_keys(session=session, paths=paths, model=model,
                                 keys=dataset_repo.tokenizer_keys_of(session, dataset_id))
    query = query.where(Tokenization.tokenizer_key.in_(keys))
    limit, _source = model_positions(session=session, paths=paths,
                                     model_id=model_id) or (None, None)
    return next((row for row in session.scalars(query)
                 if limit is None or (tokenization_max_length(row) or 0) <= limit), None)


def tokenization_max_length(row: Tokenization) -> int | None:
    """The max length a tokenization was made with (its resolved policy's, else the one
    requested); None where its policy does not say."""
    policy = row.policy or {}
    value = policy.get("max_length", (policy.get("requested") or {}).get("max_length"))
    return value if isinstance(value, int) else None


def store_spec(spec: ExtractionSpec, model: Model, tokenization: Tokenization) -> dict[str, Any]:
    """Caller facts written into the store's spec (and config hash) beside the engine's."""
    return {
        "model_id": model.id, "model_key": model.key,
        "precision_requested": precision_of(spec, model),
        "tokenization_id": tokenization.id, "tokenization_policy_hash": tokenization.policy_hash,
        "max_samples": spec.max_samples, "max_tokens": spec.max_tokens,
    }


def precision_of(spec: ExtractionSpec, model: Model) -> str:
    return spec.precision or model.precision_used or model.precision_requested or "fp32"


def engine_options(spec: ExtractionSpec) -> dict[str, Any]:
    return {"batch_size": spec.batch_size, "positions": spec.positions, "every_k": spec.every_k,
            "dtype": spec.dtype, "max_samples": spec.max_samples, "max_tokens": spec.max_tokens,
            "shard_rows": spec.shard_rows}


RECENT_PREFLIGHT_S = 300.0  # a calibrated report this recent is reused by create
_recent_reports: dict[str, tuple[float, dict[str, Any]]] = {}
_recent_lock = threading.Lock()


def _report_key(settings: Settings, spec: ExtractionSpec, model: Model,
                tokenization: Tokenization) -> str:
    """What a preflight report depends on: the data dir, the request (not its name), the model's
    identity and precision, the tokenization's identity and policy."""
    return config_hash({
        "data_dir": str(settings.data_dir),
        "spec": spec.model_dump(mode="json", exclude={"name"}),
        "model": [model.id, model.key, model.path, model.precision_used],
        "tokenization": [tokenization.id, tokenization.path, tokenization.policy_hash,
                         str(tokenization.created_at)],
    })


def _recent_report(key: str, settings: Settings) -> dict[str, Any] | None:
    """The calibrated report made for ``key`` in the last ``RECENT_PREFLIGHT_S``, its free-disk
    check made again now; None when there is none."""
    with _recent_lock:
        made, report = _recent_reports.get(key, (0.0, None))
    if report is None or time.monotonic() - made > RECENT_PREFLIGHT_S:
        return None
    from interpstudio.ml.extract_preflight import _existing_parent

    free = shutil.disk_usage(_existing_parent(DataPaths(settings.data_dir).extractions)).free
    return {**report, "free_disk_bytes": int(free),
            "disk_ok": report["bytes"]["total"] <= free}


def preflight_extraction(*, session: Session, settings: Settings, spec: ExtractionSpec,
                         calibrate: bool = True) -> dict[str, Any]:
    """Check the request and estimate it on the real model and device (loads the model). A
    calibrated report is kept for ``RECENT_PREFLIGHT_S``: the create that follows it (the UI's
    Start) reuses it instead of loading the model and timing a batch again."""
    from interpstudio.ml.extract_preflight import preflight_on_disk

    paths = DataPaths(settings.data_dir)
    model, tokenization, points = resolve_inputs(session=session, paths=paths, spec=spec)
    report = preflight_on_disk(
        model_dir=ensure_within(paths.root / model.path, [paths.root]),  # type: ignore[operator]
        tokenization_dir=ensure_within(paths.root / tokenization.path,  # type: ignore[operator]
                                       [paths.root]),
        hook_points=points, out_dir=paths.extractions, precision=precision_of(spec, model),
        device=spec.device, memory_budget_bytes=settings.memory_budget_bytes,
        calibrate=calibrate, quantized_cache=quantized_cache_dir(paths, model.id),
        **engine_options(spec),
    )
    if calibrate:
        _remember(_report_key(settings, spec, model, tokenization), report)
    return report


def remember_report(*, session: Session, settings: Settings, spec: ExtractionSpec,
                    report: dict[str, Any]) -> None:
    """Keep a calibrated report made elsewhere (by a job worker) for the create that follows."""
    model, tokenization, _ = resolve_inputs(session=session, paths=DataPaths(settings.data_dir),
                                            spec=spec)
    _remember(_report_key(settings, spec, model, tokenization), report)


def _remember(key: str, report: dict[str, Any]) -> None:
    with _recent_lock:
        if len(_recent_reports) >= 64:  # a few users' recent requests, never more
            _recent_reports.pop(min(_recent_reports, key=lambda k: _recent_reports[k][0]))
        _recent_reports[key] = (time.monotonic(), report)


def preflight_runs_on(settings: Settings, device: str) -> str:
    """``"api"`` (this process loads the model and times a batch) or ``"worker"`` (a job worker
    does: ``services/extraction_preflight.py``), by ``INTERPSTUDIO_PREFLIGHT_ON``; ``auto`` picks
    a worker when the requested device is not in this process. ``auto`` as a device means this
    process's own (a GPU-less API in front of GPU workers: set ``worker``)."""
    if settings.preflight_on != "auto":
        return settings.preflight_on
    return "api" if _device_here(device) else "worker"


def _device_here(device: str) -> bool:
    if device in ("auto", "cpu"):  # without importing torch
        return True
    from interpstudio.ml.extract_preflight import device_in_process

    return device_in_process(device)


# ---------------------------------------------------------------------------------- writing
def create_extraction(*, session: Session, settings: Settings, spec: ExtractionSpec,
                      preflight: dict[str, Any] | None = None) -> Extraction:
    """Check, preflight (unless given or made for this request in the last
    ``RECENT_PREFLIGHT_S``), refuse a disk that is too small, then queue the job. Where the
    preflight runs on a worker (``preflight_runs_on``) and none was made, the extraction is
    queued unmeasured and its job preflights it when it starts: waiting here for a worker that
    may be busy for hours would block the queue it is meant to join."""
    from interpstudio.ml.extract_preflight import NotEnoughDisk

    model, tokenization, points = resolve_inputs(session=session,
                                                 paths=DataPaths(settings.data_dir), spec=spec)
    stored, digest = _stored_spec(spec, model, tokenization, points)
    refuse_copy(session, digest)
    key = _report_key(settings, spec, model, tokenization)
    report = preflight or _recent_report(key, settings)
    if report is None and preflight_runs_on(settings, spec.device) == "api":
        report = preflight_extraction(session=session, settings=settings, spec=spec)
    if report is not None and not report["disk_ok"]:
        raise NotEnoughDisk(path=DataPaths(settings.data_dir).extractions,
                            needed=report["bytes"]["total"], free=report["free_disk_bytes"],
                            dtype=report["dtype"])
    refuse_copy(session, digest)  # again: the preflight took seconds, another may have started
    row = repo.create(
        session, name=spec.name or f"{model.name}: {len(points)} hook point"
                                   f"{'' if len(points) == 1 else 's'}",
        model_id=model.id, tokenization_id=tokenization.id, spec=stored, config_hash=digest,
        status="queued", precision_requested=precision_of(spec, model), preflight=report,
        counts=report_counts(report) if report else {},
        info={"bound": report["projected"]["bound"]} if report else {},
    )
    job = job_service.create_job(session=session, kind="extract",
                                 params={"extraction_id": row.id})
    return repo.update(session, row, path=f"extractions/{row.id}", job_id=job.id)


def report_counts(report: dict[str, Any]) -> dict[str, int]:
    """The totals a preflight report gives the row before its run starts."""
    return {"tokens_total": report["plan"]["tokens"], "rows_total": report["plan"]["rows"],
            "bytes_total": report["bytes"]["total"]}


UNHASHED = ("name", "hook_points")  # a label, and the points as typed (their expansion is hashed)


def refuse_copy(session: Session, digest: str) -> None:
    """Refuse to queue a second run of a configuration that is queued or running (two tabs, two
    terminals): it would compute the same store again beside the first. A finished one may be
    run again."""
    underway = repo.underway_with_config(session, digest)
    if underway is not None:
        raise ExtractionAlreadyUnderway(underway.id, underway.status, digest)


def _stored_spec(spec: ExtractionSpec, model: Model, tokenization: Tokenization,
                 points: list[str]) -> tuple[dict[str, Any], str]:
    """The spec as the row stores it (with the points expanded) and its config hash."""
    stored = {**spec.model_dump(mode="json"), "hook_points_expanded": points}
    digest = config_hash({**{k: v for k, v in stored.items() if k not in UNHASHED},
                          **store_spec(spec, model, tokenization)})
    return stored, digest


def refuse_copy_of(*, session: Session, paths: DataPaths, spec: ExtractionSpec) -> None:
    """``refuse_copy`` for a request, before its preflight loads the model (the CLI)."""
    refuse_copy(session, _config_digest(session, paths, spec))


def _config_digest(session: Session, paths: DataPaths, spec: ExtractionSpec) -> str:
    """The configuration hash a row of this request would have (``_stored_spec``)."""
    return _stored_spec(spec, *resolve_inputs(session=session, paths=paths, spec=spec))[1]


def complete_copy_of(*, session: Session, paths: DataPaths, spec: ExtractionSpec
                     ) -> Extraction | None:
    """The newest complete extraction of this request's configuration whose store is on disk:
    for a command run again to reuse (``demo``) instead of computing the same store again. None
    where there is none."""
    row = repo.newest_with_config(session, _config_digest(session, paths, spec),
                                  status="complete")
    return row if row is not None and store_state(paths, row)[0] is not None else None


def stopped_copy_of(*, session: Session, paths: DataPaths, spec: ExtractionSpec
                    ) -> tuple[Extraction, Job] | None:
    """The newest extraction of this request's configuration and its job, where that job
    stopped (Ctrl-C, a kill, a failure) and may be resumed: for a command run again to
    continue it (``demo``), instead of starting a copy beside it from nothing. None where the
    newest is complete, under way (``refuse_copy``) or there is none."""
    row = repo.newest_with_config(session, _config_digest(session, paths, spec))
    job = extraction_job(session=session, row=row) if row is not None else None
    if row is None or job is None or job.state not in job_service.ALLOWED["resume"]:
        return None
    return row, job


def _job_for(session: Session, row: Extraction, action: str) -> Job:
    job = extraction_job(session=session, row=row)
    if job is None:
        raise ExtractionHasNoJob(row.id, action)
    return job


def cancel_extraction(*, session: Session, extraction_id: int) -> Extraction:
    row = get_extraction(session=session, extraction_id=extraction_id)
    job = job_service.cancel_job(session=session, job_id=_job_for(session, row, "cancel").id,
                                 paths=None)  # an extract job is handed no access token
    if job.state == "cancelled":
        repo.update(session, row, status="cancelled")
    return row


def resume_extraction(*, session: Session, extraction_id: int) -> Extraction:
    """Continue after the last whole shard (the job keeps its checkpoint)."""
    row = get_extraction(session=session, extraction_id=extraction_id)
    job_service.resume_job(session=session, job_id=_job_for(session, row, "resume").id)
    return repo.update(session, row, status="queued", error_message=None)


def retry_extraction(*, session: Session, extraction_id: int) -> Extraction:
    """Start again from nothing (the task removes the old store: no checkpoint). The last run's
    results leave the row's counts (its planned totals stay), so that its bytes and speed are not
    shown beside the new run's progress."""
    row = get_extraction(session=session, extraction_id=extraction_id)
    job_service.retry_job(session=session, job_id=_job_for(session, row, "retry").id)
    totals = {k: v for k, v in (row.counts or {}).items() if k.endswith("_total")}
    return repo.update(session, row, status="queued", error_message=None, counts=totals)


def check_deletable(*, session: Session, row: Extraction) -> Job | None:
    """The rule ``delete_extraction`` keeps, for a client to ask before it asks its user
    (``extractions rm`` confirmed first, then was refused): refused while the row's job is
    queued or running (``ExtractionBusy``) or an export of it is under way (``ExportUnderway``).
    Returns the row's job (finished), if any."""
    job = extraction_job(session=session, row=row)
    if job is not None and job.state in ACTIVE_STATES:
        raise ExtractionBusy(row.id, job.state, "deleted")
    from interpstudio.services.extraction_export import refuse_while_exporting  # imports this

    refuse_while_exporting(session=session, extraction_id=row.id, action="deleted")
    return job


def delete_extraction(*, session: Session, paths: DataPaths, extraction_id: int) -> None:
    """Delete the row, its finished job and every file (store, samples, export), unless
    ``check_deletable`` refuses."""
    row = get_extraction(session=session, extraction_id=extraction_id)
    job = check_deletable(session=session, row=row)
    folder = extraction_dir(paths, row)
    repo.delete(session, row)
    if job is not None:
        job_service.delete_job(session=session, job_id=job.id, paths=paths)
    shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------------- results
def read_stats(*, paths: DataPaths, row: Extraction, per_dim: bool = False,
               group: RowGroup = "all") -> dict[str, Any]:
    """``stats.json`` of the store (per-dimension arrays only when asked), plus a per-layer
    curve of the mean L2 norm per hook kind over the rows of ``group``."""
    from interpstudio.ml.store_reader import open_activations

    store = extraction_dir(paths, row) / STORE_DIR
    if not (store / "manifest.json").is_file():
        raise ExtractionResultsNotReady(row.id, "statistics", row.status)
    acts = open_activations(store)
    stats = acts.stats
    # a run stopped before its first whole shard wrote statistics of nothing (every figure
    # null): there is nothing to read yet, as when it stopped without writing them
    if stats is None or (acts.status != "complete" and stats["shards"] == 0):
        raise ExtractionResultsNotReady(row.id, "statistics", row.status)
    hooks: dict[str, Any] = {}
    curves: dict[str, list[dict[str, Any]]] = {}
    for name, summary in stats["hooks"].items():
        groups = {
            group: {k: v for k, v in values.items() if per_dim or k != "per_dim"}
            for group, values in summary["groups"].items()
        }
        hooks[name] = {**{k: v for k, v in summary.items() if k != "groups"}, "groups": groups}
        _, layer, kind = name.split(".", 2)
        norm = summary["groups"][group]["norm"]
        curves.setdefault(kind, []).append({"layer": int(layer), "norm_mean": norm["mean"],
                                            "norm_std": norm["std"]})
    for points in curves.values():
        points.sort(key=lambda p: p["layer"])
    return {"status": acts.status, "rows": stats["rows"], "shards": stats["shards"],
            "dtype": acts.dtype, "hooks": hooks, "group": group, "layer_norms": curves}


def read_samples(*, paths: DataPaths, row: Extraction, group: RowGroup = "all",
                 hook: str | None = None) -> dict[str, Any]:
    """The top-norm rows of each hook point among the rows of ``group``, with their text;
    ``hook``: of that point only (a 90-point run's answer is ~1,400 rows; a page shows one
    point's 16). A point the run does not have is refused naming those it has
    (``HookPointNotStored``), whether or not its samples are written yet."""
    if hook is not None:
        points = list(row.spec.get("hook_points_expanded") or [])
        if hook not in points:
            raise HookPointNotStored(hook, points)
    file = extraction_dir(paths, row) / SAMPLES_FILE
    if not file.is_file():
        raise ExtractionResultsNotReady(row.id, "top-token samples", row.status)
    samples: dict[str, Any] = orjson.loads(file.read_bytes())
    # files written before samples were kept per group hold group "all" only, as "hooks"
    groups = samples.get("groups") or {"all": samples.get("hooks", {})}
    hooks: dict[str, Any] = groups.get(group, {})
    if hook is not None:
        hooks = {hook: hooks[hook]} if hook in hooks else {}
    return {"group": group, "hooks": hooks, "context": samples["context"]}
