"""The ``extract`` job: run one extraction row through the engine into its activation store;
and the ``extract_preflight`` job: a request's preflight on a worker's device, for an API that
could not make it (``services/extraction_preflight.py``).

Stages: ``load model`` (at the requested precision, with the loader's fallback toward less memory;
a resume at the precision its store's rows were computed at, refused when only another fits; the
precision used is written on the row, and the job's message says it once the load is done:
``loaded_message``; a load that fell back ends every later message with ``fallback_note``, so the
CLI bar and the UI say "at bf16: fp32 did not fit" all through the run), ``check`` (hook points,
tokens, free disk for what remains) or, for a row created without a preflight (its API could not
run one), ``preflight`` (the full report, calibration included, measured here and written on the
row), ``extract`` (progress in tokens with tokens/s and ETA from the reporter; the job ``message``
carries the bytes captured (rows computed) and written (whole shards on disk) and the projected
bound; the engine's last report is what the closed store holds, so after a cancel or at the end
done and bytes written are the store's, never the rows computed past its last shard),
``finish`` (every row computed: the writer writes the last shard and the statistics; uncounted,
so no "ETA any moment" at 100 %), ``samples`` (top-norm tokens of every hook point decoded
with the model's tokenizer into ``samples.json``).

Resume and retry: the first thing a run does is save a checkpoint. A run that finds one (the job
was resumed) reopens the store and continues after its last whole shard; a run without one (a
first run, or a retry, which drops the checkpoint) removes any old store and starts afresh.
Cancel: the engine checks ``should_stop`` before every batch and leaves a valid partial store.
The row's status follows the outcome (complete / cancelled / failed, with the error message).

This module is NOT responsible for the rules of what may be run (``services/extractions.py``) or
for the engine (``ml/extract_engine.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from interpstudio.core.errors import AppError, JobCancelled
from interpstudio.core.paths import ensure_within
from interpstudio.core.units import format_bytes
from interpstudio.db.models import Extraction, Model, Tokenization
from interpstudio.jobs.context import JobContext
from interpstudio.services.extraction_errors import ResumePrecisionDoesNotFit
from interpstudio.services.extraction_params import ExtractionSpec
from interpstudio.services.extractions import (
    SAMPLES_FILE,
    STORE_DIR,
    engine_options,
    precision_of,
    report_counts,
    store_spec,
)
from interpstudio.services.model_backfill import backfill_source_quantization
from interpstudio.services.model_files import quantized_cache_dir

if TYPE_CHECKING:
    from interpstudio.ml.extract_outcome import ExtractionProgress

CONTEXT_BEFORE = 12
CONTEXT_AFTER = 4


def run_extraction(ctx: JobContext) -> dict[str, Any]:
    extraction_id = int(ctx.params["extraction_id"])
    _fill_source_quantization(ctx, extraction_id)
    with ctx.session_factory() as session:
        row = session.get(Extraction, extraction_id)
        if row is None:
            from interpstudio.services.extraction_errors import ExtractionNotFound

            raise ExtractionNotFound(extraction_id)
        spec = ExtractionSpec.model_validate(
            {k: v for k, v in row.spec.items() if k != "hook_points_expanded"})
        model, tokenization = session.get(Model, row.model_id), session.get(
            Tokenization, row.tokenization_id)
        facts = {
            "model_dir": ensure_within(ctx.paths.root / (model.path or ""), [ctx.paths.root]),
            "quantized_cache": quantized_cache_dir(ctx.paths, model.id),
            "tokenization_dir": ensure_within(ctx.paths.root / (tokenization.path or ""),
                                              [ctx.paths.root]),
            "folder": ensure_within(ctx.paths.root / (row.path or f"extractions/{row.id}"),
                                    [ctx.paths.root]),
            "store_spec": store_spec(spec, model, tokenization),
            # a GGUF import's stored weights (Q4_1): the store says its "fp32" rows are of them
            "source_quantization": (model.info or {}).get("source_quantization"),
            "precision": precision_of(spec, model),
            "points": list(row.spec.get("hook_points_expanded") or spec.hook_points),
            "bound": (row.info or {}).get("bound"),
            "counts": dict(row.counts or {}),
            "measured": row.preflight is not None,
        }
    outcome = "failed"
    ctx.update_row(Extraction, extraction_id, status="running", error_message=None,
                   job_id=ctx.job_id)
    try:
        result = _run(ctx, extraction_id, spec, facts)
        outcome = "complete"
        return result
    except JobCancelled:
        outcome = "cancelled"
        raise
    finally:
        if outcome != "complete":
            _report_kept(ctx, facts["folder"] / STORE_DIR)
            error = sys.exc_info()[1]
            message = getattr(error, "message", None) or (str(error) if error else None)
            ctx.update_row(Extraction, extraction_id, status=outcome,
                        error_message=None if outcome == "cancelled" else message)


def _fill_source_quantization(ctx: JobContext, extraction_id: int) -> None:
    """The model row of a GGUF import made before its source quantization was recorded gets it
    before the run reads the row for its store spec (``backfill_source_quantization``: the
    header of the file it was imported from; a filled row costs one SELECT). The API's start
    fills such rows, but an install used from the terminal only (``extract``, ``worker``,
    ``demo``) never starts it, and a run may start before that start's pass reaches its row."""
    with ctx.session_factory() as session:
        model_id = session.scalar(select(Extraction.model_id)
                                  .where(Extraction.id == extraction_id))
    if model_id is not None:  # no row: the read that follows refuses it
        backfill_source_quantization(ctx.session_factory, model_ids=[model_id])


