"""``interpstudio extract`` and ``interpstudio demo`` (top-level commands).

``extract`` checks and preflights a request (exact bytes, memory, free disk, projected time and
bound), queues the ``extract`` job, runs it in this process (unless ``--enqueue``) with a Rich
progress bar (Ctrl-C cancels; ``interpstudio jobs resume`` continues) and says where the store
is and how to open it from Python. ``--dataset`` picks the newest tokenization of that dataset
made with the model's tokenizer within the model's positions, or tokenizes it first, never past
them (a larger ``--max-length`` is refused before tokenizing; the default length is cut to
them).

``demo`` is the first five minutes: import the bundled SmolLM2-135M, import the bundled
public-domain text, tokenize it, extract every layer's ``resid_post`` from a few thousand tokens,
and print the paths and the Python lines to open them. Every step reuses what exists.

This module is NOT responsible for any rule (services decide) or for the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.cli.common import (
    JsonOption,
    LocalRun,
    console,
    duration_text,
    err_console,
    finish_followed_job,
    follow_job,
    human_bytes,
    load_settings,
    print_json,
    session_factory,
    tokenization_job,
)
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.services.dataset_errors import TokenizationExists
from interpstudio.services.dataset_params import TokenizationPolicySpec
from interpstudio.services.extraction_params import DEVICES_IN_WORDS, check_device

app = typer.Typer(no_args_is_help=True)


def _device(value: str) -> str:
    """``--device`` checked by the spec's own check, refused in its words."""
    try:
        return check_device(value)
    except ValueError as refusal:
        raise typer.BadParameter(str(refusal)) from None


HooksOption = Annotated[list[str], typer.Option(
    "--hooks", help="Hook points or patterns (repeatable): 'blocks.*.resid_post', "
                    "'blocks.{0-3}.attn_out', 'blocks.5.{resid_pre,mlp_out}'.")]


def _run_job(local: LocalRun, factory: sessionmaker[Session], job_id: int, *, enqueue: bool,
             quiet: bool, what: str) -> dict[str, Any] | None:
    """Run (unless queued for a worker: None) and follow one job, which ``local`` claimed in
    the transaction that made it; exit non-zero if it failed. Queued, the caller prints the
    record (``--json``: as JSON, not this line, which ``extract --enqueue --json`` printed)."""
    if enqueue:
        if not quiet:
            console.print(f"queued {what} as job {job_id}; a worker (`interpstudio serve` or "
                          "`interpstudio worker`) will run it")
        return None
    local.start()
    job = follow_job(factory, job_id, quiet=quiet, with_message=True)
    if job["state"] != "succeeded":
        finish_followed_job(job, quiet, "")
    return job


