"""The ``interpstudio`` command line (Typer + Rich).

``serve`` (migrations + embedded workers + API/UI), ``worker`` (a standalone job worker), ``db
upgrade``, ``openapi``, ``jobs list|show|cancel|resume|retry|rm`` and ``selftest`` (runs the
diagnostic job and follows it with a progress bar). Every listing command takes ``--json`` for
scripts. Settings come from ``INTERPSTUDIO_*`` variables; invalid ones stop the command with a
message naming the variable. This module is NOT responsible for business rules: it calls services.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.errors import AppError
from interpstudio.core.settings import Settings, get_settings

app = typer.Typer(help="Interp Studio: models, datasets and activations for interpretability.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
jobs_app = typer.Typer(help="Inspect and control jobs.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
app.add_typer(db_app, name="db")

console = Console()
err_console = Console(stderr=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def main() -> None:
    try:
        app()
    except AppError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)


def load_settings(**overrides: Any) -> Settings:
    return get_settings(**{k: v for k, v in overrides.items() if v is not None})


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    with _session_factory(settings).begin() as session:
        yield session


def _session_factory(settings: Settings) -> sessionmaker[Session]:
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.session import make_engine, make_session_factory

    upgrade(settings.resolved_database_url)
    return make_session_factory(make_engine(settings.resolved_database_url))


# -- server and worker ------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Embedded job workers (0: none).")] = None,
) -> None:
    """Apply migrations, start the embedded job workers and serve the API and web UI."""
    import uvicorn

    from interpstudio.api.app import create_app
    from interpstudio.core.logging import configure_logging
    from interpstudio.db.migrate import upgrade
    from interpstudio.jobs.pool import WorkerPool

    settings = load_settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    pool = WorkerPool(settings)
    pool.start()
    try:
        console.print(f"Interp Studio on http://{settings.host}:{settings.port} "
                      f"(data: {settings.data_dir}, workers: {settings.workers})")
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_level=settings.log_level.lower())
    finally:
        pool.stop()


@app.command()
def worker() -> None:
    """Run one job worker in the foreground (scale-out, or beside `serve --workers 0`)."""
    from interpstudio.db.migrate import upgrade
    from interpstudio.jobs.runner import worker_main

    settings = load_settings()
    upgrade(settings.resolved_database_url)
    worker_main(settings)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (SQLite or PostgreSQL)."""
    from interpstudio.db.migrate import head_revision, upgrade

    settings = load_settings()
    upgrade(settings.resolved_database_url)
    console.print(f"database at revision {head_revision()}")


@app.command()
def openapi(out: Annotated[Path | None, typer.Option(help="Write to this file.")] = None) -> None:
    """Print the REST API's OpenAPI schema (the frontend's types are generated from it)."""
    from interpstudio.api.app import create_app

    settings = load_settings(data_dir=Path(_temp_dir()), api_key=None, host="127.0.0.1")
    text = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)


def _temp_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="interpstudio-openapi-")


# -- jobs -------------------------------------------------------------------------------------


def _job_dict(job: Any) -> dict[str, Any]:
    from interpstudio.api.schemas import JobRead

    return JobRead.from_job(job).model_dump(mode="json")


def _print_jobs(jobs: list[dict[str, Any]]) -> None:
    table = Table("id", "kind", "state", "stage", "progress", "rate", "ETA", "error")
    for job in jobs:
        progress = f"{job['progress'] * 100:.0f}%" if job["progress"] is not None else ""
        rate = f"{job['rate']:.1f} {job['unit'] or ''}/s" if job["rate"] else ""
        eta = f"{job['eta_s']:.0f}s" if job["eta_s"] is not None else ""
        table.add_row(str(job["id"]), job["kind"], job["state"], job["stage"] or "", progress,
                      rate, eta, job["error_message"] or "")
    console.print(table)


@jobs_app.command("list")
def jobs_list(
    state: Annotated[list[str] | None, typer.Option(help="Filter by state (repeatable).")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="Filter by kind (repeatable).")] = None,
    limit: int = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    from interpstudio.services import jobs as service

    with session_scope(load_settings()) as session:
        items, total = service.list_jobs(session=session, states=state or [], kinds=kind or [],
                                         limit=limit, offset=0)
        jobs = [_job_dict(j) for j in items]
    if as_json:
        console.print_json(json.dumps({"items": jobs, "total": total}))
    else:
        _print_jobs(jobs)