def _run(ctx: JobContext, extraction_id: int, spec: ExtractionSpec,
         facts: dict[str, Any]) -> dict[str, Any]:
    from interpstudio.ml.extract_engine import extract
    from interpstudio.ml.extract_preflight import (
        check_free_disk,
        load_for_extraction,
        preflight,
    )

    folder: Path = facts["folder"]
    store = folder / STORE_DIR
    resume = ctx.checkpoint is not None and (store / "manifest.json").is_file()
    if not resume:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    ctx.save_checkpoint({"store": str(store.relative_to(ctx.paths.root)), "resumed": resume})

    # a resume loads at the precision the store's rows were computed at: the first run may have
    # stepped down from the one asked for (a smaller memory budget then), and a resume that
    # loaded at another was refused by the store while the row said that other precision
    stored = stored_precision(store) if resume else None
    precision = stored or facts["precision"]
    ctx.progress(stage="load model", message=f"loading at {precision}")
    loaded = load_for_extraction(facts["model_dir"], precision=precision,
                                 device=spec.device, quantized_cache=facts["quantized_cache"],
                                 memory_budget_bytes=ctx.settings.memory_budget_bytes)
    if stored is not None and loaded.precision_used != stored:
        raise ResumePrecisionDoesNotFit(extraction_id, stored=stored,
                                        loaded=loaded.precision_used,
                                        reason=loaded.fallback_reason)
    # a GGUF import's stored weights, from its row: the loaded float32 checkpoint does not say
    # it, and the engine writes the loaded model's facts in the store spec (``loaded_facts``)
    loaded.source_quantization = loaded.source_quantization or facts["source_quantization"]
    ctx.update_row(Extraction, extraction_id, precision_used=loaded.precision_used)
    ctx.progress(message=loaded_message(loaded), force=True)
    note = fallback_note(loaded)

    def said(message: str) -> str:  # a fallback stays said while the run goes on
        return f"{message} · {note}" if note else message

    ctx.check_cancelled()
    options = engine_options(spec)
    if not facts["measured"]:  # created where no preflight could run (services/extractions.py)
        _measure(ctx, extraction_id, loaded, facts, store, options, said)
    elif not resume:
        ctx.progress(stage="check", message=said("checking hook points, tokens and free disk"))
        report = preflight(loaded.model, facts["tokenization_dir"], facts["points"],
                           out_dir=store, calibrate=False, measure_disk=False, **options)
        check_free_disk(report, store)
    bound = facts["bound"] or "compute"

    closing = False

    def on_progress(p: ExtractionProgress) -> None:
        nonlocal closing
        if p.closing or (closing and p.stored):  # the store's last shard and statistics
            closing = True
            ctx.progress(stage=CLOSING_STAGE, message=said(closing_message(p)))
        else:
            fields = progress_fields(p, bound)
            ctx.progress(stage="extract", **{**fields, "message": said(fields["message"])})

    # no done here: the engine's first report says where it starts (a resume's tokens are done,
    # and a 0 before them read as thousands of tokens a second: ETA 1.4 s for a 17 s rest)
    ctx.progress(stage="extract", total=facts["counts"].get("tokens_total"), unit="tokens")
    result = extract(
        loaded, facts["tokenization_dir"], facts["points"], out_dir=store,
        progress=on_progress, should_stop=ctx.should_stop, resume=resume,
        spec={**facts["store_spec"], "precision_used": loaded.precision_used},
        **options,
    )
    ctx.progress(stage="samples", message="decoding top-norm tokens")
    _write_samples(folder, store, facts["tokenization_dir"], loaded.tokenizer)
    summary = result.summary()
    counts = {**facts["counts"], "rows": result.rows, "tokens": result.plan["tokens"],
              "sequences": result.plan["sequences"], "bytes": result.bytes_written,
              "shards": len(result.manifest["shards"]), "tokens_per_s": result.tokens_per_s,
              "elapsed_s": result.elapsed_s, "oom_events": result.oom_events,
              "batch_size_final": result.batch_size_final}
    ctx.update_row(Extraction, extraction_id, status="complete", counts=counts,
                info={"bound": bound, "model_load": loaded.summary(), "widths": result.widths,
                      "resumed_from_rows": result.resumed_from_rows,
                      "warnings": result.warnings})
    return {"extraction_id": extraction_id, **{k: summary[k] for k in (
        "rows", "tokens_computed", "tokens_per_s", "bytes_written", "resumed_from_rows")}}


