"""``interpstudio datasets add|upload|list|show|preview|tokenize|rm``.

``add`` imports local files (inside the import roots), the bundled text (``--bundled``) or a hub
dataset (``--hub org/name``) through the same services as the API and, unless ``--enqueue``, runs
the job in this process while a Rich progress bar follows it (Ctrl-C cancels); ``tokenize`` does
the same for a tokenization. ``upload`` sends files to a running server over HTTP (streamed
multipart). A hub token comes from ``--token`` or ``HF_TOKEN`` and is never printed. Every command
has ``--json``. This module is NOT responsible for any rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from interpstudio.cli.common import (
    EnqueueOption,
    JsonOption,
    LimitOption,
    LocalRun,
    YesOption,
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
    tokenization_job,
)
from interpstudio.services.dataset_errors import TokenizationExists

app = typer.Typer(no_args_is_help=True)

TextColumnOption = Annotated[str | None, typer.Option(help="Text column (default: detected).")]
TxtModeOption = Annotated[str, typer.Option(help=".txt: 'line' per document or whole 'file'.")]
DecodeOption = Annotated[str, typer.Option(help="Non-UTF-8 bytes: 'strict' or 'replace'.")]
# the limit a refused long line / parquet value names (record_too_large): without a flag the
# terminal had no way to raise it
MaxRecordBytesOption = Annotated[int | None, typer.Option(
    help="A longer line or record (a parquet value) is refused \\[default: 64 MiB, 67,108,864]; "
         "1,024 to 2**31.", show_default=False)]


def _dataset_dict(dataset: Any, session: Any) -> dict[str, Any]:
    from interpstudio.api.dataset_schemas import DatasetRead

    return DatasetRead.from_row(dataset, session).model_dump(mode="json")


def _tokenization_dict(tokenization: Any, session: Any) -> dict[str, Any]:
    from interpstudio.api.dataset_schemas import TokenizationRead

    return TokenizationRead.from_row(tokenization, session).model_dump(mode="json")


DATASET_COLUMNS = ("id", "name", "source", "status", "rows", "bytes", "text column", "error")


def _print_datasets(datasets: list[dict[str, Any]]) -> None:
    """One row per dataset (``list``, and ``show``'s first lines); in a narrow terminal the name
    and the error fold whole (they were cut with "…") and the least telling columns are left
    out first (``--json`` has them)."""
    rows = [{"id": str(d["id"]), "name": d["name"], "source": d["source"], "status": d["status"],
             "rows": f"{d['rows']:,}" if d["rows"] is not None else "",
             "bytes": f"{d['bytes']:,}" if d["bytes"] is not None else "",
             "text column": d["text_column"] or "", "error": d["error_message"] or ""}
            for d in datasets]
    print_fitted_table(rows, headers=DATASET_COLUMNS, whole="name", messages=("error",),
                       drop_order=("text column", "bytes", "source", "rows"),
                       shown_by="--json shows them")


def _count(value: Any) -> str:
    """A count as every other table prints it (``51,096,576``); blank where there is none."""
    return f"{value:,}" if isinstance(value, int) else ""


TOKENIZATION_COLUMNS = ("id", "tokenizer", "mode", "max_length", "BOS", "status", "sequences",
                        "tokens", "truncated", "dropped rows")


def _print_tokenizations(items: list[dict[str, Any]]) -> None:
    """A dataset's tokenizations; in a narrow terminal the tokenizer key folds whole and the
    counts are left out first."""
    rows = []
    for t in items:
        policy, counts = t["policy"], t["counts"] or {}
        bos = policy.get("add_bos", policy.get("requested", {}).get("add_bos"))
        rows.append({"id": str(t["id"]), "tokenizer": t["tokenizer_key"],
                     "mode": str(policy.get("mode", "")),
                     "max_length": str(policy.get("max_length", "")),
                     "BOS": "tokenizer default" if bos is None else str(bos),
                     "status": t["status"], "sequences": _count(counts.get("sequences")),
                     "tokens": _count(counts.get("tokens")),
                     "truncated": _count(counts.get("truncated_sequences")),
                     "dropped rows": _count(counts.get("dropped_rows"))})
    print_fitted_table(rows, headers=TOKENIZATION_COLUMNS, whole="tokenizer",
                       drop_order=("dropped rows", "truncated", "sequences", "BOS", "tokens"),
                       wraps=("BOS",), shown_by="--json shows them")


def _run(kind: str, create: Any, load: Any, to_dict: Any, enqueue: bool, as_json: bool,
         success: str) -> None:
    """Create a row + job through a service, run the job here unless enqueued, print the row
    (``success``, formatted with it, once done; its job to follow while queued)."""
    settings = load_settings()
    factory = session_factory(settings)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        row = create(session=session, settings=settings)
        row_id, job_id = row.id, row.job_id
        if row.status == "ready":  # an import made before (the bundled text): nothing to run,
            job_id = None          # and its job may be gone from the jobs list
        if not enqueue and job_id is not None:  # committed running here, never seen queued
            local.claim(session, job_id)
    if not enqueue and job_id is not None:
        local.start()
        job = follow_job(factory, job_id, quiet=as_json)
        if job["state"] != "succeeded":
            finish_followed_job(job, as_json, "")
    with factory() as session:
        result = to_dict(load(session, row_id), session)
    if as_json:
        print_json(result)
    elif result["status"] in ("queued", "running"):  # --enqueue: no counts yet to print
        console.print(f"queued {kind} {row_id} as job {result['job_id']}; a worker "  # as extract
                      "(`interpstudio serve` or `interpstudio worker`) will run it",
                      highlight=False)
    else:
        console.print(f"[green]{success.format(**result)}[/green]")


@app.command("add")
def datasets_add(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders to import.")] = None,
    hub: Annotated[str | None, typer.Option(help="Hub dataset id, e.g. org/name.")] = None,
    revision: str = "main",
    config: Annotated[str, typer.Option(
        help="Hub config; 'default': the repo's default config (refused, listing the configs, "
             "when it has several and none is the default); 'all': a repo without declared "
             "configs, every folder's files as one dataset.")] = "default",
    split: str = "train",
    token: Annotated[str | None, typer.Option(envvar="HF_TOKEN", show_envvar=True,
                                              help="Hub access token (gated datasets).")] = None,
    bundled: Annotated[bool, typer.Option(help="Import the bundled public-domain play.")] = False,
    name: str | None = None,
    text_column: TextColumnOption = None,
    txt_mode: TxtModeOption = "line",
    decode: DecodeOption = "strict",
    max_record_bytes: MaxRecordBytesOption = None,
    enqueue: EnqueueOption = False,
    as_json: JsonOption = False,
) -> None:
    """Import a dataset from local files, the bundled text or the hub, and follow the job."""
    from interpstudio.services import datasets as service
    from interpstudio.services.dataset_params import ReadOptionsSpec

    limit = {} if max_record_bytes is None else {"max_record_bytes": max_record_bytes}
    spec = ReadOptionsSpec(text_column=text_column, txt_mode=txt_mode,  # type: ignore[arg-type]
                           decode=decode, **limit)  # type: ignore[arg-type]

    def create(*, session: Any, settings: Any) -> Any:
        if hub:
            return service.add_hub_dataset(session=session, settings=settings, repo_id=hub,
                                           revision=revision, config=config, split=split,
                                           name=name, spec=spec, token=token)
        if bundled:
            return service.add_bundled_dataset(session=session, settings=settings, name=name,
                                               spec=spec)[0]
        if not paths:
            raise typer.BadParameter("give files/folders, --hub ID or --bundled")
        return service.add_local_dataset(session=session, settings=settings,
                                         files=[str(p) for p in paths], name=name, spec=spec)

    _run("dataset", create, lambda s, i: service.get_dataset(session=s, dataset_id=i),
         _dataset_dict, enqueue, as_json, "dataset {id} {status}: {rows:,} rows, {bytes:,} bytes")


@app.command("upload")
def datasets_upload(
    files: Annotated[list[Path], typer.Argument(help="Files to send.", exists=True,
                                                dir_okay=False)],
    server: Annotated[str | None, typer.Option(help="Server URL (default: host:port of the "
                                                    "settings).")] = None,
    name: str | None = None,
    text_column: TextColumnOption = None,
    txt_mode: TxtModeOption = "line",
    decode: DecodeOption = "strict",
    max_record_bytes: MaxRecordBytesOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload files to a running server (streamed multipart); the server imports them."""
    import httpx

    settings = load_settings()
    url = (server or f"http://{settings.host}:{settings.port}").rstrip("/")
    headers = ({"X-API-Key": settings.api_key.get_secret_value()} if settings.api_key else {})
    data = {k: v for k, v in {"name": name, "text_column": text_column, "txt_mode": txt_mode,
                              "decode": decode, "max_record_bytes": None if max_record_bytes is None
                              else str(max_record_bytes)}.items()
            if v is not None and v != ""}
    handles = [open(f, "rb") for f in files]  # noqa: SIM115 (closed below; httpx streams them)
    try:
        response = httpx.post(f"{url}/api/v1/datasets/upload", headers=headers, data=data,
                              files=[("files", (f.name, h)) for f, h in zip(files, handles,
                                                                           strict=True)],
                              timeout=None)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:  # not reachable, not an http(s) URL
        err_console.print(f"[red]error:[/red] cannot upload to {url}: {exc}; start the server "
                          "(`interpstudio serve`) or pass its address with --server")
        raise typer.Exit(2) from None
    finally:
        for handle in handles:
            handle.close()
    body = _json_or_none(response)
    if response.status_code >= 400 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            reason = f"{error.get('code')}: {error.get('message')}"
        else:  # another server, a proxy's page
            reason = (f"{url} answered something that is not Interp Studio: "
                      f"{response.text[:200]!r}")
        err_console.print(f"[red]upload refused ({response.status_code})[/red] {reason}")
        raise typer.Exit(2)
    if as_json:
        print_json(body)
    else:
        console.print(f"uploaded as dataset {body['id']} ({body['status']}); the server's "
                      f"job {body['job_id']} imports it")


def _json_or_none(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@app.command("list")
def datasets_list(limit: LimitOption = 50, as_json: JsonOption = False) -> None:
    """List datasets, newest first."""
    from interpstudio.services import datasets as service

    with session_scope(load_settings()) as session:
        items, total = service.list_datasets(session=session, limit=limit, offset=0)
        datasets = [_dataset_dict(d, session) for d in items]
    print_listing(datasets, total, as_json=as_json, table=_print_datasets, what="datasets")


@app.command("show")
def datasets_show(dataset_id: int, as_json: JsonOption = False) -> None:
    """Show one dataset, its statistics and its tokenizations."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import datasets as service
    from interpstudio.services import tokenizations as tokenization_service

    settings = load_settings()
    with session_scope(settings) as session:
        dataset = _dataset_dict(service.get_dataset(session=session, dataset_id=dataset_id),
                                session)
        items, _total = tokenization_service.list_tokenizations(
            session=session, paths=DataPaths(settings.data_dir), dataset_id=dataset_id,
            limit=100, offset=0)
        tokenizations = [_tokenization_dict(t, session) for t in items]
    if as_json:
        print_json({**dataset, "tokenizations": tokenizations})
        return
    _print_datasets([dataset])
    stats = dataset["stats"] or {}
    if stats:
        console.print(f"characters {stats['characters']:,}  empty rows {stats['empty_rows']:,}  "
                      f"mean length {stats['mean_chars'] or 0:,.1f}  "
                      f"max {stats['max_chars'] or 0:,}")
        for bucket in stats["length_histogram"]:
            console.print(f"  [{bucket['lo']:>7,}, {bucket['hi']:>7,}) {bucket['count']:>8,}")
    for f in dataset["files"]:
        console.print(f"  {f['name']}  {f['bytes']:,} bytes  sha256 {f['sha256']}")
    if tokenizations:
        _print_tokenizations(tokenizations)


@app.command("preview")
def datasets_preview(dataset_id: int,
                     offset: Annotated[int, typer.Option(min=0, help="First row.")] = 0,
                     limit: Annotated[int, typer.Option(min=1, max=200)] = 10,
                     random: Annotated[bool, typer.Option(help="A random sample.")] = False,
                     seed: int = 0, as_json: JsonOption = False) -> None:
    """Print rows of a dataset (a page, or a random sample)."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import datasets as service

    settings = load_settings()
    with session_scope(settings) as session:
        rows, total = service.preview_rows(session=session, paths=DataPaths(settings.data_dir),
                                           dataset_id=dataset_id, offset=offset, limit=limit,
                                           random=random, seed=seed)
    if as_json:
        print_json({"items": [{"row": r, "text": t} for r, t in rows], "total": total})
        return
    table = Table("row", "text")
    for row, text in rows:
        table.add_row(str(row), text if len(text) < 300 else text[:300] + "…")
    console.print(table)


def _say_how_to_resume(session: Any, exists: TokenizationExists) -> None:
    """A refused tokenization whose twin stopped (Ctrl-C here, a kill, a failure) gets the
    command that continues it: the refusal alone said "use it, or delete it first", and a
    stopped tokenization cannot be used (Ctrl-C here said only "cancelled")."""
    from interpstudio.services.jobs import ALLOWED

    job = tokenization_job(session, exists)
    if job is not None and job.state in ALLOWED["resume"]:
        exists.message += (f"; its job {job.id} is {job.state}: `interpstudio jobs resume "
                           f"{job.id}` continues it")


@app.command("tokenize")
def datasets_tokenize(
    dataset_id: int,
    model: Annotated[int, typer.Option(help="Model id whose tokenizer is used.")],
    max_length: Annotated[int | None, typer.Option(
        min=1, help="Tokens per sequence (window with --mode pack) \\[default: 1024, or the "
                    "model's positions where fewer]")] = None,
    mode: Annotated[str, typer.Option(help="'truncate' or 'pack' (EOS between rows).")] =
    "truncate",
    bos: Annotated[bool | None, typer.Option("--bos/--no-bos", help="Prepend BOS (default: "
                                             "what the tokenizer does).")] = None,
    min_tokens: int = 1,
    batch_rows: int = 1024,
    enqueue: EnqueueOption = False,
    as_json: JsonOption = False,
) -> None:
    """Tokenize a dataset with a model's tokenizer under an explicit policy."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import tokenizations as service
    from interpstudio.services.dataset_params import TokenizationPolicySpec

    policy = TokenizationPolicySpec.model_validate(  # a max length left out: the service's
        {"mode": mode, "add_bos": bos, "min_tokens": min_tokens,  # (fit_to_positions)
         **({} if max_length is None else {"max_length": max_length})})

    def create(*, session: Any, settings: Any) -> Any:
        try:
            made = service.create_tokenization(
                session=session, paths=DataPaths(settings.data_dir), dataset_id=dataset_id,
                model_id=model, policy=policy, batch_rows=batch_rows, option="--max-length")
        except TokenizationExists as exists:
            _say_how_to_resume(session, exists)
            raise
        note = (made.policy or {}).get("max_length_note")
        if note and not as_json:  # the default cut to the model's positions
            console.print(note, highlight=False)
        return made

    _run("tokenization", create,
         lambda s, i: service.get_tokenization(session=s, tokenization_id=i),
         _tokenization_dict, enqueue, as_json,
         "tokenization {id} {status}: {counts[sequences]:,} sequences, "
         "{counts[tokens]:,} tokens")


@app.command("rm")
def datasets_rm(dataset_id: int,
                force: Annotated[bool, typer.Option(help="Also delete tokenizations and "
                                                         "extractions using it.")] = False,
                yes: YesOption = False, as_json: JsonOption = False) -> None:
    """Delete a dataset and its files (asks unless --yes; refused while something uses it,
    unless --force).

    A refusal (its job or a job of what uses it under way, something using it without --force)
    is said before any question."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import datasets as service

    settings = load_settings()
    if not yes:
        with session_scope(settings) as session:
            dataset = service.get_dataset(session=session, dataset_id=dataset_id)
            found = service.check_deletable(session=session, dataset=dataset, force=force)
            size = human_bytes(dataset.bytes)  # unknown before its job measured it
            what = f"dataset {dataset_id} ({dataset.name}{', ' + size if size else ''})"
        confirm_delete(what, using=found)
    with session_scope(settings) as session:
        removed = service.delete_dataset(session=session, paths=DataPaths(settings.data_dir),
                                         dataset_id=dataset_id, force=force)
    if as_json:
        print_json(removed)
    else:
        console.print(f"deleted dataset {dataset_id}")
