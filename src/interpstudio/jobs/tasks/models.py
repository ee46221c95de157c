"""The ``model_download`` and ``model_import`` jobs.

``run_model_download``: take the hand-off token (then delete its file), download the repo's files
at the resolved commit into ``models/<id>/checkpoint`` with ``ml/hub_download.py`` (exact bytes,
resumable across restarts: the checkpoint is saved before the first byte so a resume keeps the
partial files, while a retry drops them), then inspect. ``run_model_import``: copy a folder or a
single safetensors file, or convert a GGUF, into the same place, then inspect.

Inspection (``ml/model_inspect.py``): config facts, true parameter count, the fidelity probe in
fp32 (the badge), the requested precision loaded within the memory budget (precision used +
reason + drift vs fp32), and ``architecture.json`` (layers, hook points, module tree), written to
a temp name and renamed; the positions the model takes are read from it and ``config.json`` once,
onto the row (``services/models.read_positions``), and so is the fingerprint of its tokenizer files
(``services/tokenizer_identity.read_tokenizer_sha256``). The model row follows each stage; on cancel
the partial files are removed unless the user paused. This module is NOT responsible for
validating requests (the services did) or for the job's final state (the runner).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from interpstudio.core.errors import AppError, JobCancelled
from interpstudio.core.paths import within_import_roots
from interpstudio.db.base import utcnow
from interpstudio.db.repositories import models as repo
from interpstudio.jobs.context import JobContext
from interpstudio.services.model_errors import ModelNotFound
from interpstudio.services.model_files import (
    architecture_file,
    checkpoint_dir,
    disk_usage,
    model_dir,
    quantized_cache_dir,
    take_token,
)
from interpstudio.services.models import read_positions
from interpstudio.services.tokenizer_identity import read_tokenizer_sha256


def _update_model(ctx: JobContext, model_id: int, **fields: Any) -> dict[str, Any]:
    """Write fields (``info_*`` keys merge into ``info``); returns the model's info."""
    info = {k.removeprefix("info_"): v for k, v in fields.items() if k.startswith("info_")}
    plain = {k: v for k, v in fields.items() if not k.startswith("info_")}

    def work(session: Session) -> dict[str, Any]:
        model = repo.get(session, model_id)
        if model is None:
            raise ModelNotFound(model_id)
        if info:
            repo.merge_info(session, model, **info)
        repo.update(session, model, **plain)
        return dict(model.info or {})

    return ctx.write(f"model {model_id}", work)


def _guarded(ctx: JobContext, model_id: int, work: Callable[[], dict[str, Any]],
             on_cancel: Callable[[bool], None]) -> dict[str, Any]:
    """Run ``work``, recording a cancel / pause / failure on the model row before re-raising.

    Any error fails the row, not only an ``AppError``: one from a library (an ``OSError``,
    transformers' ``ValueError``) left it ``importing`` while its job had failed. The row gets the
    job's message (the runner's ``Type: text`` for an unexpected error)."""
    failed = True
    try:
        result = work()
        failed = False
        return result
    except JobCancelled:
        failed = False
        info = _update_model(ctx, model_id)
        paused = bool(info.get("pause_requested"))
        on_cancel(paused)
        _update_model(ctx, model_id, status="paused" if paused else "cancelled")
        raise
    finally:
        if failed:  # not caught: the runner's broad except is the one that records the job
            error = sys.exc_info()[1]
            message = (error.message if isinstance(error, AppError)
                       else f"{type(error).__name__}: {error}")
            _update_model(ctx, model_id, status="failed", error_message=message)


def run_model_download(ctx: JobContext) -> dict[str, Any]:
    from interpstudio.ml.hub_download import (
        FileProgress,
        RemoteFile,
        download_files,
        remove_partials,
    )

    params = ctx.params
    model_id = int(params["model_id"])
    token = take_token(ctx.paths, ctx.job_id)  # the file is gone from here on
    dest = checkpoint_dir(ctx.paths, model_id)
    dest.mkdir(parents=True, exist_ok=True)
    if ctx.checkpoint is None:  # first run or retry: partial bytes of an earlier attempt go
        remove_partials(dest)
        ctx.save_checkpoint({"phase": "download"})
    info = _update_model(ctx, model_id, status="downloading", error_message=None,
                         path=str(dest.relative_to(ctx.paths.root)), job_id=ctx.job_id)
    files = [RemoteFile(f["path"], f["size"], f.get("sha256"), f.get("git_sha1"))
             for f in info["preflight"]["files"]]
    n_files = len(files)

    def report(p: FileProgress) -> None:
        index = next(i for i, f in enumerate(files) if f.path == p.path) + 1
        ctx.progress(stage="download", done=p.done, total=p.total, unit="bytes",
                     message=f"file {index}/{n_files} {p.path}: {p.file_done:,}/{p.file_total:,}",
                     force=p.done == p.total)  # the last figure is written, not throttled away

    def work() -> dict[str, Any]:
        result = download_files(files, endpoint=ctx.settings.hf_endpoint,
                                repo_id=params["repo_id"], commit=params["commit_sha"],
                                dest=dest, token=token, progress=report,
                                should_stop=ctx.should_stop, sleep=ctx.sleep)
        ctx.save_checkpoint({"phase": "inspect"})
        _update_model(ctx, model_id, files=[{"path": f.path, "size": f.size,
                                             "sha256": f.sha256, "verified_with": f.verified_with}
                                            for f in result.files])
        summary = _inspect(ctx, model_id, dest, params)
        return {"download": {**result.to_dict(), "files": len(result.files)}, **summary}

    def on_cancel(paused: bool) -> None:
        if not paused:
            remove_partials(dest)

    return _guarded(ctx, model_id, work, on_cancel)


