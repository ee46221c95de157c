"""``interpstudio export EXTRACTION``: an extraction's store (a stopped one's whole shards)
written as a SAELens cached-activations dataset (``extractions/<id>/saelens``, replacing an
earlier export), as ``POST /extractions/{id}/export`` does. Says where it went and how to load
it, and prints the export's warnings: a store of ``last`` / ``every_k`` / ``exclude_bos``
positions does not hold the consecutive tokens SAELens takes a dataset row for.
``--column-names module_paths`` names the columns by module path (``model.layers.3``), for
SAELens's ``AutoModelForCausalLM``; ``--exclude-first-position`` leaves out the rows at
position 0 (BOS / attention sinks). A progress bar (on a terminal's stderr) counts the dataset
rows written, then pulses while the blocks are assembled into the dataset (a line on stderr
says so when it is not a terminal); Ctrl-C stops at the next block and leaves the previous
export as it was (a second Ctrl-C interrupts at once); during the assembly, which cannot be
stopped, it says so and lets it finish. Refusals and warnings name the options as this command
takes them (``--context-size``, not the library's ``context_size=N``).

This module is NOT responsible for the export (``services/extraction_export.py``,
``ml/export.py``).
"""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from interpstudio.cli.common import (
    JsonOption,
    console,
    err_console,
    load_settings,
    print_json,
    session_scope,
)

app = typer.Typer(no_args_is_help=True)
ASSEMBLING = "assembling the dataset (this last step cannot be stopped)..."
TOO_LATE_TO_STOP = ("the dataset is being assembled, which cannot be stopped: the export will "
                    "finish (Ctrl-C again to interrupt now, leaving the previous export)")


@app.command("export")
def export(
    extraction_id: Annotated[int, typer.Argument(help="The extraction's id.", min=1)],
    context_size: Annotated[int | None, typer.Option(
        min=1, help="Tokens per dataset row. Default: the stored sequences' common length "
                    "(a store whose sequences differ needs one).")] = None,
    hooks: Annotated[list[str] | None, typer.Option(
        "--hooks", help="Stored hook points to export (repeatable). Default: all.")] = None,
    dtype: Annotated[Literal["float16", "float32"] | None, typer.Option(
        help="Default: the store's (float32 for bfloat16).")] = None,
    column_names: Annotated[Literal["hook_points", "module_paths"], typer.Option(
        help="Column names: hook points (blocks.3.resid_post), or the model's module paths "
             "(model.layers.3), which SAELens hooks with model_class_name="
             "'AutoModelForCausalLM' (no override_model); only resid_post, attn_out and "
             "mlp_out have one.")] = "hook_points",
    exclude_first_position: Annotated[bool, typer.Option(
        "--exclude-first-position",
        help="Leave out every row at position 0 (each sequence's first token: BOS / attention "
             "sinks, whose norm can dwarf the rest's and dominate an SAE's MSE); the default "
             "context size is then the sequences' length less one.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Export an extraction for SAELens (HF datasets, load_from_disk); a stopped one: its shards."""
    from interpstudio.core.errors import JobCancelled
    from interpstudio.core.paths import DataPaths
    from interpstudio.services import extraction_export as exports
    from interpstudio.services import extractions as service
    from interpstudio.services.extraction_params import ExportOptions

    settings = load_settings()
    with _options_in_cli_words(), session_scope(settings) as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        options = ExportOptions(hook_points=hooks, context_size=context_size, dtype=dtype,
                                column_names=column_names,
                                exclude_first_position=exclude_first_position)
        paths = DataPaths(settings.data_dir)
        plan = exports.check_export(session=session, paths=paths, row=row, options=options)
        with _stoppable() as stop, Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("rows"), console=err_console, disable=not err_console.is_terminal,
                transient=True) as progress:
            bar = progress.add_task("exporting", total=None)

            def on_assemble() -> None:  # one datasets call: no count, no stop
                stop.assembling = True
                progress.update(bar, description="assembling the dataset", total=None)
                if not err_console.is_terminal:
                    err_console.print(ASSEMBLING, highlight=False)

            try:
                done = exports.export_extraction(
                    paths=paths, row=row, options=options, plan=plan,
                    progress=lambda n, total: progress.update(bar, completed=n, total=total),
                    should_stop=stop.is_set, on_assemble=on_assemble)
            except JobCancelled:
                err_console.print("export stopped: nothing was written; an earlier export, if "
                                  "any, is as it was", highlight=False)
                raise typer.Exit(130) from None
    for warning in done["warnings"]:
        err_console.print(f"warning: {in_cli_words(warning)}", style="yellow", highlight=False,
                          soft_wrap=True)
    if as_json:
        print_json(done)
        return
    replaced = " (it replaced the earlier export there)" if done["replaced"] else ""
    # "rows" beside an extraction's activation rows (a token each) read as those: a dataset row
    # here is a sequence of context-size tokens
    n = done["rows"]
    console.print(f"wrote {n:,} sequence{'s' if n != 1 else ''} of {done['context_size']:,} "
                  f"tokens, one dataset row each ({done['dtype']}){replaced}{_left_out(done)}; "
                  "load with "
                  "datasets.load_from_disk:", highlight=False)
    console.print(done["abs_path"], soft_wrap=True, highlight=False)
    if done["column_names"] == "module_paths":
        console.print("columns by module path: " + ", ".join(
            f"{column} = {point}" for column, point in done["columns"].items()),
            soft_wrap=True, highlight=False)


def in_cli_words(text: str) -> str:
    """An export's refusal or warning with its options named as this command takes them: the
    library's words ("pass context_size=N", "column_names 'hook_points'") named arguments that
    ``interpstudio export`` does not have."""
    text = re.sub(r"\bcontext_size=", "--context-size ", text)
    text = re.sub(r"\bcontext_size\b", "--context-size", text)
    return re.sub(r"\bcolumn_names\b", "--column-names", text)


@contextmanager
def _options_in_cli_words() -> Iterator[None]:
    from interpstudio.core.errors import AppError

    try:
        yield
    except AppError as exc:
        exc.message = in_cli_words(exc.message)
        raise


class _StopFlag(threading.Event):
    """Set by the first Ctrl-C; ``assembling`` once the blocks are being made into the dataset,
    which a stop no longer reaches."""

    assembling = False


@contextmanager
def _stoppable() -> Iterator[_StopFlag]:
    """The first Ctrl-C asks the export to stop at its next block (a clean stop); a second one
    interrupts as usual. During the assembly, which cannot be stopped, it says so."""
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():  # signals reach main only
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        flag.set()
        signal.signal(signal.SIGINT, previous)
        err_console.print(TOO_LATE_TO_STOP if flag.assembling else
                          "stopping the export at the next block (Ctrl-C again to interrupt "
                          "now)...", highlight=False)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _left_out(done: dict[str, Any]) -> str:
    """What the export left out: first positions when asked, and the tail short of a
    sequence."""
    said = ""
    if done["exclude_first_position"]:
        said += f", leaving out the {done['first_positions_excluded']:,} first-position tokens"
    if done["tokens_dropped"]:
        n = done["tokens_dropped"]
        said += f" (the last {n:,} token{'s' if n != 1 else ''} did not fill a sequence)"
    return said
