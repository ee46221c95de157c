"""``interpstudio models preflight|pull|import|import-bundled|list|show|rm|arch|cancel|resume``.

``pull`` / ``import`` / ``import-bundled`` queue the job through the same services as the API and,
unless ``--enqueue``, run it in this process while a Rich progress bar follows it (Ctrl-C cancels).
A token comes from ``--token`` or ``HF_TOKEN`` and is handed to the job as the API does; it is
never printed. Every command has ``--json``. This module is NOT responsible for any rule.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.cli.common import (
    EnqueueOption,
    JsonOption,
    LimitOption,
    LocalRun,
    YesOption,
    choices,
    confirm_delete,
    console,
    err_console,
    finish_followed_job,
    follow_job,
    human_bytes,
    load_settings,
    print_fitted_table,
    print_json,
    print_listing,
    session_factory,
    session_scope,
)
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.services.models import MODEL_STATUSES

app = typer.Typer(no_args_is_help=True)

TokenOption = Annotated[str | None, typer.Option(envvar="HF_TOKEN", show_envvar=True,
                                                 help="Hub access token (gated/private repos).")]
PrecisionOption = Annotated[str, typer.Option(help="fp32, fp16, bf16, q8, q4 or q2.")]
DriftOption = Annotated[list[str] | None, typer.Option(
    "--drift", help="Also measure drift vs fp32 at this precision (repeatable).")]


def _model_dict(model: Any, session: Any, paths: DataPaths | None = None) -> dict[str, Any]:
    """The model as the API gives it; ``paths`` once for a list (settings are read from the
    environment each time they are loaded)."""
    from interpstudio.api.model_schemas import ModelRead

    paths = paths or DataPaths(load_settings().data_dir)
    return ModelRead.from_model(model, session, paths).model_dump(mode="json")


def _with_source_quantization(settings: Settings, *,
                              model_ids: list[int] | None = None) -> sessionmaker[Session]:
    """A session factory, once GGUF imports made before their source quantization was recorded
    have it (``services/model_backfill.backfill_source_quantization``; ``model_ids``: only
    those): ``list`` / ``show`` say "fp32 (from Q4_1)" for the bundled model of an install
    older than that without a server ever started (the API's start fills the rows in, and
    the CLI never starts it). Once per row: a filled row is not read again."""
    from interpstudio.services.model_backfill import backfill_source_quantization

    factory = session_factory(settings)
    backfill_source_quantization(factory, model_ids=model_ids)
    return factory


def _fidelity_badge(model: dict[str, Any], precision: str) -> str:
    """The hook fidelity probe's verdict, named by the precision it ran at (fp32) when the row
    shows another, with that precision's drift vs fp32 (its lowest per-layer cosine): "exact"
    beside "q2" read as "q2 is exact"."""
    fidelity = model["fidelity"] or {}
    if not fidelity:
        return ""
    badge = f"{'exact' if fidelity.get('exact') else 'DRIFT'} {fidelity['max_abs']:.1e}"
    probed = fidelity.get("precision") or "fp32"
    if precision in ("", probed):
        return badge
    drift = ((model["info"] or {}).get("drift") or {}).get(precision) or {}
    cosine = drift.get("min_layer_cosine")
    return f"{probed} {badge}" + (f"; {precision} cos {cosine:.3f}" if cosine is not None else "")


MODEL_COLUMNS = ("id", "name", "status", "precision", "params", "layers", "d_model", "disk",
                 "fidelity")


def _model_cells(m: dict[str, Any]) -> dict[str, str]:
    precision = m["precision_used"] or m["precision_requested"] or ""
    source = m.get("source_quantization") or {}
    # a float32 copy of a quantized GGUF's weights: "fp32" alone read as the original weights
    marker = f" (from {source['type']})" if source and precision else ""
    return {"id": str(m["id"]), "name": m["name"], "status": m["status"],
            "precision": precision + marker, "params": f"{m['param_count'] or 0:,}",
            "layers": str(m["n_layers"] or ""), "d_model": str(m["d_model"] or ""),
            "disk": human_bytes(m["disk_bytes"]), "fidelity": _fidelity_badge(m, precision)}


def _print_models(models: list[dict[str, Any]]) -> None:
    """One row per model; in a narrow terminal the name stays whole (it wraps) and the least
    telling columns are left out first (``models show`` has them all)."""
    print_fitted_table([_model_cells(m) for m in models], headers=MODEL_COLUMNS, whole="name",
                       drop_order=("d_model", "layers", "params", "disk", "fidelity",
                                   "precision"),
                       wraps=("fidelity",), shown_by="`interpstudio models show ID` shows them")


def _start(starter: Any, enqueue: bool, as_json: bool, **kwargs: Any) -> None:
    settings = load_settings()
    factory = session_factory(settings)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        model, created = starter(session=session, **kwargs)
        model_id, job_id = model.id, model.job_id
        existing = None if created else _model_dict(model, session)
        info = dict(model.info or {})
        if created and not enqueue and job_id is not None:  # committed running here
            local.claim(session, job_id)
    if existing is not None:
        _say_it_exists(existing, kwargs["precision"])
    elif info.get("import_skipped"):
        _say_what_is_left_out(info["import_skipped"], info["import_skipped_count"])
    if created and not enqueue and job_id is not None:
        _follow(local, factory, job_id, as_json, model_id)
    _print_model(factory, model_id, as_json)


def _say_it_exists(model: dict[str, Any], precision: str) -> None:
    """The model was there already: its status as ``models show`` gives it (a failed job shows
    as failed, whatever the row says), and a ``--precision`` other than its own is said to be
    left unapplied (adding a model again changes nothing), with how to get that precision."""
    model_id, status = model["id"], model["status"]
    hint = (f"; continue it with `interpstudio models resume {model_id}`"
            if status in ("failed", "cancelled", "paused", "interrupted") else "")
    err_console.print(f"model {model_id} already exists ({status}){hint}", style="yellow")
    own = model["precision_used"] or model["precision_requested"]
    if own and precision != own:
        err_console.print(
            f"--precision {precision} was not applied: model {model_id} stays at {own}. "
            f"To extract at {precision}: `interpstudio extract --model {model_id} --precision "
            f"{precision} ...`", style="yellow")


def _say_what_is_left_out(skipped: list[str], count: int) -> None:
    """A folder import reads the folder's top level only (as transformers does): the files it
    leaves out are named, never merged into the checkpoint unsaid."""
    shown = ", ".join(skipped[:8]) + (f" and {count - 8} more" if count > 8 else "")
    err_console.print(f"left out {count} file{'' if count == 1 else 's'} not at the folder's "
                      f"top level, of other formats or a second copy of the weights: {shown}",
                      style="yellow")


def _follow(local: LocalRun, factory: Any, job_id: int, as_json: bool, model_id: int) -> None:
    """Run the model's job (``local`` claimed it where it was made) and follow it; a pause
    (which ends the job as cancelled) is said to be a pause, with how to continue, not
    "cancelled by user"."""
    local.start()
    job = follow_job(factory, job_id, quiet=as_json)
    if job["state"] == "cancelled" and not as_json:
        with factory() as session:
            from interpstudio.services import models as service

            status = _model_dict(service.get_model(session=session, model_id=model_id),
                                 session)["status"]
        if status == "paused":
            err_console.print(f"model {model_id} paused (job {job_id}); its partial files are "
                              f"kept: continue it with `interpstudio models resume {model_id}`",
                              style="yellow")
            raise typer.Exit(1)
    if job["state"] != "succeeded":
        finish_followed_job(job, as_json, "")


def _print_model(factory: Any, model_id: int, as_json: bool) -> None:
    with factory() as session:
        from interpstudio.services import models as service

        result = _model_dict(service.get_model(session=session, model_id=model_id), session)
    if as_json:
        print_json(result)
    else:
        _print_models([result])


@app.command("preflight")
def models_preflight(repo_id: str, revision: str = "main", token: TokenOption = None,
                     precision: PrecisionOption = "fp32", drift: DriftOption = None,
                     as_json: JsonOption = False) -> None:
    """Check a hub repo before downloading: files, size, params, memory per precision, disk
    (with the quantized layers a q4 / q2 import keeps)."""
    from interpstudio.services.model_sources import preflight_hub_model

    result = preflight_hub_model(settings=load_settings(), repo_id=repo_id, revision=revision,
                                 token=token, precision=precision, drift_precisions=drift)
    if as_json:
        print_json(result)
        return
    console.print(f"[bold]{result['key']}[/bold] {result['model_type']} "
                  f"{result['n_layers']} layers, d_model {result['d_model']}, "
                  f"{result['parameter_count'] or 0:,} parameters"
                  + (" [yellow](gated)[/yellow]" if result["gated"] else ""))
    console.print(f"{len(result['files'])} files, {human_bytes(result['total_bytes'])}; "
                  f"disk needed {human_bytes(result['disk_needed_bytes'])} (quantized layers "
                  f"{human_bytes(result['quantized_cache_bytes'])}), free "
                  f"{human_bytes(result['disk_free_bytes'])}")
    console.print("memory: " + ", ".join(f"{p} {human_bytes(b)}"
                                         for p, b in result["memory_estimates"].items()))


@app.command("pull")
def models_pull(repo_id: str, revision: str = "main", precision: PrecisionOption = "fp32",
                name: str | None = None, token: TokenOption = None, drift: DriftOption = None,
                enqueue: EnqueueOption = False, as_json: JsonOption = False) -> None:
    """Download a hub model (resumable, verified), then inspect it."""
    from interpstudio.services.model_sources import start_download

    _start(start_download, enqueue, as_json, settings=load_settings(), repo_id=repo_id,
           revision=revision, precision=precision, token=token, name=name,
           drift_precisions=_precisions(drift))


@app.command("import")
def models_import(path: str, config: Annotated[str | None, typer.Option(
        help="config.json for a lone .safetensors file.")] = None,
                  precision: PrecisionOption = "fp32", name: str | None = None,
                  drift: DriftOption = None, enqueue: EnqueueOption = False,
                  as_json: JsonOption = False) -> None:
    """Import a local checkpoint folder, .safetensors (+ config) or .gguf file."""
    from interpstudio.services.model_sources import start_import

    _start(start_import, enqueue, as_json, settings=load_settings(), path=path,
           config_path=config, precision=precision, name=name,
           drift_precisions=_precisions(drift))


@app.command("import-bundled")
def models_import_bundled(precision: PrecisionOption = "fp32", drift: DriftOption = None,
                          enqueue: EnqueueOption = False, as_json: JsonOption = False) -> None:
    """Import the bundled SmolLM2-135M-Instruct (no network needed)."""
    from interpstudio.services.model_sources import start_bundled_import

    _start(start_bundled_import, enqueue, as_json, precision=precision,
           drift_precisions=_precisions(drift))


def _precisions(values: list[str] | None) -> list[str]:
    """``--drift all`` means every precision; otherwise the names given."""
    from interpstudio.ml.memory import PRECISIONS

    names = values or []
    return list(PRECISIONS) if "all" in names else names


@app.command("list")
def models_list(status: Annotated[list[str] | None, choices(MODEL_STATUSES, "status")] = None,
                search: str | None = None, limit: LimitOption = 50,
                as_json: JsonOption = False) -> None:
    """List models, newest first."""
    from interpstudio.services import models as service

    settings = load_settings()
    paths = DataPaths(settings.data_dir)
    factory = _with_source_quantization(settings)
    with factory.begin() as session:
        items, total = service.list_models(session=session, statuses=status or [],
                                           search=search, limit=limit, offset=0)
        models = [_model_dict(m, session, paths) for m in items]
    print_listing(models, total, as_json=as_json, table=_print_models, what="models",
                  filtered=bool(status or search))


@app.command("show")
def models_show(model_id: int, as_json: JsonOption = False) -> None:
    """Show one model."""
    from interpstudio.services import models as service

    factory = _with_source_quantization(load_settings(), model_ids=[model_id])
    with factory.begin() as session:
        model = _model_dict(service.get_model(session=session, model_id=model_id), session)
    if as_json:
        print_json(model)
        return
    table = Table(show_header=False)  # one field a line: every field at any width
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in {**_model_cells(model), "key": model["key"], "source": model["source"],
                         "path": model["path"] or ""}.items():
        table.add_row(field, value)
    console.print(table)
    if model["precision_reason"]:
        console.print(f"precision: {model['precision_reason']}")
    if model["source_quantization"]:
        console.print(f"source weights: {model['source_quantization']['note']}")
    if model["error_message"]:
        console.print(f"[red]{model['error_message']}[/red]")


@app.command("rm")
def models_rm(model_id: int, force: Annotated[bool, typer.Option(
        help="Also delete the extractions and tokenizations that use it.")] = False,
              yes: YesOption = False) -> None:
    """Delete a model and its files (asks unless --yes; refused while something uses it, unless
    --force).

    A refusal (its job or a job of what uses it under way, something using it without --force)
    is said before any question."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import models as service

    settings = load_settings()
    if not yes:
        with session_scope(settings) as session:
            model = service.get_model(session=session, model_id=model_id)
            _, found = service.check_deletable(session=session, model=model, force=force)
            size = human_bytes(model.disk_bytes)  # unknown before its job measured it
            what = f"model {model_id} ({model.name}{', ' + size if size else ''})"
        confirm_delete(what, using=found)
    with session_scope(settings) as session:
        service.delete_model(session=session, model_id=model_id,
                             paths=DataPaths(settings.data_dir), force=force)
    console.print(f"deleted model {model_id}")


