"""What every CLI command shares: consoles, settings, database sessions, job following, JSON.

This module is NOT responsible for any command itself.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings, get_settings
from interpstudio.core.units import format_bytes

if TYPE_CHECKING:
    from interpstudio.db.models import Job
    from interpstudio.services.dataset_errors import TokenizationExists

console = Console()
err_console = Console(stderr=True)
# jobs whose stop keeps what they made (a checkpoint) and whose resume continues from it: a
# stopped one's last line names the command (models say ``models resume`` themselves)
CONTINUED_KINDS = ("extract", "tokenize")
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
EnqueueOption = Annotated[bool, typer.Option(help="Only queue it for a server/worker.")]
# list pages as the API allows them (a negative limit listed everything, 0 nothing)
LimitOption = Annotated[int, typer.Option(min=1, max=500, help="At most this many, newest first.")]


def choices(values: tuple[str, ...] | list[str], what: str) -> Any:
    """A repeatable filter option refusing an unknown value with the valid ones (exit 2): a typo
    (``--state runing``) listed nothing, as if nothing matched."""
    def check(given: list[str] | None) -> list[str] | None:
        unknown = [v for v in given or [] if v not in values]
        if unknown:
            raise typer.BadParameter(f"{unknown[0]!r} is not one of {', '.join(values)}")
        return given

    return typer.Option(callback=check,
                        help=f"Filter by {what} (repeatable): {', '.join(values)}.")


def human_bytes(value: float | None) -> str:
    """``1.50 MB`` (``core/units.format_bytes``: what the web UI says); empty for None."""
    return "" if value is None else format_bytes(value)


def load_settings(**overrides: Any) -> Settings:
    return get_settings(**{k: v for k, v in overrides.items() if v is not None})


def session_factory(settings: Settings) -> sessionmaker[Session]:
    """A session factory on a migrated database (the CLI may be the first thing ever run), after
    a sweep of the jobs of workers that are gone: a command killed with kill -9 ran its job in
    its own process, and with no server or worker running nothing else would ever mark that job
    interrupted (``jobs resume`` would refuse it as running, forever)."""
    from interpstudio.core.paths import DataPaths
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.repositories.deployment import check_data_dir
    from interpstudio.db.session import make_engine, make_session_factory
    from interpstudio.services.worker_sweep import sweep_gone_workers

    upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    check_data_dir(factory, settings.data_dir)  # this deployment's, not a folder of its own
    sweep_gone_workers(factory, settings.heartbeat_timeout_s, paths=DataPaths(settings.data_dir))
    return factory


def check_deployment(settings: Settings) -> None:
    """Migrate the database and refuse a data dir that is not this deployment's
    (``db.repositories.deployment.check_data_dir``), for ``serve`` and ``worker``."""
    from interpstudio.db.migrate import upgrade
    from interpstudio.db.repositories.deployment import check_data_dir
    from interpstudio.db.session import make_engine, make_session_factory

    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        check_data_dir(make_session_factory(engine), settings.data_dir)
    finally:
        engine.dispose()


@contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    with session_factory(settings).begin() as session:
        yield session


def print_json(value: Any) -> None:
    console.print_json(json.dumps(value, default=str))


def print_listing(items: list[dict[str, Any]], total: int, *, as_json: bool,
                  table: Callable[[list[dict[str, Any]]], None], what: str,
                  filtered: bool = False, offset: int = 0) -> None:
    """A ``list`` command's output: ``{"items", "total"}`` JSON for scripts, else a table; no
    item is said in words (an empty table's headers alone read as a failure): none yet, none
    matching the filters (``filtered``), or none past ``offset``."""
    if as_json:
        print_json({"items": items, "total": total})
    elif items:
        table(items)
    elif total:  # a page past the end (a limit of 0 is refused)
        console.print(f"no {what} past --offset {offset:,}: {total:,} in all; a smaller "
                      "--offset shows them", highlight=False)
    else:
        console.print(f"no {what} match these filters" if filtered else f"no {what} yet",
                      highlight=False)


WHOLE_MIN = 24  # the fewest columns a fitted table's name gets before others are left out


def print_fitted_table(rows: list[dict[str, str]], *, headers: Sequence[str], whole: str,
                       drop_order: Sequence[str], wraps: Sequence[str] = (),
                       messages: Sequence[str] = (), shown_by: str) -> None:
    """A table that fits the console's width and cuts no cell: Rich's default shrank every
    column and ended each cell in "…", so at 80 columns a long repo id read "meta-…". Here every
    cell folds (wraps) instead; the column ``whole`` (a name) gets its length or ``WHOLE_MIN``
    columns, whichever is less, by leaving out the columns of ``drop_order``, in that order, as
    long as it would get fewer (a dim line under the table names them and ``shown_by``, where
    they are shown); a column of ``wraps`` may take two lines. A column of ``messages`` (free
    text: an error) folds in the room left beside ``whole`` and is held to the same minimum
    (Rich narrows the wider of them first). Other columns get the width they need, so only the
    name and the messages fold."""
    import math

    from rich.cells import cell_len

    def natural(header: str) -> int:
        return max(cell_len(text) for text in [header, *(row[header] for row in rows)])

    def needs(header: str) -> int:
        if header not in wraps:
            return natural(header)
        cells = [header, *(row[header] for row in rows)]
        longest_word = max(cell_len(word) for cell in cells for word in cell.split() or [""])
        return max(longest_word, math.ceil(natural(header) / 2))

    columns = list(headers)
    folding = [whole, *messages]  # the columns that take the room the others leave

    def room() -> int:  # what ``folding`` gets: the width less borders, padding and the others
        return (console.width - (3 * len(columns) + 1)
                - sum(needs(header) for header in columns if header not in folding))

    def wanted(least: int) -> int:
        return sum(min(natural(header), least) for header in folding)

    dropped = []
    for header in drop_order:
        if room() >= wanted(WHOLE_MIN):
            break
        columns.remove(header)
        dropped.append(header)
    spare = max(room() - wanted(console.width), 0)  # short names leave room: wrap less, or not
    widths = {}
    for header in columns:
        widths[header] = needs(header)
        if header in wraps and spare:
            grown = min(natural(header), widths[header] + spare)
            spare -= grown - widths[header]
            widths[header] = grown
    table = Table()
    for header in columns:
        table.add_column(header, overflow="fold",
                         width=None if header in folding else widths[header])
    for row in rows:
        table.add_row(*(row[header] for header in columns))
    console.print(table)
    if dropped:
        console.print(f"({', '.join(dropped)} left out at {console.width} columns: {shown_by})",
                      style="dim", highlight=False)


def job_dicts(session: Session, jobs: Sequence[Any]) -> list[dict[str, Any]]:
    """Jobs as the API gives them (``JobRead``: with the record each one made, if any)."""
    from interpstudio.api.schemas import JobRead

    return [read.model_dump(mode="json") for read in JobRead.of_jobs(session, jobs)]


def job_dict(session: Session, job: Any) -> dict[str, Any]:
    return job_dicts(session, [job])[0]


JOB_COLUMNS = ("id", "kind", "state", "stage", "progress", "rate", "ETA", "took", "error")


def duration_text(seconds: float | None) -> str:
    """``47.7 s``, ``69.7 min``, ``3.2 h``; ``?`` when not known."""
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:,.1f} s"
    return f"{seconds / 60:,.1f} min" if seconds < 7200 else f"{seconds / 3600:,.1f} h"


def _took(job: dict[str, Any]) -> str:
    """How long a finished job ran (started to finished); blank for one that has not finished
    (its ETA says the rest). A finished job's row showed neither: rate and ETA are blank then."""
    started, finished = job.get("started_at"), job.get("finished_at")
    if not started or not finished:
        return ""
    return duration_text((datetime.fromisoformat(finished)
                          - datetime.fromisoformat(started)).total_seconds())


def print_jobs(jobs: list[dict[str, Any]]) -> None:
    """One row per job; in a narrow terminal the error folds whole (it was cut with "…") and
    the rate, ETA, time taken, stage and progress are left out, in that order, to give it
    room."""
    rows = []
    for job in jobs:
        rows.append({
            "id": str(job["id"]), "kind": job["kind"], "state": job["state"],
            "stage": job["stage"] or "",
            "progress": f"{job['progress'] * 100:.0f}%" if job["progress"] is not None else "",
            "rate": f"{job['rate']:.1f} {job['unit'] or ''}/s" if job["rate"] else "",
            "ETA": f"{job['eta_s']:.0f}s" if job["eta_s"] is not None else "",
            "took": _took(job), "error": job["error_message"] or ""})
    print_fitted_table(rows, headers=JOB_COLUMNS, whole="error",
                       drop_order=("rate", "ETA", "took", "stage", "progress"),
                       shown_by="--json shows them")


class CountColumn(ProgressColumn):
    """``done/total unit``, or ``done unit`` while the total is not known yet."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "")
        if task.total is None:  # nothing counted yet: nothing (a lone "0" read as a count)
            return Text(f"{task.completed:,.0f} {unit}" if task.completed else "")
        return Text(f"{task.completed:,.0f}/{task.total:,.0f} {unit}")


LOCAL_JOB_THREAD = "interpstudio-local-job"  # the thread a ``LocalRun`` runs its job in


class OutcomeSaidByTheCommand(logging.Filter):
    """Drops the job runner's warnings (not its errors) from a job a command runs here: the
    runner logs a job's failure for a worker's log ("job 5 failed: ..."), and the command that
    follows the job says it already (``finish_followed_job``), so a failed job was said twice
    (with no logging configured, Python's last-resort handler wrote the record to stderr). A
    crash (an error, with its traceback) is still shown: it is a bug to report."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not record.threadName.startswith(
            LOCAL_JOB_THREAD)


class LocalRun:
    """A job that this process runs (no server needed), claimed for this process's worker inside
    the transaction that creates or re-queues it (``claim``), run in a background thread after
    that commit (``start``). Committed already running here, the job is never seen queued by a
    server's worker polling the same database (one took a CLI's extraction in the milliseconds
    between its create and its claim, while the CLI held its preflight's model). Its outcome is
    said by the command that follows it, not by the runner's log (``OutcomeSaidByTheCommand``)."""

    def __init__(self, settings: Settings, factory: sessionmaker[Session]) -> None:
        from interpstudio.jobs.runner import Worker
        from interpstudio.jobs.runner import log as runner_log

        if not any(isinstance(f, OutcomeSaidByTheCommand) for f in runner_log.filters):
            runner_log.addFilter(OutcomeSaidByTheCommand())
        self._worker = Worker(settings, session_factory=factory)
        self._factory = factory
        self._job_id: int | None = None
        self._claimed: dict[str, Any] | None = None

    @property
    def worker_id(self) -> str:
        return self._worker.worker_id

    def claim(self, session: Session, job_id: int) -> None:
        """In the transaction that made ``job_id`` queued (not claimed where it is not queued:
        a job of another command, already running elsewhere)."""
        self._job_id = job_id
        self._claimed = self._worker.claim(job_id, session=session)

    def start(self) -> None:
        """After the commit: run the claimed job in a background thread; or, where another
        worker has it, say so (the caller follows it there)."""
        import threading

        from interpstudio.db.models import Job

        if self._claimed is not None:
            threading.Thread(target=self._worker.run_claimed, args=(self._claimed,),
                             name=f"{LOCAL_JOB_THREAD}-{self._job_id}", daemon=True).start()
            return
        with self._factory() as session:  # not queued any more: the follow shows what it became
            job = session.get(Job, self._job_id)
            taken_by = job.worker_id if job is not None and job.state == "running" else None
        if taken_by:
            err_console.print(f"job {self._job_id} was taken by another worker ({taken_by}), a "
                              "server's on this database: it runs there; following it",
                              highlight=False)


class MessageProgress(Progress):
    """A Rich ``Progress`` that draws each task's ``message`` field on its own line under the
    bar: beside the bar, in an 80-column terminal, an extraction's message ("0.142 GB captured ·
    0.000 GB written in whole shards · projected bound: compute") cut the description and the
    count down to ``j… 2,048/4…`` and its own end ("… resume to continue") off."""

    def get_renderables(self) -> Iterator[Any]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("message"):
                yield Text(f"  {task.fields['message']}", style="dim")


class PlainProgressLog:
    """A job's progress as plain lines, for output that is not a terminal (CI logs, ``| tee``),
    where a Rich bar is drawn once, at the end: one line when the job's state or stage changes
    and one per tenth of its total, so that a long run is seen moving (and where it stopped)."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._last: tuple[Any, ...] | None = None

    def update(self, job: dict[str, Any]) -> None:
        done, total, unit = job["done"] or 0, job["total"], job["unit"] or ""
        tenth = int(10 * done / total) if total else None
        key = (job["state"], job["stage"], tenth)
        if key == self._last:
            return
        self._last = key
        from interpstudio.db.models import FINISHED_STATES

        line = f"job {job['id']} {job['stage'] or job['state']}"
        if job["state"] in FINISHED_STATES and job["stage"]:  # not "job 21 failed (failed)"
            line += f" ({job['state']})"
        if total:
            line += f": {done:,.0f}/{total:,.0f} {unit} ({100 * done / total:.0f}%)"
        elif done:
            line += f": {done:,.0f} {unit}"
        if job.get("message"):
            line += f" · {job['message']}"
        self._console.print(line, soft_wrap=True, highlight=False, markup=False)


def follow_job(factory: sessionmaker[Session], job_id: int, *, quiet: bool = False,
               poll_s: float = 0.25, with_message: bool = False) -> dict[str, Any]:
    """Draw a Rich progress bar from the job row until it finishes (``with_message``: the job's
    message line under it); on output that is not a terminal, plain lines instead
    (``PlainProgressLog``). Ctrl-C, or SIGTERM (``sigterm_as_ctrl_c``), cancels the job and says
    how to resume it."""
    from interpstudio.db.models import FINISHED_STATES
    from interpstudio.services import jobs as service

    columns: list[ProgressColumn] = [TextColumn("[bold]{task.description}"), BarColumn(),
                                     CountColumn(), TextColumn("{task.fields[rate]}"),
                                     TimeRemainingColumn()]
    plain = None if quiet or err_console.is_terminal else PlainProgressLog(err_console)
    with sigterm_as_ctrl_c(), MessageProgress(*columns, console=err_console,
                                              disable=quiet or plain is not None) as progress:
        bar = progress.add_task(f"job {job_id}", total=None, unit="", rate="", message="")
        while True:
            try:
                with factory() as session:
                    job = job_dict(session, service.get_job(session=session, job_id=job_id))
                if plain is not None:
                    plain.update(job)
                progress.update(bar, description=f"job {job_id} {job['stage'] or job['state']}",
                                completed=job["done"] or 0, total=job["total"],
                                unit=job["unit"] or "",
                                rate=f"{job['rate']:,.1f}/s" if job["rate"] else "",
                                message=(job["message"] or "") if with_message else "")
                if job["state"] in FINISHED_STATES:
                    return job
                time.sleep(poll_s)
            except KeyboardInterrupt:
                with factory.begin() as session:  # a queued job's token goes with it
                    service.cancel_job(session=session, job_id=job_id,
                                       paths=DataPaths(load_settings().data_dir))
                hint = (f" (`interpstudio jobs resume {job_id}` continues it)" if with_message
                        else "")
                err_console.print(f"cancelling job {job_id}...{hint}", highlight=False)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While a command follows its job, SIGTERM (``timeout``, ``kill``, a batch scheduler's time
    limit) stops it as Ctrl-C does: the job is cancelled and its store kept valid. Python's
    default SIGTERM ended the process at once: the job was left running, then swept as
    "worker process died". Only the main thread can set a handler; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def tokenization_job(session: Session, exists: TokenizationExists) -> Job | None:
    """The job of the tokenization a ``TokenizationExists`` refusal names (None: no row or no
    job), for the commands that continue a stopped one instead of stopping at the refusal."""
    from interpstudio.db.models import Job, Tokenization

    row = session.get(Tokenization, exists.details.get("tokenization_id"))
    return session.get(Job, row.job_id) if row is not None and row.job_id else None


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def confirm_delete(what: str, *, using: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """The question of every ``rm`` (``extractions``, ``models``, ``datasets``): "Delete
    ``what`` and its files?", naming what goes with it (``using``: the extractions and
    tokenizations ``--force`` deletes). Without a terminal, refused naming ``--yes`` (exit 2);
    declined, exit 1 (``confirm_or_exit``)."""
    with_them = ""
    if using:
        named = [f"{kind[:-1] if len(items) == 1 else kind} "
                 f"{', '.join(str(item['id']) for item in items)}"
                 for kind in ("extractions", "tokenizations") if (items := using.get(kind))]
        if named:
            with_them = f", with {' and '.join(named)} that use it"
    confirm_or_exit(f"Delete {what} and its files{with_them}?",
                    no_terminal=f"deleting {what}{with_them} needs a confirmation, and the input "
                    "is not a terminal: pass --yes to delete it", declined="nothing deleted")


def confirm_or_exit(question: str, *, no_terminal: str, declined: str) -> None:
    """Ask ``question`` (default no) before something that deletes work; declined: ``declined``
    and exit 1. Nobody to answer (stdin not a terminal): ``no_terminal`` as the error, exit 2
    (a script passes ``--yes``)."""
    if not sys.stdin.isatty():
        err_console.print(f"[red]error:[/red] {no_terminal}", highlight=False)
        raise typer.Exit(2)
    if not typer.confirm(question, default=False):
        err_console.print(declined)
        raise typer.Exit(1)


def finish_followed_job(job: dict[str, Any], as_json: bool, success: str) -> None:
    """Print the outcome of a followed job and exit non-zero unless it succeeded; an extraction
    or a tokenization that stopped with a checkpoint (its partial store: Ctrl-C, a full disk)
    says the command that continues it, last (only the Ctrl-C line said it, above the bar; a
    full disk said "free space, then resume"). Models say ``models resume`` themselves."""
    if as_json:
        print_json(job)
    elif job["state"] == "succeeded":
        console.print(f"[green]{success}[/green]")
    else:
        resume = (f" (`interpstudio jobs resume {job['id']}` continues it)"
                  if job["kind"] in CONTINUED_KINDS and job.get("has_checkpoint") else "")
        err_console.print(f"[red]job {job['id']} {job['state']}[/red]: {job['error_message']}"
                          f"{resume}", highlight=False)
    if job["state"] != "succeeded":
        raise typer.Exit(1)