def _job_action(action: Callable[..., Any], job_id: int, as_json: bool) -> None:
    with session_scope(load_settings()) as session:
        job = _job_dict(action(session=session, job_id=job_id))
    if as_json:
        console.print_json(json.dumps(job))
    else:
        _print_jobs([job])


@jobs_app.command("show")
def jobs_show(job_id: int, as_json: JsonOption = False) -> None:
    """Show one job."""
    from interpstudio.services import jobs as service

    _job_action(service.get_job, job_id, as_json)


@jobs_app.command("cancel")
def jobs_cancel(job_id: int, as_json: JsonOption = False) -> None:
    """Cancel a queued or running job (a running one stops at its next check)."""
    from interpstudio.services import jobs as service

    _job_action(service.cancel_job, job_id, as_json)


@jobs_app.command("resume")
def jobs_resume(job_id: int, as_json: JsonOption = False) -> None:
    """Re-queue an interrupted, cancelled or failed job from its checkpoint."""
    from interpstudio.services import jobs as service

    _job_action(service.resume_job, job_id, as_json)


@jobs_app.command("retry")
def jobs_retry(job_id: int, as_json: JsonOption = False) -> None:
    """Re-queue a finished job from scratch."""
    from interpstudio.services import jobs as service

    _job_action(service.retry_job, job_id, as_json)


@jobs_app.command("rm")
def jobs_rm(job_id: int) -> None:
    """Delete a finished job and its working files."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import jobs as service

    settings = load_settings()
    with session_scope(settings) as session:
        service.delete_job(session=session, job_id=job_id, paths=DataPaths(settings.data_dir))
    console.print(f"deleted job {job_id}")


# -- selftest ---------------------------------------------------------------------------------


@app.command()
def selftest(
    iterations: Annotated[int, typer.Option(min=1)] = 20,
    step_delay: Annotated[float, typer.Option(min=0.0)] = 0.0,
    enqueue: Annotated[bool, typer.Option(help="Only queue it for a server/worker.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the diagnostic job (torch, disk, forward passes) and follow its progress."""
    from interpstudio.jobs.runner import Worker
    from interpstudio.services import jobs as service

    settings = load_settings()
    factory = _session_factory(settings)
    with factory.begin() as session:
        job_id = service.create_job(session=session, kind="selftest",
                                    params={"iterations": iterations,
                                            "step_delay_s": step_delay}).id
    if not enqueue:
        local = Worker(settings, session_factory=factory)
        threading.Thread(target=local.run_one, args=(job_id,), daemon=True).start()
    job = follow_job(factory, job_id, quiet=as_json)
    if as_json:
        console.print_json(json.dumps(job))
    elif job["state"] == "succeeded":
        forward = job["result"]["forward"]
        console.print(f"[green]selftest {job_id} succeeded[/green]: torch "
                      f"{job['result']['torch']['version']}, disk ok, "
                      f"{forward['passes_per_s']:.1f} passes/s")
    else:
        err_console.print(f"[red]selftest {job_id} {job['state']}[/red]: {job['error_message']}")
    if job["state"] != "succeeded":
        raise typer.Exit(1)


def follow_job(factory: sessionmaker[Session], job_id: int, *, quiet: bool = False,
               poll_s: float = 0.25) -> dict[str, Any]:
    """Draw a Rich progress bar from the job row until it finishes; Ctrl-C cancels the job."""
    from interpstudio.db.models import FINISHED_STATES
    from interpstudio.services import jobs as service

    columns = (TextColumn("[bold]{task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=err_console, disable=quiet) as progress:
        bar = progress.add_task(f"job {job_id}", total=None, unit="", rate="")
        while True:
            try:
                with factory() as session:
                    job = _job_dict(service.get_job(session=session, job_id=job_id))
                progress.update(bar, description=f"job {job_id} {job['stage'] or job['state']}",
                                completed=job["done"] or 0, total=job["total"],
                                unit=job["unit"] or "",
                                rate=f"{job['rate']:.1f}/s" if job["rate"] else "")
                if job["state"] in FINISHED_STATES:
                    return job
                time.sleep(poll_s)
            except KeyboardInterrupt:
                with factory.begin() as session:
                    service.cancel_job(session=session, job_id=job_id)
                err_console.print(f"cancelling job {job_id}...")
