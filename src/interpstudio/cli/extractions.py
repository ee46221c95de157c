"""``interpstudio extractions list|show|rm``: the stored extractions, as ``/api/v1/extractions``
lists, shows and deletes them.

``list`` takes the API's filters (status, model, tokenization, text, page) through the same
service, refusing an unknown status with the valid ones; ``show`` prints the spec, status, counts,
the store and statistics paths and the Python lines to open the store (``extract``'s own,
``print_how_to_open``); ``rm`` deletes the row, its job and its files through the API's delete
(refused while its job or an export of it is under way), after a confirmation unless ``--yes``.
Every command has ``--json`` (the API's ``ExtractionRead``). This module is NOT responsible for
any rule (``services/extractions.py`` decides) or for running extractions (``cli/extract.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from interpstudio.cli.common import (
    JsonOption,
    LimitOption,
    YesOption,
    choices,
    confirm_delete,
    console,
    human_bytes,
    load_settings,
    print_fitted_table,
    print_json,
    print_listing,
    session_scope,
)
from interpstudio.cli.extract import extraction_read, print_how_to_open
from interpstudio.core.paths import DataPaths
from interpstudio.services.extractions import EXTRACTION_STATUSES

app = typer.Typer(no_args_is_help=True)


def _points(extraction: dict[str, Any]) -> list[str]:
    spec = extraction["spec"]
    return spec.get("hook_points_expanded") or spec["hook_points"]


def _tokens(extraction: dict[str, Any], counts: dict[str, Any] | None = None) -> str:
    """Tokens read so far, and of how many while it is not complete."""
    counts = counts if counts is not None else extraction["counts"] or {}
    done, total = counts.get("tokens"), counts.get("tokens_total")
    if done is None:
        return ""
    if extraction["status"] != "complete" and total and total != done:
        return f"{done:,}/{total:,}"
    return f"{done:,}"


EXTRACTION_COLUMNS = ("id", "name", "model", "points", "tokens", "status", "store size",
                      "created")


def _print_extractions(extractions: list[dict[str, Any]]) -> None:
    """One row per extraction; in a narrow terminal the name folds whole and the least telling
    columns are left out first (``extractions show`` has them)."""
    rows = []
    for e in extractions:
        counts = _listed_counts(e)
        rows.append({"id": str(e["id"]), "name": e["name"], "model": str(e["model_id"]),
                     "points": str(len(_points(e))), "tokens": _tokens(e, counts),
                     "status": e["status"], "store size": human_bytes(counts.get("bytes")),
                     "created": e["created_at"][:16].replace("T", " ")})
    print_fitted_table(rows, headers=EXTRACTION_COLUMNS, whole="name",
                       drop_order=("created", "points", "model", "store size"),
                       wraps=("created",),
                       shown_by="`interpstudio extractions show ID` shows them")


@app.command("list")
def extractions_list(
    status: Annotated[list[str] | None, choices(EXTRACTION_STATUSES, "status")] = None,
    model: Annotated[int | None, typer.Option(min=1, help="Only this model's.")] = None,
    tokenization: Annotated[int | None, typer.Option(
        min=1, help="Only those of this tokenization.")] = None,
    search: Annotated[str | None, typer.Option(
        help="Text in the name or configuration hash.")] = None,
    limit: LimitOption = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (the next page).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """List extractions, newest first."""
    from interpstudio.services import extractions as service

    settings = load_settings()
    with session_scope(settings) as session:
        rows, total = service.list_extractions(session=session, statuses=status or [],
                                               model_id=model, tokenization_id=tokenization,
                                               search=search, limit=limit, offset=offset)
        paths = DataPaths(settings.data_dir)
        items = [extraction_read(session, paths, row) for row in rows]
    print_listing(items, total, as_json=as_json, table=_print_extractions, what="extractions",
                  filtered=bool(status or model or tokenization or search), offset=offset)
    if not as_json and total > offset + len(items):
        console.print(f"{offset + 1:,}-{offset + len(items):,} of {total:,}; "
                      f"--offset {offset + len(items)} shows the next page", highlight=False)


def _inputs(session: Any, extraction: dict[str, Any]) -> tuple[str, str]:
    """The model (``repo@revision``, its key) and the tokenization (dataset and policy)."""
    from interpstudio.db.models import Model, Tokenization

    model = session.get(Model, extraction["model_id"])
    model_text = (f"{model.key} (model {model.id}, {model.name})" if model is not None
                  else f"model {extraction['model_id']} (deleted)")
    tokenization = session.get(Tokenization, extraction["tokenization_id"])
    if tokenization is None:
        return model_text, f"tokenization {extraction['tokenization_id']} (deleted)"
    stored = tokenization.policy or {}
    policy = {**stored.get("requested", {}), **stored}  # resolved over requested
    known = [f"max length {policy['max_length']}" if "max_length" in policy else "",
             str(policy.get("mode") or ""),
             "" if policy.get("add_bos") is None else ("BOS" if policy["add_bos"] else "no BOS")]
    described = ", ".join(part for part in known if part)
    return model_text, (f"tokenization {tokenization.id} of dataset {tokenization.dataset_id}"
                        + (f" ({described})" if described else ""))


def _kept(extraction: dict[str, Any]) -> tuple[str, str]:
    """The ``kept`` row of a run that is not complete (stopped, failed, running), read from its
    store: the rows, tokens and whole shards committed. Found by a tester: ``show`` of a run
    stopped with 1,024 rows in 2 shards said "0 rows,  tokens, 0 sequences, 0 shard(s),"
    (the row's counts are written when a run completes; before, they hold only the totals)."""
    label = "kept so far" if extraction["status"] in ("queued", "running") else "kept"
    return label, kept_in_store(extraction)[1]


def kept_in_store(extraction: dict[str, Any]) -> tuple[int, str]:
    """The whole shards the partial store of a run not complete holds, and its rows, tokens
    (of the run's total), sequences, shards and bytes in words; -1 and why where the store
    cannot be read."""
    counts = store_counts(extraction)
    if isinstance(counts, str):
        return -1, counts
    total = counts.get("tokens_total")
    of = f" of {total:,}" if total else ""
    return counts["shards"], (
        f"{counts['rows']:,} rows, {counts['tokens']:,}{of} tokens, {counts['sequences']:,} "
        f"sequences, {counts['shards']:,} whole shard(s), {human_bytes(counts['bytes'])}"
        + " (a partial store)")


def store_counts(extraction: dict[str, Any]) -> dict[str, Any] | str:
    """Rows, tokens, sequences, whole shards and bytes of the extraction's store as it is now
    (with the run's ``tokens_total``), or why it cannot be read."""
    from interpstudio.core.errors import AppError
    from interpstudio.ml.extract_outcome import stored_counts

    try:
        counts: dict[str, Any] = stored_counts(Path(extraction["store_abs_path"]))
    except (AppError, OSError, ValueError) as exc:  # being replaced, or damaged: say so
        return f"unreadable store ({getattr(exc, 'message', exc)})"
    return {**counts, "tokens_total": (extraction["counts"] or {}).get("tokens_total")}


def _listed_counts(extraction: dict[str, Any]) -> dict[str, Any]:
    """The counts a listing shows: the run's own once complete; before, what its store keeps
    (the row holds only the planned totals until then: a stopped run with 3,072 rows in its
    store listed no tokens and no size)."""
    counts = extraction["counts"] or {}
    if "rows" in counts or extraction["store_abs_path"] is None:
        return counts
    kept = store_counts(extraction)
    return kept if isinstance(kept, dict) else counts


@app.command("show")
def extractions_show(extraction_id: int, as_json: JsonOption = False) -> None:
    """Show one extraction: its spec, status, counts, store and how to open it.

    The store and statistics paths and the Python lines are the ones ``extract`` ends with."""
    from interpstudio.services import extractions as service

    settings = load_settings()
    with session_scope(settings) as session:
        row = service.get_extraction(session=session, extraction_id=extraction_id)
        extraction = extraction_read(session, DataPaths(settings.data_dir), row)
        model, tokenization = _inputs(session, extraction)
    if as_json:
        print_json(extraction)
        return
    spec, counts = extraction["spec"], extraction["counts"] or {}
    asked = extraction["precision_requested"]
    used = extraction["precision_used"]
    positions = spec["positions"] + (f" (k={spec['every_k']})"
                                     if spec["positions"] == "every_k" else "")
    table = Table(f"extraction {extraction['id']}", extraction["name"], show_header=True)
    table.add_row("model", model)
    table.add_row("precision", (used or asked or "?")
                  + (f" (asked {asked})" if used and asked and asked != used else ""))
    table.add_row("tokenization", tokenization)
    points = _points(extraction)
    table.add_row("hook points", f"{len(points)}: {', '.join(points)}")
    table.add_row("positions", positions)
    table.add_row("dtype", spec["dtype"])
    table.add_row("status", extraction["status"]
                  + (f": {extraction['error_message']}" if extraction["error_message"] else ""))
    if "rows" in counts:  # the run's own counts (a complete run)
        table.add_row("counts", f"{counts.get('rows', 0):,} rows, {_tokens(extraction)} tokens, "
                      f"{counts.get('sequences', 0):,} sequences, "
                      f"{counts.get('shards', 0):,} shard(s), {human_bytes(counts.get('bytes'))}")
    elif extraction["store_abs_path"] is not None:
        table.add_row(*_kept(extraction))
    table.add_row("created", extraction["created_at"][:19].replace("T", " ") + " UTC")
    console.print(table)
    if extraction["store_abs_path"] is None:  # nothing written yet: no lines that would fail
        console.print("no store yet (its first shard is not written)")
        return
    print_how_to_open(settings, extraction)


@app.command("rm")
def extractions_rm(
    extraction_id: int,
    yes: YesOption = False,
) -> None:
    """Delete an extraction, its job and its files (asks unless --yes).

    Store, statistics, samples and export go with it; refused, before any question, while its
    job or an export of it runs."""
    from interpstudio.services import extractions as service

    settings = load_settings()
    paths = DataPaths(settings.data_dir)
    if not yes:
        with session_scope(settings) as session:
            row = service.get_extraction(session=session, extraction_id=extraction_id)
            service.check_deletable(session=session, row=row)  # a refusal before the question
            extraction = extraction_read(session, paths, row)
        size = human_bytes((extraction["counts"] or {}).get("bytes")) or "no store"
        confirm_delete(f"extraction {extraction_id} ({extraction['name']}, {size})")
    with session_scope(settings) as session:
        service.delete_extraction(session=session, paths=paths, extraction_id=extraction_id)
    console.print(f"deleted extraction {extraction_id}")