def run_model_import(ctx: JobContext) -> dict[str, Any]:
    from interpstudio.ml.loading import convert_gguf_to_safetensors
    from interpstudio.ml.local_import import copy_checkpoint, plan_import

    params = ctx.params
    model_id = int(params["model_id"])
    source = Path(params["path"])
    config = Path(params["config_path"]) if params.get("config_path") else None
    dest = checkpoint_dir(ctx.paths, model_id)
    _update_model(ctx, model_id, status="importing", error_message=None,
                  path=str(dest.relative_to(ctx.paths.root)), job_id=ctx.job_id)

    def work() -> dict[str, Any]:
        nonlocal source, config
        if not params.get("bundled"):  # checked by the service; checked again where it is read
            source = within_import_roots(source, ctx.settings)
            config = within_import_roots(config, ctx.settings) if config else None
        plan = plan_import(source, config)
        if plan.kind == "gguf":
            if dest.exists():
                shutil.rmtree(dest)
            # one stage per step (CONVERT_STEPS): the conversion sat in one stage, its count
            # unknown for ~7 s, before the tensors counted up in the last second
            said = {"load converter": "importing transformers' model code (once per worker)",
                    "read gguf": f"reading {source.name}: configuration, vocabulary, tensors",
                    "convert gguf": f"dequantizing {source.name} to float32",
                    "write checkpoint": "building the tokenizer, writing the float32 checkpoint"}
            convert_gguf_to_safetensors(
                source, dest,
                stage=lambda name: ctx.progress(stage=name, message=said.get(name),
                                                unit="tensors" if name == "convert gguf"
                                                else None),
                progress=lambda done, total: ctx.progress(done=done, total=total))
        else:
            left_out = (f"left out {len(plan.skipped)} file(s) not at the folder's top level, "
                        "of other formats or a second copy of the weights" if plan.skipped
                        else None)
            ctx.progress(stage="copy", done=0, total=plan.total_bytes, unit="bytes",
                         message=left_out)
            copy_checkpoint(plan, dest, should_stop=ctx.should_stop,
                            progress=lambda done, total: ctx.progress(done=done, total=total))
        ctx.check_cancelled()
        _update_model(ctx, model_id, files=[{"path": p.name, "size": p.stat().st_size}
                                            for p in sorted(dest.iterdir()) if p.is_file()])
        return {"import": {"kind": plan.kind, "source": str(source),
                           "skipped": list(plan.skipped[:100]),
                           "skipped_count": len(plan.skipped)},
                **_inspect(ctx, model_id, dest, params)}

    def on_cancel(_paused: bool) -> None:
        shutil.rmtree(dest, ignore_errors=True)

    return _guarded(ctx, model_id, work, on_cancel)


def _inspect(ctx: JobContext, model_id: int, checkpoint: Path,
             params: dict[str, Any]) -> dict[str, Any]:
    from interpstudio.ml.model_inspect import inspect_checkpoint, inspection_steps

    precision = params["precision"]
    drift = tuple(params.get("drift_precisions") or ())
    _update_model(ctx, model_id, status="inspecting")
    steps = inspection_steps(precision, drift)
    ctx.progress(stage="inspect", done=0, total=steps, unit="steps",
                 message="loading in fp32 for the fidelity probe")
    started: list[str] = []

    def step(name: str) -> None:  # a step starts: the ones before it are done
        ctx.progress(done=len(started), message=name)
        started.append(name)

    inspection = inspect_checkpoint(
        checkpoint, precision=precision, drift_precisions=drift,
        memory_budget_bytes=ctx.settings.memory_budget_bytes,
        quantized_cache=quantized_cache_dir(ctx.paths, model_id),
        should_stop=ctx.should_stop, stage=step)
    ctx.progress(done=steps)
    _write_json(architecture_file(ctx.paths, model_id), inspection.architecture)
    facts = inspection.precision
    positions, positions_source = read_positions(ctx.paths, model_id, checkpoint) or (None, None)
    _update_model(
        ctx, model_id, status="ready", model_type=inspection.model_type,
        architecture=inspection.architecture_class, n_layers=inspection.n_layers,
        d_model=inspection.d_model, vocab_size=inspection.vocab_size,
        param_count=inspection.parameter_count, precision_requested=precision,
        precision_used=facts["used"], precision_reason=facts["reason"],
        fidelity=inspection.fidelity, disk_bytes=disk_usage(model_dir(ctx.paths, model_id)),
        positions=positions, positions_source=positions_source,
        tokenizer_sha256=read_tokenizer_sha256(checkpoint),
        info_d_mlp=inspection.d_mlp, info_quantization=facts["quantization"],
        info_resident_bytes=facts["resident_bytes"],
        info_estimated_bytes=facts["estimated_bytes"], info_drift=facts["drift"],
        info_fp32_load=inspection.load, info_inspected_at=utcnow().isoformat(),
    )
    return {"inspection": {"precision_used": facts["used"],
                           "fidelity_max_abs": inspection.fidelity["max_abs"],
                           "parameter_count": inspection.parameter_count}}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)