def loaded_message(loaded: Any) -> str:
    """The job's message once the model is loaded: the precision it runs at and, where the
    loader says why, the reason ("loaded at bf16, not fp32: fp32 needs about 906,560 bytes, over
    the memory budget of 800,000 bytes on cpu"). Until the run ended, the job said "loading at
    fp32" and then the engine's figures, never that it had fallen back."""
    used, asked = loaded.precision_used, loaded.precision_requested
    # the reason without its "using bf16", which the message starts with
    reason = (loaded.fallback_reason or "").replace(f"; using {used}", "", 1)
    head = f"loaded at {used}" + (f", not {asked}" if used != asked else "")
    return f"{head}: {reason}" if reason else head


def fallback_note(loaded: Any) -> str | None:
    """What ends every later message of a run whose load fell back ("at bf16: fp32 did not
    fit"); None for a load at the precision asked."""
    used, asked = loaded.precision_used, loaded.precision_requested
    return None if used == asked else f"at {used}: {asked} did not fit"


def stored_precision(store: Path) -> str | None:
    """The precision a (partial) store's rows were computed at, as its manifest records it; None
    for a store that records none (an unreadable one says so when the engine opens it)."""
    from interpstudio.ml.store import read_manifest

    try:
        used = read_manifest(store).get("spec", {}).get("precision_used")
    except (AppError, OSError, ValueError):
        return None
    return used if isinstance(used, str) else None


def _measure(ctx: JobContext, extraction_id: int, loaded: Any, facts: dict[str, Any],
             store: Path, options: dict[str, Any], said: Callable[[str], str]) -> None:
    """The preflight the API could not make, here where the run happens: the full report (a
    calibration batch on this device, the disk's rate) goes on the row with its totals and
    bound, as a create would have put it, before the free-disk check refuses or the run starts."""
    from interpstudio.ml.extract_preflight import check_free_disk, model_facts, preflight

    ctx.progress(stage="preflight", message=said("measuring the run on this worker's device"))
    measured = preflight(loaded.model, facts["tokenization_dir"], facts["points"], out_dir=store,
                         **options)
    report = {**measured.to_dict(), "model": model_facts(loaded)}
    facts["counts"] = {**facts["counts"], **report_counts(report)}
    facts["bound"] = report["projected"]["bound"]
    ctx.update_row(Extraction, extraction_id, preflight=report, counts=facts["counts"],
                   info={"bound": facts["bound"]})
    check_free_disk(measured, store)


def run_extraction_preflight(ctx: JobContext) -> dict[str, Any]:
    """The ``extract_preflight`` job: a request's preflight on this worker's device, for an API
    that could not make it (``services/extraction_preflight.py`` waits for this result)."""
    from interpstudio.services.extractions import preflight_extraction

    params = dict(ctx.params)
    calibrate = bool(params.pop("calibrate", True))
    ctx.progress(stage="preflight", message="loading the model and timing a batch")
    with ctx.session_factory() as session:
        report = preflight_extraction(session=session, settings=ctx.settings,
                                      spec=ExtractionSpec.model_validate(params),
                                      calibrate=calibrate)
    return {"report": report}