def _tokenization_for(settings: Settings, factory: sessionmaker[Session], *, dataset_id: int,
                      model_id: int, policy: TokenizationPolicySpec | None, quiet: bool,
                      options_hint: bool = True, note: str | None = None) -> int:
    """The dataset's ready tokenization with the model's tokenizer, made (and run here) if there
    is none. ``policy`` None: the newest such tokenization within the model's positions (one
    made past them earlier is passed over), else one made under the default policy (which the
    service holds to the model's positions, ``fit_to_positions``); a policy: only one made
    under exactly it. ``options_hint``: say that ``--max-length`` / ``--mode`` pick another
    (``extract``'s options; ``demo`` has none). ``note``: a line said where the policy it goes
    with is used (found or made)."""
    from interpstudio.services import extractions as service
    from interpstudio.services import tokenizations

    local = LocalRun(settings, factory)
    with factory.begin() as session:
        found = service.find_tokenization_for(session=session, paths=DataPaths(settings.data_dir),
                                              dataset_id=dataset_id, model_id=model_id,
                                              policy=policy)
        if note and not quiet and (found is None or policy is not None):
            console.print(note, highlight=False)
        if found is not None:
            if not quiet:  # which one matters: a quick 16-token try was silently reused
                p = found.policy or {}
                other = ("" if found.model_id == model_id else f", made with model "
                         f"{found.model_id}'s tokenizer: its files are identical")
                console.print(f"using tokenization {found.id} of dataset {dataset_id} (max length "
                              f"{p.get('max_length')}, {p.get('mode')}, "
                              f"{'BOS' if p.get('add_bos') else 'no BOS'}{other})"
                              + ("; --max-length / --mode pick or make another"
                                 if options_hint else ""))
            return found.id
    try:
        with factory.begin() as session:
            created = tokenizations.create_tokenization(
                session=session, paths=DataPaths(settings.data_dir), dataset_id=dataset_id,
                model_id=model_id, policy=policy or TokenizationPolicySpec())
            tokenization_id, job_id = created.id, created.job_id
            local.claim(session, job_id)  # committed running here: no server's worker takes it
    except TokenizationExists as exists:  # one under way or stopped (Ctrl-C): finish that one
        return _finish_tokenization(settings, factory, exists, quiet=quiet)
    if not quiet:
        console.print(f"tokenizing dataset {dataset_id} with model {model_id}'s tokenizer "
                      f"(tokenization {tokenization_id})")
    _run_job(local, factory, job_id, enqueue=False, quiet=quiet, what="tokenization")
    return tokenization_id


def _finish_tokenization(settings: Settings, factory: sessionmaker[Session],
                         exists: TokenizationExists, *, quiet: bool) -> int:
    """The tokenization ``exists`` names, which ``find_tokenization_for`` passed over as not
    ready, finished here: its stopped job (Ctrl-C, a kill, a failure) resumed, a queued one
    claimed, a running one followed. Found by a tester: after Ctrl-C in ``extract --dataset``'s
    tokenization (or ``demo``'s), the same command again was refused for good with "already
    tokenized (tokenization 6, cancelled); use it, or delete it first". A ready one (past the
    model's positions) or one without a job is refused as before."""
    from interpstudio.services import jobs

    tokenization_id = int(exists.details["tokenization_id"])
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        job = tokenization_job(session, exists)
        if job is None or (job.state not in jobs.ALLOWED["resume"]
                           and job.state not in jobs.ALLOWED["cancel"]):
            raise exists
        job_id, state = job.id, job.state
        if state in jobs.ALLOWED["resume"]:
            jobs.resume_job(session=session, job_id=job_id)
        local.claim(session, job_id)  # queued now: run here (running: followed where it runs)
    if not quiet:
        action = "resuming" if state in jobs.ALLOWED["resume"] else "finishing"
        console.print(f"{action} tokenization {tokenization_id} (job {job_id}, {state}): the "
                      "same dataset, tokenizer and policy", highlight=False)
    _run_job(local, factory, job_id, enqueue=False, quiet=quiet, what="tokenization")
    return tokenization_id


def _within_model_positions(settings: Settings, factory: sessionmaker[Session], model_id: int,
                            given: dict[str, Any]) -> tuple[TokenizationPolicySpec, str | None]:
    """``extract --dataset``'s tokenization policy held to the model's positions before anything
    is tokenized, by the service's rule (``fit_to_positions``): a ``--max-length`` past them is
    refused (exit 2) naming the option; without one, the default is cut to them, with the line
    that says so."""
    from interpstudio.services.tokenizations import fit_to_positions

    with factory() as session:
        return fit_to_positions(session=session, paths=DataPaths(settings.data_dir),
                                model_id=model_id, option="--max-length",
                                policy=TokenizationPolicySpec.model_validate(given))