@app.command("arch")
def models_arch(model_id: int, depth: Annotated[int, typer.Option(min=1)] = 3,
                as_json: JsonOption = False) -> None:
    """Layers, hook points and the module tree (with parameter counts) of a ready model."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import models as service

    settings = load_settings()
    with session_scope(settings) as session:
        arch = service.read_architecture(session=session, model_id=model_id,
                                         paths=DataPaths(settings.data_dir))
    if as_json:
        print_json(arch)
        return
    console.print(f"{arch['n_layers']} layers, d_model {arch['d_model']}, blocks at "
                  f"{arch['blocks_path']}")
    tree = Tree(f"[bold]{arch['module_tree']['class_name']}[/bold] "
                f"{arch['module_tree']['parameter_count']:,}")
    _add_children(tree, arch["module_tree"], depth)
    console.print(tree)
    first = arch["layers"][0]
    points = ", ".join(p["name"].split(".", 2)[2] for p in first["hook_points"] if p["module"])
    console.print(f"hook points per layer: {points}")


@app.command("cancel")
def models_cancel(model_id: int, pause: Annotated[bool, typer.Option(
        help="Keep the partial files for a resume.")] = False, as_json: JsonOption = False) -> None:
    """Stop a model's download or import (partial files removed unless --pause)."""
    from interpstudio.services import models as service

    settings = load_settings()
    factory = session_factory(settings)
    with factory.begin() as session:
        # a queued gated download's token waits in the data dir: removed with the job (it was
        # left there for any later resume to use, even one given no token)
        service.cancel_model(session=session, model_id=model_id, keep_partial=pause,
                             paths=DataPaths(settings.data_dir))
    _print_model(factory, model_id, as_json)


@app.command("resume")
def models_resume(model_id: int, token: TokenOption = None, enqueue: EnqueueOption = False,
                  as_json: JsonOption = False) -> None:
    """Continue a paused, cancelled, failed or interrupted download from the bytes on disk."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import models as service

    settings = load_settings()
    factory = session_factory(settings)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        job_id = service.resume_model(session=session, model_id=model_id,
                                      paths=DataPaths(settings.data_dir), token=token).job_id
        if not enqueue and job_id is not None:  # committed running here, never seen queued
            local.claim(session, job_id)
    if not enqueue and job_id is not None:
        _follow(local, factory, job_id, as_json, model_id)
    _print_model(factory, model_id, as_json)


def _add_children(tree: Tree, node: dict[str, Any], depth: int) -> None:
    if depth == 0:
        return
    for child in node["children"]:
        role = f" [cyan]{child['role']}[/cyan]" if child["role"] else ""
        branch = tree.add(f"{child['name'].rsplit('.', 1)[-1]} {child['class_name']}{role} "
                          f"{child['parameter_count']:,}")
        _add_children(branch, child, depth - 1)
