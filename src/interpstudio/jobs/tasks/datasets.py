"""The ``dataset_import`` and ``tokenize`` jobs.

``run_dataset_import``: stage ``fetch`` copies local files (sha256 on the way) or downloads the
planned hub files into ``raw/`` (uploads are already there), stage ``read`` streams every row's
text into ``text.parquet`` with statistics, then the dataset row becomes ``ready``. It restarts
from scratch when resumed; on any error the partial files are removed and the row says why (a full
disk becomes ``disk_full``).

``run_tokenization``: tokenizes ``text.parquet`` with the model's fast tokenizer into the
tokenization's token store, committing each batch; a resumed job continues after the last commit
(the writer's journal), a retried one starts afresh. Progress is in rows, with tokens in the
message. A run that keeps no sequence (blank rows, a policy that keeps none) fails as
``EmptyTokenization`` with its folder and checkpoint removed: there is nothing to resume. This
module is NOT responsible for the use-case rules (``services/``) or the formats (``ml/``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from interpstudio.core.errors import AppError, JobCancelled
from interpstudio.db.models import Dataset, Model, Tokenization
from interpstudio.jobs.context import JobContext
from interpstudio.ml.dataset_hub import HubDatasetPlan, download_hub_files
from interpstudio.ml.hub_errors import DiskFull
from interpstudio.ml.source_inspection import estimate_rows, inspect_sources
from interpstudio.ml.text_sources import DecodeReport, iter_texts
from interpstudio.ml.text_store import (
    copy_with_sha256,
    iter_text_batches,
    sha256_of,
    write_text_parquet,
)
from interpstudio.services.dataset_errors import (
    DiskFullDuringImport,
    TokenizationBegunByOlderRules,
    UploadGone,
)
from interpstudio.services.dataset_files import RAW_DIR, raw_files, remove_folder, resolve
from interpstudio.services.dataset_params import DatasetImportParams, TokenizeParams
from interpstudio.services.datasets import read_options
from interpstudio.services.model_files import take_token


def _snapshot(ctx: JobContext, model: type[Any], row_id: int) -> dict[str, Any]:
    with ctx.session_factory() as session:
        row = session.get(model, row_id)
        if row is None:
            raise AppError(f"{model.__tablename__} row {row_id} was deleted; nothing to do")
        return {c.name: getattr(row, c.name) for c in model.__table__.columns}


def _fetch(ctx: JobContext, dataset: dict[str, Any], params: DatasetImportParams,
           raw: Path) -> list[dict[str, Any]]:
    """Bring the source files into ``raw``; return ``[{name, bytes, sha256}]`` in read order."""
    info = dataset["info"] or {}
    if dataset["source"] == "upload":
        order = info.get("file_order") or [p.name for p in raw_files(raw.parent)]
        missing = [name for name in order if not (raw / name).is_file()]
        if missing:
            raise UploadGone(missing)
        return [{"name": n, "bytes": (raw / n).stat().st_size, "sha256": sha256_of(raw / n)}
                for n in order]
    raw.mkdir(parents=True, exist_ok=True)
    if dataset["source"] == "hub":
        plan = HubDatasetPlan(**{k: v for k, v in info["hub_plan"].items()
                                 if k != "total_bytes"})
        ctx.progress(stage="download", done=0, total=plan.total_bytes, unit="bytes")
        local = download_hub_files(plan, raw, endpoint=ctx.settings.hf_endpoint,
                                   token=take_token(ctx.paths, ctx.job_id),
                                   on_done=lambda done: ctx.progress(done=done),
                                   should_stop=ctx.should_stop)
        # the downloader hashed each file as it wrote it
        return [{"name": str(p.relative_to(raw)), "bytes": p.stat().st_size,
                 "sha256": sha256 or sha256_of(p)} for p, sha256 in local]
    sources = [Path(p) for p in params.source_paths]
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        ctx.progress(done=done)

    ctx.progress(stage="copy", done=0, total=sum(p.stat().st_size for p in sources),
                 unit="bytes")
    return [copy_with_sha256(p, raw / p.name, on_bytes=advance,
                             should_stop=ctx.should_stop).to_dict() for p in sources]


def _read(ctx: JobContext, raw: Path, files: list[dict[str, Any]], params: DatasetImportParams,
          folder: Path) -> dict[str, Any]:
    options = read_options(params.read)
    paths = [raw / f["name"] for f in files]
    info = inspect_sources(paths, options)
    options = read_options(params.read.model_copy(update={"text_column": info.text_column}))
    report = DecodeReport()
    estimate = estimate_rows(paths, options)
    if estimate is None:  # counted as read, against no total until the last row
        ctx.progress(stage="read", unit="rows")
    else:
        ctx.progress(stage="read", done=0, total=estimate, unit="rows")
    stats = write_text_parquet(iter_texts(paths, options, report), folder / "text.parquet",
                               on_rows=lambda rows, _b: ctx.progress(done=rows),
                               should_stop=ctx.should_stop)
    ctx.progress(done=stats.rows, total=stats.rows)  # the estimate, now that rows are counted
    return {"text_column": info.text_column, "stats": {**stats.to_dict(),
                                                       "decode": report.to_dict()},
            "info": {"formats": info.formats, "columns": info.columns,
                     "detected_text_column": info.detected_text_column,
                     "decode_policy": options.decode, "txt_mode": options.txt_mode},
            "rows": stats.rows}


def run_dataset_import(ctx: JobContext) -> dict[str, Any]:
    params = DatasetImportParams.model_validate(ctx.params)
    dataset = _snapshot(ctx, Dataset, params.dataset_id)
    folder = resolve(ctx.paths, dataset["path"])
    raw = folder / RAW_DIR
    (folder / "text.parquet").unlink(missing_ok=True)
    if dataset["source"] in ("local", "bundled"):
        remove_folder(raw)  # a resumed import copies again: no half-copied file survives
    ctx.update_row(Dataset, dataset["id"], status="importing", error_message=None)
    try:
        files = _fetch(ctx, dataset, params, raw)
        read = _read(ctx, raw, files, params, folder)
    except (AppError, OSError) as exc:
        error: Exception = exc
        if isinstance(exc, DiskFull) or (isinstance(exc, OSError)
                                         and exc.errno == errno.ENOSPC):
            remove_folder(folder)  # first, so the free space reported is what is left
            error = DiskFullDuringImport(str(ctx.paths.root),
                                         shutil.disk_usage(ctx.paths.root).free)
        _fail_import(ctx, dataset, folder, error)
        if error is exc:
            raise
        raise error from exc
    # huggingface_hub's local-dir cache, left by an import begun before downloads were ours
    shutil.rmtree(raw / ".cache", ignore_errors=True)
    total = sum(int(f["bytes"]) for f in files)
    ctx.update_row(Dataset, dataset["id"], status="ready", files=files, bytes=total,
            rows=read["rows"], text_column=read["text_column"], stats=read["stats"],
            info={**(dataset["info"] or {}), **read["info"]})
    return {"dataset_id": dataset["id"], "rows": read["rows"], "bytes": total,
            "files": len(files)}


def _fail_import(ctx: JobContext, dataset: dict[str, Any], folder: Path, exc: Exception) -> None:
    """Remove partial files (uploads keep nothing either) and record why on the row."""
    remove_folder(folder)
    status = "cancelled" if isinstance(exc, JobCancelled) else "failed"
    message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
    ctx.update_row(Dataset, dataset["id"], status=status, error_message=message)


def _write_manifest_stats(folder: Path, stats: dict[str, Any]) -> None:
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stats"] = stats
    temp = manifest_path.with_name("manifest.json.tmp")
    temp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(temp, manifest_path)


def run_tokenization(ctx: JobContext) -> dict[str, Any]:
    from interpstudio.ml.token_pieces import piece_text
    from interpstudio.ml.token_store import TokenStoreWriter, open_tokenized
    from interpstudio.ml.tokenize import (
        APP_WORDS,
        EmptyTokenization,
        TokenizationPolicy,
        load_tokenizer,
        refuse_nothing_kept,
        resolve_policy,
        summarize_tokens,
        tokenize_dataset,
    )

    params = TokenizeParams.model_validate(ctx.params)
    tokenization = _snapshot(ctx, Tokenization, params.tokenization_id)
    dataset = _snapshot(ctx, Dataset, tokenization["dataset_id"])
    model = _snapshot(ctx, Model, tokenization["model_id"])
    folder = resolve(ctx.paths, tokenization["path"])
    if ctx.checkpoint is None:  # a fresh start or a retry: nothing of an earlier attempt counts
        remove_folder(folder)
        ctx.save_checkpoint({"resumable": True})
    requested = tokenization["policy"].get("requested", tokenization["policy"])
    begun = tokenization["policy"]  # resolved by the run that began the store, if one did
    try:
        if (ctx.checkpoint is not None and "add_bos" in begun
                and "split_special_tokens" not in begun):  # begun before 2026-12-06's rules
            raise TokenizationBegunByOlderRules(tokenization["id"])
        tokenizer = load_tokenizer(resolve(ctx.paths, model["path"]))
        resolved = resolve_policy(TokenizationPolicy(**requested), tokenizer)
        kept = {k: begun[k] for k in ("max_length_note",) if k in begun}  # said at create
        ctx.update_row(Tokenization, tokenization["id"], status="running", error_message=None,
                policy={**resolved, "requested": requested, **kept})
        writer = TokenStoreWriter(folder, meta={
            "tokenizer_key": tokenization["tokenizer_key"], "policy": resolved,
            "dataset_id": dataset["id"], "tokenization_id": tokenization["id"],
            "model_id": model["id"], "dataset_rows": dataset["rows"]})
        resumed_from = int(writer.extra.get("rows_done", 0))
        ctx.progress(stage="tokenize", done=resumed_from, total=int(dataset["rows"] or 0),
                     unit="rows")
        text_path = resolve(ctx.paths, dataset["path"]) / "text.parquet"
        counts = tokenize_dataset(
            lambda start: iter_text_batches(text_path, start_row=start), tokenizer, resolved,
            writer, batch_rows=params.batch_rows, should_stop=ctx.should_stop,
            on_progress=lambda rows, tokens: ctx.progress(done=rows,
                                                          message=f"{tokens:,} tokens"))
        if writer.committed_sequences == 0:  # every extraction of it would be refused
            refuse_nothing_kept(counts["rows_read"], counts, resolved, words=APP_WORDS)
        ctx.progress(stage="summarize")
        writer.finish(counts=counts)
        store = open_tokenized(folder)
        stats = summarize_tokens(store, vocab_size=len(tokenizer),
                                 id_to_piece=tokenizer.convert_ids_to_tokens,
                                 id_to_text=lambda i: piece_text(tokenizer.backend_tokenizer, i))
        _write_manifest_stats(folder, stats)
    except (AppError, OSError) as exc:
        if isinstance(exc, EmptyTokenization):  # a resume would only tokenize to nothing again
            remove_folder(folder)
            ctx.save_checkpoint(None)
        status = "cancelled" if isinstance(exc, JobCancelled) else "failed"
        message = exc.message if isinstance(exc, AppError) else f"{type(exc).__name__}: {exc}"
        ctx.update_row(Tokenization, tokenization["id"], status=status, error_message=message)
        raise
    counts = {**counts, "sequences": len(store), "tokens": store.n_tokens}
    ctx.update_row(Tokenization, tokenization["id"], status="ready", counts=counts, stats=stats)
    return {"tokenization_id": tokenization["id"], "resumed_from_row": resumed_from, **counts}