def print_preflight(report: dict[str, Any]) -> None:
    from rich.table import Table

    plan, size, memory, projected = (report["plan"], report["bytes"], report["memory"],
                                     report["projected"])
    calibration = report.get("calibration") or {}
    table = Table("preflight", "", show_header=False)
    model = report.get("model") or {}
    if model.get("precision_used"):
        asked = model.get("precision_requested")
        table.add_row("precision", model["precision_used"] + (
            f"  [yellow](asked {asked}: {model.get('fallback_reason') or 'fallback'})[/yellow]"
            if asked and asked != model["precision_used"] else ""))
    table.add_row("hook points", f"{len(report['hook_points'])} ({report['dtype']})")
    table.add_row("tokens / rows", f"{plan['tokens']:,} tokens -> {plan['rows']:,} rows in "
                  f"{plan['sequences']:,} sequences, {plan['batches']:,} batches")
    table.add_row("bytes to write", f"{size['shard_files']:,} exactly in {report['shards']} "
                  f"shard(s) (+ ~{size['stats_estimate']:,} statistics)")
    table.add_row("free disk", f"{report['free_disk_bytes']:,}"
                  + ("" if report["disk_ok"] else "  [red]NOT ENOUGH[/red]"))
    vram = memory["vram_needed"]
    table.add_row("memory", f"RAM {human_bytes(memory['ram_needed']) or '?'}"
                  + (f", VRAM {human_bytes(vram)}" if vram else ""))
    if calibration:
        table.add_row("calibration", f"{calibration['tokens_per_s']:,.0f} tokens/s on "
                      f"{calibration['device']} (batch {calibration['batch_size']})")
    if report.get("disk_write_bytes_per_s"):
        table.add_row("disk write", f"{report['disk_write_bytes_per_s'] / 1e6:,.0f} MB/s")
    table.add_row("projected",
                  f"{duration_text(projected['total_s'])}, bound: {projected['bound']}")
    err_console.print(table)
    for note in report.get("notes") or []:
        err_console.print(f"[yellow]note:[/yellow] {note}", soft_wrap=True)


def print_how_to_open(settings: Settings, extraction: dict[str, Any]) -> None:
    for warning in (extraction.get("info") or {}).get("warnings", []):
        err_console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)
    store = Path(extraction.get("store_abs_path")
                 or DataPaths(settings.data_dir).root / extraction["path"] / "store")
    hook = (extraction["spec"].get("hook_points_expanded") or ["blocks.0.resid_post"])[-1]
    # paths and code to copy: never wrapped at the terminal's width (soft_wrap)
    # a run killed mid-way (kill -9, a lost worker) has no statistics or top tokens yet: its
    # paths were printed all the same, and the last Python line failed on ``acts.stats`` (None)
    stats, samples = store / "stats.json", store.parent / "samples.json"
    resume = (f"; `interpstudio jobs resume {extraction['job_id']}` continues it"
              if extraction.get("job_id") else "")
    not_yet = f"(none yet: written when the run finishes{resume})"
    console.print(f"\n[bold]store[/bold]      {store}", soft_wrap=True)
    if extraction.get("store_empty"):  # stopped before its first whole shard: nothing to open
        console.print(f"nothing stored yet: the run stopped before its first whole shard"
                      f"{resume.replace('continues it', 'starts it again')}", soft_wrap=True,
                      highlight=False)
        return
    console.print(f"[bold]statistics[/bold] {stats if stats.is_file() else not_yet}",
                  soft_wrap=True)
    console.print(f"[bold]top tokens[/bold] {samples if samples.is_file() else not_yet}\n",
                  soft_wrap=True)
    # not indented: pasted into `python`, an indented first line is an IndentationError
    console.print("Open it from Python:\n", style="bold")
    lines = (
        "from interpstudio.ml import open_activations\n"
        f"acts = open_activations({str(store)!r})\n"
        f"x = acts[{hook!r}][:1000]      # (rows, d) numpy, read lazily from the shards\n"
        "acts.tokens[:1000]                # token_id, sequence, position per row")
    if stats.is_file():
        lines += (
            "\n# statistics of the rows past the first position; 'bos': the first-position / "
            "BOS\n# rows (an attention sink, with norms many times the others'); 'all': both\n"
            f"acts.stats['hooks'][{hook!r}]['groups']['non_bos']['norm']['mean']")
    console.print(lines, highlight=False, soft_wrap=True)