def progress_fields(p: ExtractionProgress, bound: str) -> dict[str, Any]:
    """The job's progress from one engine report. The achieved tokens/s is the job's own rate (a
    second figure in the message, the run's average since its slow first batch, showed 141
    beside the job's 219 tok/s on one row), counted on the tokens this attempt computed: a
    resume recomputes the batch holding its last stored row, so ``done`` moved by 213 tokens
    over a 2,048-token batch and the job read 6 tokens/s, ETA 11 min for a ~40 s rest.
    Until the first shard is whole the message says so: "0.000 GB written in whole shards" read
    as a writer that was stuck or failing. Sizes in a unit that fits (``format_bytes``, as the UI
    says them): a fixed GB read "0.000 GB captured" over a first batch of a few MB."""
    written = (f"{format_bytes(p.bytes_written)} written in whole shards" if p.bytes_written
               else "no whole shard written yet")
    return {"done": p.tokens_done, "total": p.tokens_total, "unit": "tokens",
            "worked": p.tokens_computed,
            "message": f"{format_bytes(p.bytes_captured)} captured · {written} · "
                       f"projected bound: {bound}"}


CLOSING_STAGE = "finish"


def closing_message(p: ExtractionProgress) -> str:
    """The stage after the last batch: the writer's ``close()`` writes the last shard and the
    statistics (at 100 % the job read "ETA any moment" for that while); then what was written."""
    if p.stored:
        return f"{format_bytes(p.bytes_written)} written"
    return (f"writing the last shard and the statistics · {format_bytes(p.bytes_written)} of "
            f"{format_bytes(p.bytes_captured)} written")


def _report_kept(ctx: JobContext, store: Path) -> None:
    """The job's last message, for a run that stopped: what the store keeps (the shards the
    writer committed while stopping included; the last progress message predates them)."""
    from interpstudio.ml.extract_outcome import stored_counts

    if not (store / "manifest.json").is_file():
        return
    try:
        kept = stored_counts(store)
    except (AppError, OSError, ValueError):  # unreadable: it says so when opened; and the
        return                                # job's own error must stand, not this one
    ctx.progress(message=kept_message(kept["rows"], kept["shards"], kept["bytes"]))


def kept_message(rows: int, shards: int, written: int) -> str:
    """What a stopped run's store keeps, as its job's last line. A run stopped before its first
    whole shard keeps nothing: it said "kept 0 rows in 0 whole shards · 0.000 GB written; resume
    to continue from there", as if a resume saved work over a retry."""
    if shards == 0:
        return ("kept no rows (stopped before the first whole shard); resume starts from the "
                "beginning")
    return (f"kept {rows:,} rows in {shards} whole shard{'' if shards == 1 else 's'} · "
            f"{format_bytes(written)} written; resume to continue from there")


def _write_samples(folder: Path, store: Path, tokenization_dir: Path, tokenizer: Any) -> None:
    """``samples.json``: per row group (``all``, ``non_bos``, ``bos``, as in ``stats.json``) and
    hook point, its top-norm rows with the text around each token. Per group because with
    attention sinks the first positions hold every top norm of ``all``."""
    from interpstudio.ml.stats import REPORTED_GROUPS
    from interpstudio.ml.store_reader import open_activations
    from interpstudio.ml.token_pieces import text_around
    from interpstudio.ml.token_store import open_tokenized

    stats = open_activations(store).stats or {"hooks": {}}
    data = open_tokenized(tokenization_dir)

    def ids_text(ids: Any) -> str:  # no tokenizer: the ids themselves
        return " ".join(f"<{int(i)}>" for i in ids)

    def sample(top: dict[str, Any]) -> dict[str, Any]:
        sequence = data.sequence(int(top["sequence"]))
        p = int(top["position"])
        if tokenizer is not None:  # the parts as the span reads ('▁brown' keeps its space)
            before, token, after = text_around(tokenizer, sequence, p, CONTEXT_BEFORE,
                                               CONTEXT_AFTER)
        else:
            before, token, after = (ids_text(sequence[max(0, p - CONTEXT_BEFORE) : p]),
                                    ids_text(sequence[p : p + 1]),
                                    ids_text(sequence[p + 1 : p + 1 + CONTEXT_AFTER]))
        return {**top, "token": token, "before": before, "after": after}

    groups = {group: {hook: [sample(top) for top in summary["groups"][group].get("top_k", [])]
                      for hook, summary in stats["hooks"].items()}
              for group in REPORTED_GROUPS}
    target = folder / SAMPLES_FILE
    partial = folder / f".{SAMPLES_FILE}.partial"
    partial.write_text(json.dumps({"groups": groups, "context": {
        "before": CONTEXT_BEFORE, "after": CONTEXT_AFTER}}))
    os.replace(partial, target)