def run_extraction_command(settings: Settings, factory: sessionmaker[Session], spec: Any, *,
                           enqueue: bool, as_json: bool, dry_run: bool = False) -> dict[str, Any]:
    """Preflight, create, run and follow; returns the extraction as the API shows it."""
    from interpstudio.services import extractions as service

    with factory() as session:
        if dry_run:  # a missing model, tokenization or hook point before the message below
            service.resolve_inputs(session=session, paths=DataPaths(settings.data_dir),
                                   spec=spec)
        else:  # a copy of a run underway, too, before the preflight loads the model
            service.refuse_copy_of(session=session, paths=DataPaths(settings.data_dir),
                                   spec=spec)
        if not as_json:  # it takes a while: the model is loaded and one batch timed
            err_console.print("preflight: loading the model and timing its largest batch…")
        report = service.preflight_extraction(session=session, settings=settings, spec=spec)
    if not as_json:
        print_preflight(report)
    if dry_run:
        if as_json:
            print_json(report)
        raise typer.Exit(0)
    local = LocalRun(settings, factory)
    with factory.begin() as session:
        row = service.create_extraction(session=session, settings=settings, spec=spec,
                                        preflight=report)
        extraction_id, job_id = row.id, row.job_id
        if not enqueue and job_id is not None:  # committed running here, never seen queued
            local.claim(session, job_id)
    _run_job(local, factory, job_id, enqueue=enqueue, quiet=as_json,  # type: ignore[arg-type]
             what=f"extraction {extraction_id}")
    return extraction_dict(settings, factory, extraction_id)


def extraction_read(session: Session, paths: DataPaths, row: Any) -> dict[str, Any]:
    """The extraction row as the API shows it (``ExtractionRead``: the status its job gives it,
    its store's absolute path)."""
    from interpstudio.api.extraction_schemas import ExtractionRead
    from interpstudio.services import extractions as service

    read = ExtractionRead.from_row(row, service.extraction_job(session=session, row=row), paths)
    return read.model_dump(mode="json")


def extraction_dict(settings: Settings, factory: sessionmaker[Session],
                    extraction_id: int) -> dict[str, Any]:
    """The extraction as the API shows it (with its store's absolute path)."""
    from interpstudio.services import extractions as service

    with factory() as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        return extraction_read(session, DataPaths(settings.data_dir), row)


@app.command("extract")
def extract(
    model: Annotated[int, typer.Option("--model", help="Model id (interpstudio models list).")],
    hooks: HooksOption = ["blocks.*.resid_post"],  # noqa: B006 (typer copies defaults)
    tokenization: Annotated[int | None, typer.Option(help="Tokenization id.")] = None,
    dataset: Annotated[int | None, typer.Option(
        help="Dataset id: use (or make) its tokenization with this model's tokenizer.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 8,
    positions: Annotated[str, typer.Option(help=(
        "all | last (each sequence's last token) | every_k (positions k-1, 2k-1, ...: --every-k) "
        "| exclude_bos (all but a leading BOS token; a packed window's inner BOS tokens, which "
        "begin documents, are kept)"))] = "all",
    every_k: Annotated[int, typer.Option(min=1)] = 1,
    dtype: Annotated[str, typer.Option(help="float16 | bfloat16 | float32")] = "float16",
    precision: Annotated[str | None, typer.Option(help="fp32|fp16|bf16|q8|q4|q2")] = None,
    max_samples: Annotated[int | None, typer.Option(min=1)] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    device: Annotated[str, typer.Option(
        callback=_device, help=f"Where the model runs: {DEVICES_IN_WORDS}.")] = "auto",
    shard_rows: Annotated[int | None, typer.Option(min=1)] = None,
    max_length: Annotated[int | None, typer.Option(
        min=1, help="With --dataset: tokens per sequence (window with --mode pack); given, "
                    "only a tokenization with exactly this policy is used or made "
                    "\\[default: 1024]")] = None,
    mode: Annotated[str | None, typer.Option(
        help="With --dataset: 'truncate' (one sequence per row) or 'pack' (rows joined with EOS "
             "into full windows); given, as --max-length \\[default: truncate]")] = None,
    name: str | None = None,
    dry_run: Annotated[bool, typer.Option(
        help="Only show the preflight (with --dataset, a missing tokenization is made first: "
             "the preflight counts its tokens).")] = False,
    enqueue: Annotated[bool, typer.Option(help="Only queue it for a server/worker.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Extract activations of a model over a tokenized dataset into an activation store."""
    from interpstudio.services.extraction_params import ExtractionSpec

    if (tokenization is None) == (dataset is None):
        err_console.print("[red]error:[/red] give exactly one of --tokenization or --dataset")
        raise typer.Exit(2)
    if every_k != 1 and positions != "every_k":  # silently ignored before (found by a tester)
        err_console.print(f"[red]error:[/red] --every-k {every_k} applies only with --positions "
                          f"every_k (not {positions}); add --positions every_k")
        raise typer.Exit(2)
    if tokenization is not None and (max_length is not None or mode is not None):
        # silently ignored before: --tokenization names one already made under its own policy
        given = "--max-length" if max_length is not None else "--mode"
        err_console.print(f"[red]error:[/red] {given} applies only with --dataset (a "
                          f"tokenization is made under it); tokenization {tokenization} has its "
                          "own: drop the option, or give --dataset instead of --tokenization")
        raise typer.Exit(2)
    settings = load_settings()
    factory = session_factory(settings)
    if tokenization is None:
        given = {k: v for k, v in {"max_length": max_length, "mode": mode}.items() if v is not None}
        fitted, note = _within_model_positions(settings, factory, model, given)
        tokenization = _tokenization_for(settings, factory, dataset_id=dataset,  # type: ignore[arg-type]
                                         model_id=model, policy=fitted if given else None,
                                         quiet=as_json, note=note)
    spec = ExtractionSpec.model_validate({
        "model_id": model, "tokenization_id": tokenization, "hook_points": hooks, "name": name,
        "precision": precision, "batch_size": batch_size, "positions": positions,
        "every_k": every_k, "dtype": dtype, "max_samples": max_samples,
        "max_tokens": max_tokens, "device": device, "shard_rows": shard_rows})
    result = run_extraction_command(settings, factory, spec, enqueue=enqueue, as_json=as_json,
                                    dry_run=dry_run)
    if as_json:
        print_json(result)
        return
    if enqueue:  # queued: said so already
        return
    counts = result["counts"] or {}
    console.print(f"[green]extraction {result['id']} complete[/green]: {counts.get('rows', 0):,} "
                  f"rows, {human_bytes(counts.get('bytes')) or '?'}, "
                  f"{counts.get('tokens_per_s') or 0:,.0f} tokens/s, "
                  f"model at {result.get('precision_used') or '?'}")
    print_how_to_open(settings, result)


@app.command("demo")
def demo(
    max_tokens: Annotated[int, typer.Option(min=1, help="Tokens to extract.")] = 4096,
    fresh: Annotated[bool, typer.Option(
        help="Extract again even where a complete extraction of the same request is there "
             "(reused by default), or one that stopped (resumed by default).")] = False,
    as_json: JsonOption = False,
) -> None:
    """First five minutes: bundled model + bundled text -> tokenize -> all-layer extraction."""
    from interpstudio.cli.extract_demo import run_demo

    run_demo(max_tokens=max_tokens, as_json=as_json, fresh=fresh)
